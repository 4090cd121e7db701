"""Adding people from the console: "Add user", "Invite users" (a pasted or uploaded list), resending
an invitation, and actions on many users at once (reset two-step verification, sign out, delete).

An added or invited account has no password: the invitation mail carries a set-password code and a
link (``services.reset.invitation``), valid for seven days; the person chooses a password on the
password-reset page, then sets up two-step verification at the first sign-in as the policy says.

Each account is created in its own short transaction (one bad row, or someone creating the same
account meanwhile, never takes the others with it) with its audit events — ``user_created`` and the
``authz_admin`` record of who did it. "Add user" mails its invitation after the commit and reports a
mail that can't be sent (the account stays; "Resend" tries again). "Invite users" queues each
invitation with its account instead, and they leave after the answer
(``services.admin.invitation_queue``: ``user_invited`` when each mail is made).

Bulk actions call the one-user actions of ``services.admin.admin`` for each account, so every rule
holds as it does one by one (not on yourself, never the last administrator) and every account gets
its own events, plus one ``authz_admin`` summary (``bulk_<action>`` with the counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select

from twostep.domain.emails import normalize_email
from twostep.domain.invitations import LANGUAGES, NAME_MAX, Invitee
from twostep.domain.rollout import parse_roles
from twostep.domain.text_input import forbidden_character
from twostep.services.admin import admin, invitation_queue
from twostep.services.admin.admin import Actor, AdminError
from twostep.services.core import accounts, audit
from twostep.services.core.context import Context, RequestInfo
from twostep.services.reset import invitation
from twostep.storage.models import User, UserRole

BULK_MAX = 500
BulkAction = Literal["reset-2fa", "sign-out", "delete"]
BULK_ACTIONS: tuple[BulkAction, ...] = ("reset-2fa", "sign-out", "delete")


class FieldError(AdminError):
    """A refusal tied to a form field, with values for its message (``%(roles)s``)."""

    def __init__(self, code: str, field: str, **params: str) -> None:
        super().__init__(code, field)
        self.params = params


@dataclass(frozen=True)
class Added:
    id: int
    email: str
    mailed: bool


@dataclass
class InviteReport:
    """What "Invite users" did with a list: ``batch`` names it in the queue, and its page."""

    batch: str
    invited: list[tuple[int, str]] = field(default_factory=list)
    existing: list[tuple[int, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    id: int
    email: str
    name: str
    is_admin: bool


@dataclass
class BulkReport:
    action: str
    done: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


def check_person(raw_email: str, name: str, language: str, roles_text: str) -> Invitee:
    """The "Add user" form's fields, checked; FieldError names the first field in error."""
    email = normalize_email(raw_email)
    if email is None:
        raise FieldError("email_invalid", "email")
    name = name.strip()
    if len(name) > NAME_MAX:
        raise FieldError("name_too_long", "name")
    if forbidden_character(name) is not None:
        raise FieldError("control_character", "name")
    if language and language not in LANGUAGES:
        raise FieldError("language_unknown", "language")
    roles, bad = parse_roles(roles_text)
    if bad:
        raise FieldError("role_invalid", "roles", roles=", ".join(bad)[:200])
    if accounts.ADMIN in roles:
        raise FieldError("admin_elsewhere", "roles")
    return Invitee(line=0, email=email, name=name, language=language or None, roles=tuple(roles))


def _create_one(
    ctx: Context, actor: Actor, person: Invitee, request: RequestInfo, *, via: str, batch: str | None = None
) -> tuple[int, invitation.InvitationMail | None] | None:
    """The account and its events in one transaction, with its invitation: made now (its mail to
    send after the commit), or queued in ``batch``. None when the address is taken."""
    with ctx.db.transaction() as db:
        admin._check_actor(db, actor)
        if db.scalar(select(User.id).where(User.email == person.email)) is not None:
            return None
        user = accounts.create_user_in(
            ctx, db, person.email, None, roles=list(person.roles), name=person.name, language=person.language
        )
        by = admin._actor_user(db, actor)
        audit.record(ctx, db, "user_created", request=request, user=user, actor=by, roles=list(person.roles), via=via)
        admin._record_admin(ctx, db, actor, user, "invite_user", request)
        if batch is not None:
            user.invited_at = ctx.clock.now()  # listed as invited at once; the code is made when it leaves
            db.flush()
            invitation_queue.add(ctx, db, batch, user.email, user_id=user.id)
            return user.id, None
        mail = invitation.issue(ctx, db, user)
        audit.record(ctx, db, "user_invited", request=request, user=user, actor=by, expires=mail.expires_at.isoformat())
        return user.id, mail


def _mailed(ctx: Context, user_id: int, mail: invitation.InvitationMail, request: RequestInfo) -> bool:
    if invitation.send(ctx, mail):
        return True
    with ctx.db.transaction() as db:
        audit.record(
            ctx,
            db,
            "authn_code_send_fail",
            request=request,
            user=db.get(User, user_id),
            outcome="failure",
            method="email",
            purpose="invitation",
        )
    return False


def add_user(ctx: Context, actor: Actor, person: Invitee, request: RequestInfo) -> Added:
    """Creates the account and mails its invitation; FieldError("email_taken") if it exists."""
    created = _create_one(ctx, actor, person, request, via="add")
    if created is None:
        raise FieldError("email_taken", "email")
    user_id, mail = created
    assert mail is not None  # made now: not queued
    return Added(user_id, person.email, _mailed(ctx, user_id, mail, request))


