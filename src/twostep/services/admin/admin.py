"""Administration: users and their two-step state, resets, unlocks, deletion, roles, the audit log.

Rules kept here, for the web console and the CLI alike (Kintone: keep several administrators, because
a lost second step is fixed by another administrator):

- administrators never see a secret or a code: only kinds, masked labels, dates and counts;
- resetting two-step verification needs a reason, and an administrator cannot reset their own;
- the last administrator can be neither demoted nor deleted (the admin rows are locked while
  counting, so two administrators demoting each other at once cannot both succeed);
- every action writes an ``authz_admin`` event (who, on whom, what, reason) next to the event that
  describes the change itself (``user_updated``, ``user_deleted``, ``authz_change``,
  ``session_expired``), in the same transaction as the change.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import Select, delete, or_, select
from sqlalchemy.orm import Session

from twostep.domain.clock import as_utc
from twostep.domain.emails import normalize_email
from twostep.domain.spreadsheet import csv_row
from twostep.services.core import accounts, admin_role, audit, devices, notify, sessions, throttling
from twostep.services.core.context import Context, RequestInfo
from twostep.services.factors import passkey, recovery
from twostep.services.oidc import verified_email
from twostep.services.rollout import policy
from twostep.storage.models import (
    AuditEvent,
    Factor,
    OneTimeCode,
    RememberedDevice,
    Throttle,
    User,
    UserRole,
    WebSession,
)

REASON_MAX = 500
AUDIT_PAGE_SIZE = 100
EXPORT_BATCH = 500
ExportFormat = Literal["csv", "jsonl"]
EXPORT_COLUMNS = (
    "id",
    "at",
    "event",
    "outcome",
    "user_id",
    "user_email",
    "actor_id",
    "actor_email",
    "ip",
    "user_agent",
    "request_id",
    "reason",
    "detail",
)


class AdminError(ValueError):
    """A refusal with a message id; ``field`` ties it to a form input."""

    def __init__(self, code: str, field: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.field = field


@dataclass(frozen=True)
class Actor:
    """Who acts: an administrator's user id (web), or the operator at the command line (id None)."""

    id: int | None
    email: str = ""
    via: Literal["web", "cli"] = "web"


CLI = Actor(id=None, email="", via="cli")


@dataclass(frozen=True)
class MethodInfo:
    kind: str
    label: str
    enrolled_at: datetime | None
    last_used_at: datetime | None
    id: int = 0


@dataclass(frozen=True)
class EventRow:
    id: int
    at: datetime
    event: str
    outcome: str
    user_id: int | None
    user_email: str
    actor_id: int | None
    actor_email: str
    ip: str
    user_agent: str
    request_id: str
    reason: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "event": self.event,
            "outcome": self.outcome,
            "user_id": self.user_id,
            "user_email": self.user_email,
            "actor_id": self.actor_id,
            "actor_email": self.actor_email,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "request_id": self.request_id,
            "reason": self.reason,
            "detail": json.loads(self.detail) if self.detail else {},
        }


@dataclass(frozen=True)
class UserDetail:
    id: int
    email: str
    name: str
    created_at: datetime
    roles: list[str]
    is_admin: bool
    methods: list[MethodInfo]
    recovery_left: int
    remembered_devices: int
    active_sessions: int
    last_sign_in_at: datetime | None
    sign_in_count: int
    throttled_until: datetime | None
    must_enroll: bool
    events: list[EventRow]
    has_password: bool = True
    invited_at: datetime | None = None
    invitation_expires_at: datetime | None = None
    #: When the sign-in address was proven by an emailed code or marked verified (OpenID Connect's
    #: ``email_verified``), or None.
    email_verified_at: datetime | None = None


@dataclass(frozen=True)
class AuditFilter:
    event: str = ""
    user: str = ""
    actor: str = ""
    outcome: str = ""
    since: date | None = None
    until: date | None = None
    before_id: int | None = None
    exact_event: bool = False  # the console's select names whole events; the CLI's --event is a prefix


