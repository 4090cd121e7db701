"""Signing in: the password step, then the second step, each a small transaction.

The Argon2 check runs between transactions so that a slow hash never holds a database lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from twostep.domain import rollout
from twostep.domain import throttle as throttle_rules
from twostep.domain.emails import looks_like_email, normalize_email
from twostep.domain.factors import FactorKind, Verdict
from twostep.domain.factors import totp as totp_factor
from twostep.domain.login_flow import Stage, stage_after_password
from twostep.services import accounts, audit, devices, guesses, notify, policy, sessions, throttling
from twostep.services.context import Context, RequestInfo
from twostep.storage.database import Executor, FastStatement
from twostep.storage.models import Factor, User, WebSession

PasswordOutcome = Literal["signed_in", "second_step", "enroll", "remind", "invalid", "throttled", "not_email"]
CodeOutcome = Literal["signed_in", "invalid", "throttled", "restart", "no_session", "no_method"]


@dataclass(frozen=True)
class PasswordStepResult:
    outcome: PasswordOutcome
    token: str | None = None
    wait_seconds: int = 0


@dataclass(frozen=True)
class CodeStepResult:
    outcome: CodeOutcome
    token: str | None = None
    device_token: str | None = None
    wait_seconds: int = 0
    notices: list[str] = field(default_factory=list)


def _email_key(ctx: Context, raw_email: str) -> str:
    email = normalize_email(raw_email) or raw_email.strip().lower()
    return throttling.password_key(ctx.digester.digest(email, "email"))


def password_step(
    ctx: Context,
    raw_email: str,
    password: str,
    *,
    device_token: str | None,
    current_token: str | None,
    request: RequestInfo,
) -> PasswordStepResult:
    """Same answer and the same work (one Argon2 check) for known and unknown emails.

    Wrong passwords count on the account's key and on the client address's key (a spray across
    accounts); a browser with a valid remembered-device cookie for the account is judged by its own
    key instead, so whoever keeps the account or the address blocked cannot lock its owner out
    (domain.throttle)."""
    if not looks_like_email(raw_email):
        ctx.hashing.verify(None, password)
        return PasswordStepResult("not_email")
    key = _email_key(ctx, raw_email)
    client_key = throttling.client_password_key(request.ip)
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        user = accounts.find_user_by_email(db, raw_email)
        stored_hash = user.password_hash if user else None
        # The look-up runs for unknown addresses too (user id 0 matches no device): the same work.
        device = devices.find_valid(ctx, db, device_token, user.id if user is not None else 0)
        device_key = throttling.device_password_key(device.id) if device is not None else None
        if device_key is not None:
            wait = throttling.wait_seconds(db, device_key, now)
        else:
            wait = throttling.wait_seconds(db, key, now)
            if client_key is not None:
                wait = max(wait, throttling.client_wait_seconds(db, client_key, now))
    if wait:
        ctx.hashing.verify(None, password)
        return PasswordStepResult("throttled", wait_seconds=wait)
    ok = ctx.hashing.verify(stored_hash, password)
    with ctx.db.transaction() as db:
        user = accounts.find_user_by_email(db, raw_email)
        if not ok or user is None or user.password_hash != stored_hash:
            failures = throttling.record_failure(db, key, now)
            if device_key is not None:
                throttling.record_failure(db, device_key, now)
            elif client_key is not None:
                throttling.record_client_failure(db, client_key, now)
            audit.record(
                ctx,
                db,
                "authn_login_fail",
                request=request,
                user=user,
                outcome="failure",
                step="password",
                failures=failures,
            )
            if device_key is not None:
                wait = throttling.wait_seconds(db, device_key, now)
            else:
                wait = throttle_rules.seconds_left(throttling.blocked_until(db, key), now)
                if client_key is not None:
                    wait = max(wait, throttling.client_wait_seconds(db, client_key, now))
            if wait:
                audit.record(ctx, db, "authn_login_lock", request=request, user=user, outcome="failure",
                             step="password", seconds=wait)
            return PasswordStepResult("throttled" if wait else "invalid", wait_seconds=wait)
        throttling.clear(db, key)
        if device_key is not None:
            throttling.clear(db, device_key)
        if ctx.hashing.needs_rehash(stored_hash or ""):
            # Imported bcrypt/PBKDF2/scrypt/Argon2i hashes become Argon2id at their first use.
            user.password_hash = ctx.hashing.hash(password)
            if user.password_imported:
                audit.record(ctx, db, "authn_password_rehashed", request=request, user=user)
        user.password_imported = False
        return _after_password(ctx, db, user, device_token, current_token, request)


def _after_password(
    ctx: Context,
    db: Session,
    user: User,
    device_token: str | None,
    current_token: str | None,
    request: RequestInfo,
) -> PasswordStepResult:
    now = ctx.clock.now()
    methods = accounts.confirmed_methods(db, user.id)
    device = devices.find_valid(ctx, db, device_token, user.id) if methods else None
    # No method yet: the rollout policy says whether to force enrollment, remind, or let them in.
    decision = None if methods else policy.decide_after_password(ctx, db, user)
    stage = stage_after_password(
        has_confirmed_method=bool(methods),
        device_remembered=device is not None,
        must_enroll=decision is not None and decision.verdict is rollout.Verdict.FORCE,
    )
    current = sessions.load(ctx, db, current_token)
    token = sessions.create(
        ctx,
        db,
        user,
        stage,
        request,
        password_at=now,
        via_remembered_device=device is not None,
        replacing=current,
    )
    if stage is Stage.SIGNED_IN:
        if device is not None:
            device.last_used_at = now
        _signed_in(user, now, method=None)
        via = "remembered_device" if device is not None else "password_only"
        audit.record(ctx, db, "authn_login_success", request=request, user=user, via=via)
        remind = decision is not None and decision.verdict is rollout.Verdict.REMIND
        return PasswordStepResult("remind" if remind else "signed_in", token=token)
    audit.record(ctx, db, "authn_password_ok", request=request, user=user, next=stage.value)
    return PasswordStepResult("second_step" if stage is Stage.SECOND_STEP else "enroll", token=token)


def _signed_in(user: User, now: object, method: str | None) -> None:
    user.last_sign_in_at = now  # type: ignore[assignment]
    user.sign_in_count = (user.sign_in_count or 0) + 1
    if method:
        user.last_method = method


def pending_session(ctx: Context, db: Session, token: str | None, stage: Stage) -> WebSession | None:
    row = sessions.load(ctx, db, token)
    return row if row is not None and row.stage == stage.value else None


def available_methods(db: Session, user_id: int) -> list[str]:
    """The methods a second step may use now: confirmed and not disabled (``guesses``)."""
    kinds = {factor.kind for factor in accounts.confirmed_methods(db, user_id) if factor.disabled_at is None}
    order = [FactorKind.TOTP, FactorKind.SMS, FactorKind.EMAIL]
    return [kind.value for kind in order if kind.value in kinds]


def chosen_method(db: Session, user: User, row: WebSession) -> str | None:
    methods = available_methods(db, user.id)
    for candidate in (row.method, user.last_method):
        if candidate in methods:
            return candidate
    return methods[0] if methods else None


# Prebuilt statements (compiled once, cached by SQLAlchemy): the second step is the hot path of the
# verification API, where building ORM statements per call cost more than the database work.
_FACTORS = cast(Table, Factor.__table__)
_TOTP_FACTORS = select(_FACTORS.c.id, _FACTORS.c.secret_sealed, _FACTORS.c.last_used_step).where(
    _FACTORS.c.user_id == bindparam("user_id"),
    _FACTORS.c.kind == FactorKind.TOTP.value,
    _FACTORS.c.confirmed_at.is_not(None),
    _FACTORS.c.disabled_at.is_(None),
)
_CONSUME_STEP = (
    update(_FACTORS)
    .where(
        _FACTORS.c.id == bindparam("factor_id"),
        or_(_FACTORS.c.last_used_step.is_(None), _FACTORS.c.last_used_step < bindparam("step")),
        _FACTORS.c.disabled_at.is_(None),  # disabled by a concurrent request's failure: refused
    )
    .values(last_used_step=bindparam("new_step"), last_used_at=bindparam("used_at"))
)


_CONSUME_STEP_FAST = FastStatement(_CONSUME_STEP)


def consume_totp_step(db: Executor, factor_id: int, step: int, now: object) -> bool:
    """RFC 6238 §5.2 compare-and-set: exactly one concurrent submission of a step can win."""
    cursor = _CONSUME_STEP_FAST.execute(db, {"factor_id": factor_id, "step": step, "new_step": step, "used_at": now})
    consumed: bool = cursor.rowcount == 1
    if not isinstance(db, Session):
        return consumed
    loaded = db.identity_map.get(identity_key(Factor, factor_id)) if consumed else None
    if loaded is not None:  # a Factor already loaded in this session must not show the old step
        db.expire(loaded, ["last_used_step", "last_used_at"])
    return consumed


def verify_totp(ctx: Context, db: Session, user_id: int, code: str) -> Verdict:
    """Check a code against the user's confirmed authenticators and consume its step atomically."""
    return check_totp(ctx, db, user_id, code, db.execute(_TOTP_FACTORS, {"user_id": user_id}).all())