def invite(ctx: Context, actor: Actor, people: Sequence[Invitee], request: RequestInfo) -> InviteReport:
    """Everyone on the list who has no account yet gets one, and an invitation queued in a new batch
    (``invitation_queue.send_queued`` sends them); existing accounts are listed, not changed."""
    report = InviteReport(invitation_queue.new_batch())
    for person in people:
        if accounts.ADMIN in person.roles:
            report.refused.append((person.email, "admin_elsewhere"))
            continue
        created = _create_one(ctx, actor, person, request, via="invite", batch=report.batch)
        if created is None:
            existing = admin.find_user_id(ctx, person.email)
            report.existing.append((existing or 0, person.email))
            continue
        report.invited.append((created[0], person.email))
    with ctx.db.transaction() as db:
        for user_id, email in report.existing:
            invitation_queue.add(ctx, db, report.batch, email, user_id=user_id or None, state=invitation_queue.EXISTING)
        for email, reason in report.refused:
            invitation_queue.add(ctx, db, report.batch, email, state=invitation_queue.REFUSED, reason=reason)
        admin._record_admin(
            ctx,
            db,
            actor,
            None,
            "invite_users",
            request,
            invited=len(report.invited),
            existing=len(report.existing),
            refused=len(report.refused),
            batch=report.batch,
        )
    return report


def resend_invitation(ctx: Context, actor: Actor, user_id: int, request: RequestInfo) -> bool:
    """A new code and link, valid seven days from now; the previous code stops working. Only for an
    account that has no password yet. Returns whether the mail left."""
    with ctx.db.transaction() as db:
        admin._check_actor(db, actor)
        user = admin._get_user(db, user_id)
        if user.password_hash is not None:
            raise AdminError("invitation_accepted")
        mail = invitation.issue(ctx, db, user)
        by = admin._actor_user(db, actor)
        audit.record(
            ctx, db, "user_invited", request=request, user=user, actor=by, expires=mail.expires_at.isoformat(),
            resent=True,
        )  # fmt: skip
        admin._record_admin(ctx, db, actor, user, "resend_invitation", request)
    return _mailed(ctx, user_id, mail, request)


def existing_emails(ctx: Context, emails: Sequence[str]) -> dict[str, int]:
    """{email: id} for those of ``emails`` that already have an account."""
    found: dict[str, int] = {}
    with ctx.db.transaction() as db:
        for start in range(0, len(emails), 500):
            chunk = list(emails[start : start + 500])
            found.update(
                {row.email: row.id for row in db.execute(select(User.id, User.email).where(User.email.in_(chunk)))}
            )
    return found


# --- many users at once ------------------------------------------------------------------------


def parse_ids(raw: Sequence[str]) -> list[int]:
    """User ids from checkboxes: digits only, unique, at most ``BULK_MAX``; anything else dropped."""
    ids: list[int] = []
    for value in raw[: BULK_MAX * 2]:
        value = value.strip()
        if value.isdigit() and len(value) < 12 and int(value) not in ids:
            ids.append(int(value))
    return ids[:BULK_MAX]


def targets(ctx: Context, ids: Sequence[int]) -> list[Target]:
    """The accounts that exist among ``ids``, by email."""
    if not ids:
        return []
    with ctx.db.transaction() as db:
        admins = set(
            db.scalars(select(UserRole.user_id).where(UserRole.role == accounts.ADMIN, UserRole.user_id.in_(ids)))
        )
        rows = db.execute(select(User.id, User.email, User.name).where(User.id.in_(list(ids))).order_by(User.email))
        return [Target(row.id, row.email, row.name or "", row.id in admins) for row in rows]


def apply_bulk(
    ctx: Context,
    actor: Actor,
    action: str,
    ids: Sequence[int],
    request: RequestInfo,
    *,
    reason: str = "",
    confirm: str = "",
) -> BulkReport:
    """Runs ``action`` on each account, one transaction each. Refusals: ``bulk_action`` (unknown
    action), ``bulk_none`` (no account chosen), ``reason_required``/``reason_too_long`` (reset),
    ``bulk_confirm`` (delete: ``confirm`` must be the number of accounts)."""
    if action not in BULK_ACTIONS:
        raise AdminError("bulk_action", "action")
    chosen = targets(ctx, ids)
    if not chosen:
        raise AdminError("bulk_none")
    reason = reason.strip()
    if action == "reset-2fa":
        if not reason:
            raise AdminError("reason_required", "reason")
        if len(reason) > admin.REASON_MAX:
            raise AdminError("reason_too_long", "reason")
    if action == "delete" and confirm.strip() != str(len(chosen)):
        raise FieldError("bulk_confirm", "confirm", count=str(len(chosen)))
    report = BulkReport(action=action)
    for target in chosen:
        if action == "sign-out" and target.id == actor.id:
            report.refused.append((target.email, "self_sign_out"))
            continue
        try:
            if action == "reset-2fa":
                admin.reset_2fa(ctx, actor, target.id, reason, request)
            elif action == "sign-out":
                admin.sign_out_everywhere(ctx, actor, target.id, request)
            else:
                admin.delete_user(ctx, actor, target.id, target.email, request)
        except AdminError as error:
            report.refused.append((target.email, error.code))
        else:
            report.done.append(target.email)
    details: dict[str, Any] = {"done": len(report.done), "refused": len(report.refused)}
    with ctx.db.transaction() as db:
        admin._record_admin(ctx, db, actor, None, f"bulk_{action.replace('-', '_')}", request, reason=reason, **details)
    return report
