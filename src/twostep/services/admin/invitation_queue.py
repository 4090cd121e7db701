"""Invitations of an "Invite users" list leave after the answer, not inside it.

Sending inside the request took one SMTP conversation per person (20 ms each on loopback, far more
to a real server with TLS), so a list of 1,000 kept the administrator's page waiting for minutes, and a
mail server that did not answer made it wait one timeout per person. Now the request creates the
accounts and queues one row per person (``storage.models.QueuedInvitation``, in the same transaction
as the account), answers, and ``send_queued`` sends them in the background; the batch's page shows
how far it got.

No code waits in the queue: an invitation's code and link are made when its mail leaves
(``invitation.issue``), so the table holds nothing secret. The queue survives a restart: a row
``sending`` for longer than ``LEASE`` (its worker died) is taken again, and every worker looks for
queued rows every ``TWOSTEP_PURGE_INTERVAL_SECONDS`` (``send_queued`` and ``forget_finished`` run
with the purge: ``purge.run_periodically``). Rows are claimed one at a time by a
compare-and-set, so workers and instances never send one invitation twice.

A failed mail is tried again after ``RETRY_AFTER``, at most ``MAX_ATTEMPTS`` times, then the row is
``failed`` (audited ``authn_code_send_fail``) and the page lists it for "Send the invitation again".
After ``STOP_AFTER`` failures in a row a run stops: the mail server is down, and the rest wait.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.orm import Session

from twostep.services.admin import admin
from twostep.services.admin.admin import Actor
from twostep.services.core import audit
from twostep.services.core.context import Context, RequestInfo
from twostep.services.reset import invitation
from twostep.storage.models import QueuedInvitation, User

log = logging.getLogger("twostep.invitation")

LEASE = timedelta(minutes=5)
RETRY_AFTER = timedelta(minutes=1)
MAX_ATTEMPTS = 3
STOP_AFTER = 3
#: How long a finished batch's page stays available.
KEEP_FOR = timedelta(days=30)

QUEUED, SENDING, SENT, FAILED, EXISTING, REFUSED = "queued", "sending", "sent", "failed", "existing", "refused"


def new_batch() -> str:
    return secrets.token_hex(8)


def add(ctx: Context, db: Session, batch: str, email: str, *, user_id: int | None = None, state: str = QUEUED,
        reason: str | None = None) -> None:
    """One person of ``batch``, inside the caller's transaction (with the account, for a queued one)."""
    now = ctx.clock.now()
    db.add(QueuedInvitation(batch=batch, email=email, user_id=user_id, state=state, reason=reason, attempts=0,
                            created_at=now, updated_at=now))


@dataclass(frozen=True)
class Person:
    user_id: int | None
    email: str
    state: str
    reason: str | None


@dataclass(frozen=True)
class Batch:
    """Where an "Invite users" list stands, for its page."""

    people: list[Person] = field(default_factory=list)

    def _in(self, *states: str) -> list[Person]:
        return [person for person in self.people if person.state in states]

    @property
    def invited(self) -> list[Person]:
        return self._in(QUEUED, SENDING, SENT, FAILED)

    @property
    def sent(self) -> list[Person]:
        return self._in(SENT)

    @property
    def waiting(self) -> list[Person]:
        return self._in(QUEUED, SENDING)

    @property
    def failed(self) -> list[Person]:
        return self._in(FAILED)

    @property
    def existing(self) -> list[Person]:
        return self._in(EXISTING)

    @property
    def refused(self) -> list[Person]:
        return self._in(REFUSED)


def batch(ctx: Context, name: str) -> Batch | None:
    """The batch's people in list order, or None when there is no such batch."""
    with ctx.db.transaction() as db:
        rows = db.execute(
            select(QueuedInvitation.user_id, QueuedInvitation.email, QueuedInvitation.state, QueuedInvitation.reason)
            .where(QueuedInvitation.batch == name)
            .order_by(QueuedInvitation.id)
        ).all()
    if not rows:
        return None
    return Batch([Person(row.user_id, row.email, row.state, row.reason) for row in rows])


def _claimable(ctx: Context) -> ColumnElement[bool]:
    now = ctx.clock.now()
    return or_(
        and_(QueuedInvitation.state == QUEUED,
             or_(QueuedInvitation.claimed_at.is_(None), QueuedInvitation.claimed_at < now - RETRY_AFTER)),
        and_(QueuedInvitation.state == SENDING, QueuedInvitation.claimed_at < now - LEASE),
    )


@dataclass(frozen=True)
class _Claimed:
    row_id: int
    user_id: int | None
    attempts: int
    mail: invitation.InvitationMail | None  # None: nothing to send (the account has a password by now)