def check_totp(
    ctx: Context, db: Session, user_id: int, code: str, factors: Sequence[tuple[int, bytes | None, int | None]]
) -> Verdict:
    """``verify_totp`` for authenticators already read as (id, sealed seed, last used step) — the
    verification API reads them with the account in one statement; the rule is the same."""
    return consume_totp(ctx, db, match_totp(ctx, user_id, code, factors))


@dataclass(frozen=True)
class TotpMatch:
    """What a code matched, before anything is written: the authenticators whose window holds it
    (in order, with their verdicts) and whether it is an already used step of one of them."""

    accepted: list[tuple[int, Verdict]]
    replayed: bool


def match_totp(
    ctx: Context, user_id: int, code: str, factors: Sequence[tuple[int, bytes | None, int | None]]
) -> TotpMatch:
    """The pure half of the check (no database): decrypt each seed and compare the code."""
    now = ctx.clock.now()
    accepted: list[tuple[int, Verdict]] = []
    replayed = False
    for factor_id, sealed, last_used_step in factors:
        secret = ctx.sealer.open(sealed or b"", f"user:{user_id}:totp")
        verdict = totp_factor.verify(secret, code, now, last_used_step)
        if verdict.accepted and verdict.step is not None:
            accepted.append((factor_id, verdict))
        replayed = replayed or verdict.replayed
    return TotpMatch(accepted, replayed)


