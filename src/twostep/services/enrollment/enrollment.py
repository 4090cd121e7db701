"""Enrolling an authenticator app: a pending secret that survives wrong codes (no re-scan) for ten
minutes, confirmed only by a code from that secret (checklist T-06)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from twostep.domain import totp
from twostep.domain.clock import as_utc
from twostep.domain.factors import FactorKind
from twostep.domain.factors import totp as totp_factor
from twostep.domain.login_flow import Stage
from twostep.services.core import accounts, audit, devices, notify, sessions, throttling
from twostep.services.core.context import Context, RequestInfo
from twostep.services.factors import recovery
from twostep.storage.models import AuditEvent, Factor, User, WebSession

PENDING_ENROLLMENT = timedelta(minutes=10)


@dataclass(frozen=True)
class TotpEnrollment:
    secret: str
    uri: str
    grouped_secret: str
    account: str


@dataclass(frozen=True)
class ConfirmResult:
    outcome: Literal["confirmed", "invalid", "expired", "throttled", "no_session", "reauth", "mailbox"]
    token: str | None = None
    drift_seconds: int | None = None
    wait_seconds: int = 0
    recovery_codes: list[str] = field(default_factory=list)
    #: The account had recovery codes before these: the page says the old ones stopped working.
    replaced_codes: bool = False


def enrolling_session(ctx: Context, db: Session, token: str | None) -> tuple[WebSession, User] | None:
    """Enrollment is open to the ENROLL stage and to signed-in users (adding a method)."""
    row = sessions.load(ctx, db, token)
    if row is None or row.stage not in (Stage.ENROLL.value, Stage.SIGNED_IN.value):
        return None
    user = db.get(User, row.user_id)
    return (row, user) if user is not None else None


Admission = Literal["ok", "reauth", "mailbox", "ended"]


def needs_mailbox_proof(ctx: Context, row: WebSession) -> bool:
    """A session that has shown only a password must prove the sign-in mailbox before it binds the
    account's first method (TWOSTEP_ENROLL_MAILBOX_CHECK); the setup link and a real second step
    in this session (the lost-phone flow) count as proof already."""
    return ctx.settings.enroll_mailbox_check and row.mailbox_proven_at is None and row.second_step_at is None


def admission(ctx: Context, db: Session, row: WebSession) -> Admission:
    """May this session bind a new method now? One rule for every method and every step of it.

    * The account already has a method: only a real second step may add another — a signed-in
      session re-authenticates (password + second step within five minutes); the lost-phone session
      has just passed one. An enrollment-stage session, opened before the owner enrolled, is ended.
    * No method yet: the session must have proven the sign-in mailbox (see needs_mailbox_proof).
    """
    if accounts.confirmed_methods(db, row.user_id):
        if row.must_replace_method:
            return "ok"
        if row.stage != Stage.SIGNED_IN.value:
            db.delete(row)
            return "ended"
        return "ok" if sessions.reauthenticated_recently(ctx, row) else "reauth"
    return "mailbox" if needs_mailbox_proof(ctx, row) else "ok"


#: Why this enrollment is happening, for the words at the top of the page: the owner just removed a
#: lost phone ("I lost my phone"), or an administrator reset two-step verification; "" otherwise.
EnrollContext = Literal["", "lost_phone", "admin_reset"]


def enroll_context(ctx: Context, token: str | None) -> EnrollContext:
    with ctx.db.transaction() as db:
        found = enrolling_session(ctx, db, token)
        if found is None:
            return ""
        row, user = found
        if row.must_replace_method:
            return "lost_phone"
        if not user.must_enroll or accounts.confirmed_methods(db, user.id):
            return ""

        def latest(*conditions: ColumnElement[bool]) -> int:
            found_id = db.scalar(
                select(AuditEvent.id)
                .where(AuditEvent.user_id == user.id, *conditions)
                .order_by(AuditEvent.id.desc())
                .limit(1)
            )
            return found_id or 0

        reset = latest(AuditEvent.event == "user_updated", AuditEvent.detail.contains("reset_2fa"))
        lost = latest(AuditEvent.event == "authn_token_delete", AuditEvent.reason == "lost phone")
        return "admin_reset" if reset > lost else ""


def _owner(user_id: int) -> str:
    return f"user:{user_id}:totp"


def pending_factor(ctx: Context, db: Session, row: WebSession, kind: str) -> Factor | None:
    """This session's enrollment in progress of this kind; never another session's (each browser
    gets a secret, address or number of its own), and gone after ten minutes."""
    found = db.scalar(
        select(Factor)
        .where(
            Factor.user_id == row.user_id,
            Factor.kind == kind,
            Factor.confirmed_at.is_(None),
            Factor.pending_session == row.id,
        )
        .order_by(Factor.id.desc())
    )
    if found is not None and as_utc(found.created_at) + PENDING_ENROLLMENT <= ctx.clock.now():
        db.delete(found)
        return None
    return found


def start_totp(ctx: Context, token: str | None) -> TotpEnrollment | Literal["reauth", "mailbox", "ended"]:
    """This session's pending secret: the same one until confirmed or expired (no re-scan after a
    wrong code), and never shown to any other session."""
    with ctx.db.transaction() as db:
        found = enrolling_session(ctx, db, token)
        if found is None:
            return "ended"
        row, user = found
        admitted = admission(ctx, db, row)
        if admitted != "ok":
            return admitted
        pending = pending_factor(ctx, db, row, FactorKind.TOTP.value)
        if pending is None:
            secret = totp.new_secret()
            db.add(
                Factor(
                    user_id=user.id,
                    kind=FactorKind.TOTP.value,
                    secret_sealed=ctx.sealer.seal(secret, _owner(user.id)),
                    label="",
                    created_at=ctx.clock.now(),
                    pending_session=row.id,
                )
            )
        else:
            secret = ctx.sealer.open(pending.secret_sealed or b"", _owner(user.id))
        return TotpEnrollment(
            secret=secret,
            uri=totp.otpauth_uri(secret, user.email, ctx.service_name),
            grouped_secret=totp.group_secret(secret),
            account=user.email,
        )


def confirm_totp(ctx: Context, token: str | None, raw_code: str, request: RequestInfo) -> ConfirmResult:
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        found = enrolling_session(ctx, db, token)
        if found is None:
            return ConfirmResult("no_session")
        row, user = found
        refused = refusal(ctx, db, row)
        if refused is not None:
            return refused
        key = throttling.second_step_key(user.id)
        wait = throttling.wait_seconds(db, key, now)
        if wait:
            return ConfirmResult("throttled", wait_seconds=wait)
        pending = pending_factor(ctx, db, row, FactorKind.TOTP.value)
        if pending is None:
            return ConfirmResult("expired")
        secret = ctx.sealer.open(pending.secret_sealed or b"", _owner(user.id))
        verdict = totp_factor.verify(secret, raw_code, now, None)
        if not verdict.accepted or verdict.step is None:
            throttling.record_failure(db, key, now)
            audit.record(
                ctx,
                db,
                "authn_token_enroll_fail",
                request=request,
                user=user,
                outcome="failure",
                method="totp",
            )
            drift = verdict.drift_steps * totp.PERIOD_SECONDS if verdict.drift_steps is not None else None
            return ConfirmResult("invalid", drift_seconds=drift)
        return activate(ctx, db, row, user, pending, verdict.step, request)


def refusal(ctx: Context, db: Session, row: WebSession) -> ConfirmResult | None:
    """admission() as a confirmation result, or None when the session may go on."""
    admitted = admission(ctx, db, row)
    if admitted == "ok":
        return None
    return ConfirmResult("no_session" if admitted == "ended" else admitted)


def activate(
    ctx: Context,
    db: Session,
    row: WebSession,
    user: User,
    factor: Factor,
    step: int | None,
    request: RequestInfo,
    *,
    session_method: str | None = None,
) -> ConfirmResult:
    """``session_method``: the second-step method the session records (OpenID Connect's ``amr``),
    when the factor's kind does not say it all (a synced passkey)."""
    now = ctx.clock.now()
    first_method = not accounts.confirmed_methods(db, user.id)
    replacing = row.must_replace_method
    if replacing:
        # "I lost my phone": the new method replaces every earlier one of the same kind.
        db.execute(
            delete(Factor).where(
                Factor.user_id == user.id, Factor.id != factor.id, Factor.kind == factor.kind
            )
        )
    if first_method:
        # The owner has bound the first method: every other session of the account has shown only
        # a password (or nothing), so it ends, with every enrollment it had in progress.
        sessions.destroy_all(db, user.id, except_id=row.id)
        db.execute(
            delete(Factor).where(Factor.user_id == user.id, Factor.confirmed_at.is_(None), Factor.id != factor.id)
        )
    factor.confirmed_at = now
    factor.pending_session = None
    factor.last_used_step = step
    factor.last_used_at = now
    user.must_enroll = False
    throttling.clear(db, throttling.second_step_key(user.id))
    codes: list[str] = []
    had_codes = recovery.remaining(db, user.id) > 0
    if first_method or replacing or not had_codes:
        codes = recovery.regenerate(ctx, db, user.id)
    accounts.revoke_remembered_devices(db, user.id)
    row.must_replace_method = False
    new_token = sessions.create(
        ctx,
        db,
        user,
        Stage.SIGNED_IN,
        request,
        password_at=row.password_at,
        second_step_at=now,
        replacing=row,
        # The code of the method just bound was typed now: it is this session's second step (the
        # admin gate and forward-auth count it as one; OpenID Connect's ``amr`` names it).
        method=session_method or factor.kind,
    )
    audit.record(ctx, db, "authn_token_created", request=request, user=user, method=factor.kind)
    email, language = user.email, user.language
    db.flush()
    result = ConfirmResult("confirmed", token=new_token, recovery_codes=codes, replaced_codes=bool(codes) and had_codes)
    # After commit of the caller's transaction the message goes out; failure never undoes this.
    notify.tell_after_commit(
        ctx, db, email, language, "method_added", request,
        method=factor.kind, browser_label=devices.browser_summary(request.user_agent),
    )  # fmt: skip
    return result