def _claim(ctx: Context, batch_name: str | None, request: RequestInfo) -> _Claimed | None:
    """The next row to send, taken by a compare-and-set (another worker's claim in between makes the
    update touch nothing, and the next row is tried), and its code made, in one transaction."""
    with ctx.db.transaction() as db:
        for _ in range(20):
            query = select(QueuedInvitation.id, QueuedInvitation.user_id, QueuedInvitation.attempts).where(
                _claimable(ctx)
            )
            if batch_name is not None:
                query = query.where(QueuedInvitation.batch == batch_name)
            row = db.execute(query.order_by(QueuedInvitation.id).limit(1)).first()
            if row is None:
                return None
            now = ctx.clock.now()
            taken = db.execute(
                update(QueuedInvitation)
                .where(QueuedInvitation.id == row.id, _claimable(ctx))
                .values(state=SENDING, claimed_at=now, updated_at=now, attempts=QueuedInvitation.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                continue
            user = db.get(User, row.user_id) if row.user_id is not None else None
            if user is None or user.password_hash is not None:
                _set_state(ctx, db, row.id, EXISTING)
                return _Claimed(row.id, row.user_id, row.attempts + 1, None)
            mail = invitation.issue(ctx, db, user)
            audit.record(ctx, db, "user_invited", request=request, user=user, expires=mail.expires_at.isoformat())
            return _Claimed(row.id, row.user_id, row.attempts + 1, mail)
    return None


def _set_state(ctx: Context, db: Session, row_id: int, state: str) -> None:
    db.execute(
        update(QueuedInvitation).where(QueuedInvitation.id == row_id)
        .values(state=state, updated_at=ctx.clock.now())
        .execution_options(synchronize_session=False)
    )


def _send(ctx: Context, claimed: _Claimed, request: RequestInfo) -> bool:
    """The claimed invitation's mail; then the row is ``sent``, back in the queue (tried again after
    ``RETRY_AFTER``; its ``claimed_at`` is this attempt's) or, after ``MAX_ATTEMPTS``, ``failed``."""
    assert claimed.mail is not None
    sent = invitation.send(ctx, claimed.mail)
    with ctx.db.transaction() as db:
        if sent:
            _set_state(ctx, db, claimed.row_id, SENT)
        elif claimed.attempts < MAX_ATTEMPTS:
            _set_state(ctx, db, claimed.row_id, QUEUED)
        else:
            audit.record(ctx, db, "authn_code_send_fail", request=request, user=db.get(User, claimed.user_id),
                         outcome="failure", method="email", purpose="invitation")
            _set_state(ctx, db, claimed.row_id, FAILED)
    return sent


def send_queued(ctx: Context, *, batch_name: str | None = None, request: RequestInfo | None = None) -> int:
    """Sends what is queued (of one batch, or all), one at a time; stops after ``STOP_AFTER`` failures
    in a row. Returns how many mails left."""
    request = request or RequestInfo()
    sent = failures = 0
    while failures < STOP_AFTER:
        try:
            claimed = _claim(ctx, batch_name, request)
            if claimed is None:
                break
            if claimed.mail is None:
                continue
            if _send(ctx, claimed, request):
                sent += 1
                failures = 0
            else:
                failures += 1
        except Exception:  # a database hiccup: a claimed row goes back to the queue when its lease ends
            log.exception("an invitation could not be sent")
            break
    if failures >= STOP_AFTER:
        log.warning("invitations: %d mails in a row could not be sent; the rest wait for the next try", failures)
    return sent


def retry_failed(ctx: Context, batch_name: str, actor: Actor, request: RequestInfo) -> int:
    """Puts the list's failed invitations back in the queue with three new tries ("Send these again",
    once the mail settings are fixed); how many."""
    with ctx.db.transaction() as db:
        admin._check_actor(db, actor)
        done = db.execute(
            update(QueuedInvitation)
            .where(QueuedInvitation.batch == batch_name, QueuedInvitation.state == FAILED)
            .values(state=QUEUED, attempts=0, claimed_at=None, updated_at=ctx.clock.now())
            .execution_options(synchronize_session=False)
        )
        count = int(done.rowcount)  # type: ignore[attr-defined]
        if count:
            admin._record_admin(ctx, db, actor, None, "retry_invitations", request, batch=batch_name, count=count)
    return count


def forget_finished(ctx: Context) -> int:
    """Deletes batches' rows finished more than ``KEEP_FOR`` ago (their page then says "no such list")."""
    with ctx.db.transaction() as db:
        done = db.execute(
            delete(QueuedInvitation).where(
                QueuedInvitation.state.in_((SENT, FAILED, EXISTING, REFUSED)),
                QueuedInvitation.updated_at < ctx.clock.now() - KEEP_FOR,
            )
        )
        return int(done.rowcount)  # type: ignore[attr-defined]