@dataclass(frozen=True)
class AuditPage:
    rows: list[EventRow]
    next_before_id: int | None


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def _password_key(ctx: Context, email: str) -> str:
    return throttling.password_key(ctx.digester.digest(email, "email"))


# --- access ----------------------------------------------------------------------------------


def _check_actor(db: Session, actor: Actor) -> None:
    """Defence in depth: the web layer checks the role too, but the rule lives with the action."""
    if actor.via == "web" and (actor.id is None or not accounts.is_admin(db, actor.id)):
        raise AdminError("forbidden")


def _actor_user(db: Session, actor: Actor) -> User | None:
    return db.get(User, actor.id) if actor.id is not None else None


def _record_admin(
    ctx: Context,
    db: Session,
    actor: Actor,
    user: User | None,
    action: str,
    request: RequestInfo,
    *,
    reason: str = "",
    **detail: Any,
) -> None:
    audit.record(
        ctx,
        db,
        "authz_admin",
        request=request,
        user=user,
        actor=_actor_user(db, actor),
        reason=reason,
        action=action,
        actor_email=actor.email,
        via=actor.via,
        **detail,
    )


def _get_user(db: Session, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise AdminError("not_found")
    return user


def find_user_id(ctx: Context, raw_email: str) -> int | None:
    with ctx.db.transaction() as db:
        user = accounts.find_user_by_email(db, raw_email)
        return user.id if user is not None else None


# --- reading ---------------------------------------------------------------------------------


def throttled_until(ctx: Context, db: Session, users: Sequence[audit.Identified]) -> dict[int, datetime]:
    """Until when each of ``users`` is throttled (password or second step), for those that are now."""
    keys: dict[str, int] = {}
    for user in users:
        keys[throttling.second_step_key(user.id)] = user.id
        keys[_password_key(ctx, user.email)] = user.id
    if not keys:
        return {}
    now = ctx.clock.now()
    until: dict[int, datetime] = {}
    for key, blocked in db.execute(select(Throttle.key, Throttle.blocked_until).where(Throttle.key.in_(list(keys)))):
        if blocked is None or as_utc(blocked) <= now:
            continue
        user_id = keys[key]
        until[user_id] = max(until.get(user_id, as_utc(blocked)), as_utc(blocked))
    return until


def like_pattern(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def user_detail(ctx: Context, user_id: int) -> UserDetail | None:
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        user = db.get(User, user_id)
        if user is None:
            return None
        roles = accounts.roles_of(db, user.id)
        methods = [
            MethodInfo(f.kind, f.label, _utc(f.confirmed_at), _utc(f.last_used_at), f.id)
            for f in accounts.confirmed_methods(db, user.id)
        ]
        device_count = sum(
            1
            for expires in db.scalars(select(RememberedDevice.expires_at).where(RememberedDevice.user_id == user.id))
            if as_utc(expires) > now
        )
        session_count = sum(
            1
            for expires in db.scalars(
                select(WebSession.expires_at).where(WebSession.user_id == user.id, WebSession.stage == "signed_in")
            )
            if as_utc(expires) > now
        )
        events = _event_rows(
            db,
            select(AuditEvent)
            .where(or_(AuditEvent.user_id == user.id, AuditEvent.actor_id == user.id))
            .order_by(AuditEvent.id.desc())
            .limit(20),
        )
        return UserDetail(
            id=user.id,
            email=user.email,
            name=user.name,
            created_at=as_utc(user.created_at),
            roles=roles,
            is_admin=accounts.ADMIN in roles,
            methods=methods,
            recovery_left=recovery.remaining(db, user.id),
            remembered_devices=device_count,
            active_sessions=session_count,
            last_sign_in_at=_utc(user.last_sign_in_at),
            sign_in_count=user.sign_in_count or 0,
            throttled_until=throttled_until(ctx, db, [user]).get(user.id),
            must_enroll=user.must_enroll,
            events=events,
            has_password=user.password_hash is not None,
            invited_at=_utc(user.invited_at),
            invitation_expires_at=_utc(user.invitation_expires_at),
            email_verified_at=verified_email.verified_since(db, user),
        )


# --- actions ---------------------------------------------------------------------------------


def reset_2fa(ctx: Context, actor: Actor, user_id: int, reason: str, request: RequestInfo) -> str:
    """Removes methods, recovery codes, remembered devices and sessions; the next sign-in must
    enroll again. Returns the user's email. Never for one's own account from the console."""
    reason = reason.strip()
    if not reason:
        raise AdminError("reason_required", "reason")
    if len(reason) > REASON_MAX:
        raise AdminError("reason_too_long", "reason")
    with ctx.db.transaction() as db:
        _check_actor(db, actor)
        user = _get_user(db, user_id)
        if actor.id is not None and actor.id == user.id:
            raise AdminError("self_reset")
        kinds = sorted({f.kind for f in accounts.confirmed_methods(db, user.id)})
        db.execute(delete(Factor).where(Factor.user_id == user.id))
        recovery.delete_all(db, user.id)
        accounts.revoke_remembered_devices(db, user.id)
        sessions.destroy_all(db, user.id)
        throttling.clear(db, throttling.second_step_key(user.id))
        user.must_enroll = True
        user.last_method = None
        audit.record(
            ctx,
            db,
            "user_updated",
            request=request,
            user=user,
            actor=_actor_user(db, actor),
            reason=reason,
            action="reset_2fa",
            methods=kinds,
        )
        _record_admin(ctx, db, actor, user, "reset_2fa", request, reason=reason)
        email, language = user.email, user.language
        notify.tell_after_commit(ctx, db, email, language, "2fa_reset", request)
        return email


def remove_passkey(ctx: Context, actor: Actor, user_id: int, factor_id: int, request: RequestInfo) -> str:
    """Remove one of a user's passkeys (lost, or registered by someone else). Not the last method
    while two-step verification is required for the user: that is "Reset two-step verification",
    which makes them enroll again. Audited (``user_updated`` and ``authz_admin``) and told to the
    user. Returns the passkey's name."""
    with ctx.db.transaction() as db:
        _check_actor(db, actor)
        user = _get_user(db, user_id)
        methods = accounts.confirmed_methods(db, user.id)
        factor = passkey.passkey_method(methods, factor_id)
        if factor is None:
            raise AdminError("passkey_not_found")
        required = policy.two_step_policy(policy.current(ctx, db)).required_for(accounts.roles_of(db, user.id))
        if len(methods) == 1 and required:
            raise AdminError("passkey_last_method")
        label = factor.label
        db.delete(factor)
        accounts.revoke_remembered_devices(db, user.id)
        audit.record(
            ctx, db, "user_updated", request=request, user=user, actor=_actor_user(db, actor),
            action="remove_passkey", factor_id=factor_id,
        )  # fmt: skip
        _record_admin(ctx, db, actor, user, "remove_passkey", request, factor_id=factor_id)
        notify.tell_after_commit(
            ctx, db, user.email, user.language, "method_removed", request, method=passkey.KIND,
            label=label, browser_label=devices.browser_summary(request.user_agent),
        )  # fmt: skip
        return label


def unlock(ctx: Context, actor: Actor, user_id: int, request: RequestInfo) -> None:
    """Clears the password and second-step throttles (the failure counts start again at zero)."""
    with ctx.db.transaction() as db:
        _check_actor(db, actor)
        user = _get_user(db, user_id)
        throttling.clear(db, _password_key(ctx, user.email))
        throttling.clear(db, throttling.second_step_key(user.id))
        audit.record(ctx, db, "user_updated", request=request, user=user, actor=_actor_user(db, actor), action="unlock")
        _record_admin(ctx, db, actor, user, "unlock", request)


def mark_email_verified(ctx: Context, actor: Actor, user_id: int, request: RequestInfo) -> bool:
    """The administrator vouches for the user's sign-in address: OpenID Connect applications get
    ``email_verified: true`` from the next sign-in on. False when it was verified already."""
    with ctx.db.transaction() as db:
        _check_actor(db, actor)
        user = _get_user(db, user_id)
        if verified_email.verified_since(db, user) is not None:
            return False
        verified_email.record(db, user, ctx.clock.now())
        audit.record(ctx, db, "user_updated", request=request, user=user, actor=_actor_user(db, actor),
                     action="email_verified", email=user.email)
        _record_admin(ctx, db, actor, user, "email_verified", request)
        return True


def sign_out_everywhere(ctx: Context, actor: Actor, user_id: int, request: RequestInfo) -> int:
    """Ends every session and forgets every remembered device; returns how many sessions ended."""
    with ctx.db.transaction() as db:
        _check_actor(db, actor)
        user = _get_user(db, user_id)
        ended = db.execute(delete(WebSession).where(WebSession.user_id == user.id)).rowcount  # type: ignore[attr-defined]
        accounts.revoke_remembered_devices(db, user.id)
        audit.record(
            ctx,
            db,
            "session_expired",
            request=request,
            user=user,
            actor=_actor_user(db, actor),
            reason="revoked by an administrator",
            sessions=int(ended or 0),
        )
        _record_admin(ctx, db, actor, user, "sign_out_everywhere", request)
        return int(ended or 0)


def _lock_admins(db: Session) -> list[int]:
    """The admin role rows, locked (PostgreSQL) so the last-admin count cannot race."""
    return list(db.scalars(select(UserRole.user_id).where(UserRole.role == accounts.ADMIN).with_for_update()))


def delete_user(ctx: Context, actor: Actor, user_id: int, confirm_email: str, request: RequestInfo) -> str:
    """Purges the account and everything attached to it; audit events keep its id and email."""
    with ctx.db.transaction() as db:
        _check_actor(db, actor)
        user = _get_user(db, user_id)
        if (normalize_email(confirm_email) or "") != user.email:
            raise AdminError("confirm_mismatch", "confirm")
        if actor.id is not None and actor.id == user.id:
            raise AdminError("self_delete")
        admins = _lock_admins(db)
        if user.id in admins and len(admins) <= 1:
            raise AdminError("last_admin")
        email, language = user.email, user.language
        _record_admin(ctx, db, actor, user, "delete_user", request)
        audit.record(ctx, db, "user_deleted", request=request, user=user, actor=_actor_user(db, actor))
        for table in (WebSession, RememberedDevice, OneTimeCode):
            db.execute(delete(table).where(table.user_id == user.id))
        recovery.delete_all(db, user.id)
        db.execute(delete(Factor).where(Factor.user_id == user.id))
        db.execute(delete(UserRole).where(UserRole.user_id == user.id))
        throttling.clear(db, _password_key(ctx, email))
        throttling.clear(db, throttling.second_step_key(user.id))
        db.delete(user)
        notify.tell_after_commit(ctx, db, email, language, "account_deleted", request)
        return email


def set_admin(ctx: Context, actor: Actor, user_id: int, grant: bool, request: RequestInfo) -> bool:
    """Grants or revokes the admin role; returns False when nothing changed."""
    with ctx.db.transaction() as db:
        _check_actor(db, actor)
        user = _get_user(db, user_id)
        admins = _lock_admins(db)
        before = accounts.roles_of(db, user.id)
        if grant:
            if user.id in admins:
                return False
            db.add(UserRole(user_id=user.id, role=accounts.ADMIN))
        else:
            if user.id not in admins:
                return False
            if len(admins) <= 1:
                raise AdminError("last_admin")
            db.execute(delete(UserRole).where(UserRole.user_id == user.id, UserRole.role == accounts.ADMIN))
        after = sorted(set(before) | {accounts.ADMIN}) if grant else [r for r in before if r != accounts.ADMIN]
        audit.record(
            ctx,
            db,
            "authz_change",
            request=request,
            user=user,
            actor=_actor_user(db, actor),
            before=before,
            after=after,
        )
        grantor = admin_role.Grantor(_actor_user(db, actor), actor.email, actor.via)
        admin_role.record_change(ctx, db, user, granted=grant, grantor=grantor, request=request)
        return True


# --- audit log -------------------------------------------------------------------------------


def _filtered(db: Session, filters: AuditFilter) -> Select[AuditEvent]:
    statement = select(AuditEvent)
    if filters.event and filters.exact_event:
        statement = statement.where(AuditEvent.event == filters.event.strip())
    elif filters.event:
        statement = statement.where(AuditEvent.event.startswith(filters.event.strip(), autoescape=True))
    user = filters.user.strip().lower()
    if user.isdigit():
        statement = statement.where(AuditEvent.user_id == int(user))
    elif user:
        statement = statement.where(AuditEvent.user_email.like(like_pattern(user), escape="\\"))
    actor = filters.actor.strip().lower()
    if actor.isdigit():
        statement = statement.where(AuditEvent.actor_id == int(actor))
    elif actor:
        ids = list(db.scalars(select(User.id).where(User.email.like(like_pattern(actor), escape="\\"))))
        statement = statement.where(AuditEvent.actor_id.in_(ids))
    if filters.outcome:
        statement = statement.where(AuditEvent.outcome == filters.outcome)
    if filters.since is not None:
        statement = statement.where(AuditEvent.at >= datetime.combine(filters.since, time(), UTC))
    if filters.until is not None:
        statement = statement.where(AuditEvent.at < datetime.combine(filters.until + timedelta(days=1), time(), UTC))
    if filters.before_id is not None:
        statement = statement.where(AuditEvent.id < filters.before_id)
    return statement


def _event_rows(db: Session, statement: Select[AuditEvent]) -> list[EventRow]:
    events = list(db.scalars(statement))
    actor_ids = {e.actor_id for e in events if e.actor_id is not None}
    emails = (
        {row.id: row.email for row in db.execute(select(User.id, User.email).where(User.id.in_(actor_ids)))}
        if actor_ids
        else {}
    )
    rows = []
    for e in events:
        actor_email = emails.get(e.actor_id, "") if e.actor_id is not None else ""
        if not actor_email and e.detail:
            try:
                actor_email = str(json.loads(e.detail).get("actor_email", ""))
            except ValueError:
                actor_email = ""
        rows.append(
            EventRow(
                id=e.id,
                at=as_utc(e.at),
                event=e.event,
                outcome=e.outcome,
                user_id=e.user_id,
                user_email=e.user_email,
                actor_id=e.actor_id,
                actor_email=actor_email,
                ip=e.ip,
                user_agent=e.user_agent,
                request_id=e.request_id,
                reason=e.reason,
                detail=e.detail,
            )
        )
    return rows


def audit_page(ctx: Context, filters: AuditFilter, limit: int = AUDIT_PAGE_SIZE) -> AuditPage:
    """Newest first; ``next_before_id`` continues with older events (keyset paging)."""
    with ctx.db.transaction() as db:
        rows = _event_rows(db, _filtered(db, filters).order_by(AuditEvent.id.desc()).limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows=rows, next_before_id=rows[-1].id if more and rows else None)


def record_export(ctx: Context, actor: Actor, fmt: str, filters: AuditFilter, request: RequestInfo) -> None:
    with ctx.db.transaction() as db:
        _check_actor(db, actor)
        _record_admin(
            ctx,
            db,
            actor,
            None,
            "audit_export",
            request,
            format=fmt,
            event_filter=filters.event,
            user_filter=filters.user,
            outcome_filter=filters.outcome,
        )


def export_events(ctx: Context, filters: AuditFilter, fmt: ExportFormat) -> Iterator[str]:
    """The matching events, oldest first, as CSV (with a header row) or JSON lines; read in
    batches of short transactions so a long export never holds the database."""
    if fmt == "csv":
        yield csv_row(EXPORT_COLUMNS)
    after_id = 0
    while True:
        with ctx.db.transaction() as db:
            batch = _event_rows(
                db,
                _filtered(db, filters).where(AuditEvent.id > after_id).order_by(AuditEvent.id).limit(EXPORT_BATCH),
            )
        for row in batch:
            if fmt == "csv":
                values = row.as_dict()
                values["detail"] = row.detail
                yield csv_row(values[column] for column in EXPORT_COLUMNS)
            else:
                yield json.dumps(row.as_dict(), ensure_ascii=False, sort_keys=True) + "\n"
        if len(batch) < EXPORT_BATCH:
            return
        after_id = batch[-1].id