def consume_totp(ctx: Context, db: Executor, match: TotpMatch) -> Verdict:
    """The writing half: the first authenticator whose step the compare-and-set moves forward wins;
    losing the compare-and-set means another request used this step first (a replay)."""
    now = ctx.clock.now()
    replayed = match.replayed
    for factor_id, verdict in match.accepted:
        if verdict.step is not None and consume_totp_step(db, factor_id, verdict.step, now):
            return verdict
        replayed = True
    return Verdict(accepted=False, replayed=replayed)


def second_step(
    ctx: Context,
    token: str | None,
    raw_code: str,
    *,
    remember_device: bool,
    request: RequestInfo,
) -> CodeStepResult:
    """One transaction: throttle check → verify → consume → counters → audit."""
    now = ctx.clock.now()
    notices: list[str] = []
    with ctx.db.transaction() as db:
        row = pending_session(ctx, db, token, Stage.SECOND_STEP)
        if row is None:
            return CodeStepResult("no_session")
        user = db.get(User, row.user_id)
        if user is None:
            return CodeStepResult("no_session")
        key = throttling.second_step_key(user.id)
        wait = throttling.wait_seconds(db, key, now)
        if wait:  # refused unchecked, but audited like every other check
            audit.record(ctx, db, "authn_login_fail", request=request, user=user, outcome="failure",
                         reason="throttled", step="second", seconds=wait)
            return CodeStepResult("throttled", wait_seconds=wait)
        method = chosen_method(db, user, row)
        if method is None:
            return CodeStepResult("no_method")
        verdict = verify_method(ctx, db, user, row, method, raw_code)
        if not verdict.accepted:
            row.code_attempts += 1
            failure = guesses.second_step_failed(ctx, db, user, method, request, now)
            failures = failure.failures
            event = "authn_token_reuse" if verdict.replayed else "authn_login_fail"
            audit.record(
                ctx,
                db,
                event,
                request=request,
                user=user,
                outcome="failure",
                step="second",
                method=method,
                failures=failures,
            )
            if verdict.replayed:
                notices.append("replay")
            wait = failure.wait_seconds
            if wait:
                audit.record(ctx, db, "authn_login_lock", request=request, user=user, outcome="failure",
                             step="second", seconds=wait)
            if row.code_attempts >= throttle_rules.ATTEMPTS_PER_PENDING_LOGIN:
                db.delete(row)
                audit.record(ctx, db, "authn_login_fail_max", request=request, user=user, outcome="failure")
                result = CodeStepResult("restart", wait_seconds=wait, notices=notices)
            else:
                result = CodeStepResult(
                    "throttled" if wait else "invalid", wait_seconds=wait, notices=notices
                )
            email, language = user.email, user.language
        else:
            throttling.clear(db, key)
            new_token = sessions.create(
                ctx,
                db,
                user,
                Stage.SIGNED_IN,
                request,
                password_at=row.password_at,
                second_step_at=now,
                replacing=row,
                method=method,
            )
            device_token = None
            if remember_device and ctx.settings.remember_device_days > 0:
                device_token = devices.issue(ctx, db, user.id, request)
                audit.record(ctx, db, "authn_device_remembered", request=request, user=user)
                notices.append("new_device")
            _signed_in(user, now, method)
            audit.record(ctx, db, "authn_login_success", request=request, user=user, method=method)
            result = CodeStepResult("signed_in", token=new_token, device_token=device_token, notices=notices)
            email, language = user.email, user.language
    for notice in notices:
        notify.security_notice(
            ctx, email, language, notice, request, browser_label=devices.browser_summary(request.user_agent)
        )
    return result


def verify_method(
    ctx: Context, db: Session, user: User, row: WebSession, method: str, raw_code: str
) -> Verdict:
    if method == FactorKind.TOTP.value:
        return verify_totp(ctx, db, user.id, raw_code)
    from twostep.services import sent_codes

    return sent_codes.verify_sign_in_code(ctx, db, user, row, method, raw_code)


def choose_method(ctx: Context, token: str | None, method: str) -> bool:
    with ctx.db.transaction() as db:
        row = pending_session(ctx, db, token, Stage.SECOND_STEP)
        if row is None or method not in available_methods(db, row.user_id):
            return False
        row.method = method
        return True


def logout(ctx: Context, token: str | None, request: RequestInfo) -> None:
    with ctx.db.transaction() as db:
        row = sessions.load(ctx, db, token)
        if row is not None:
            user = db.get(User, row.user_id)
            db.delete(row)
            audit.record(ctx, db, "session_logout", request=request, user=user)
