"""Signing in: the password step, then the second step, each a small transaction.

The Argon2 check runs between transactions so that a slow hash never holds a database lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.orm import Session

from twostep.domain import rollout
from twostep.domain import throttle as throttle_rules
from twostep.domain.emails import looks_like_email, normalize_email
from twostep.domain.factors import FactorKind
from twostep.domain.login_flow import Stage, stage_after_password
from twostep.domain.passkeys import Purpose
from twostep.services.core import accounts, audit, devices, sessions, throttling
from twostep.services.core.context import Context, RequestInfo
from twostep.services.factors import passkey, sent_codes
from twostep.services.factors import registry as factor_registry
from twostep.services.factors.base import Proof
from twostep.services.rollout import policy
from twostep.services.signin import completion, second_step_check
from twostep.storage.models import User, WebSession

PasswordOutcome = Literal["signed_in", "second_step", "enroll", "remind", "invalid", "throttled", "not_email"]
PASSKEY = FactorKind.PASSKEY.value
CodeOutcome = Literal["signed_in", "invalid", "replayed", "throttled", "restart", "no_session", "no_method"]


@dataclass(frozen=True)
class PasswordStepResult:
    outcome: PasswordOutcome
    token: str | None = None
    wait_seconds: int = 0
    continue_to: str = completion.DEFAULT_TARGET


@dataclass(frozen=True)
class CodeStepResult:
    outcome: CodeOutcome
    token: str | None = None
    device_token: str | None = None
    wait_seconds: int = 0
    notices: list[str] = field(default_factory=list)
    continue_to: str = completion.DEFAULT_TARGET
    method: str = ""  # the method the code was judged by (what "this code was just used" is about)


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
    continue_to: str | None = None,
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
        return _after_password(ctx, db, user, device_token, current_token, request, continue_to)


def _after_password(
    ctx: Context,
    db: Session,
    user: User,
    device_token: str | None,
    current_token: str | None,
    request: RequestInfo,
    continue_to: str | None = None,
) -> PasswordStepResult:
    """``continue_to``: where the browser asked to go after sign-in (``completion.continue_target``
    validates it; the pending session carries it to the completion)."""
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
    target = completion.continue_target(ctx, continue_to)
    if stage is Stage.SIGNED_IN:
        done = completion.complete_sign_in(
            ctx,
            db,
            user,
            request,
            replacing=current,
            password_at=now,
            remembered=device,
            continue_to=target,
            via="remembered_device" if device is not None else "password_only",
        )
        remind = decision is not None and decision.verdict is rollout.Verdict.REMIND
        return PasswordStepResult("remind" if remind else "signed_in", token=done.token, continue_to=done.continue_to)
    token = sessions.create(
        ctx,
        db,
        user,
        stage,
        request,
        password_at=now,
        replacing=current,
        data={completion.DATA_KEY: target} if target else None,
    )
    audit.record(ctx, db, "authn_password_ok", request=request, user=user, next=stage.value)
    return PasswordStepResult("second_step" if stage is Stage.SECOND_STEP else "enroll", token=token)


#: Kept for callers outside the services (tests): ``sessions.pending``.
pending_session = sessions.pending


def available_methods(db: Session, user_id: int) -> list[str]:
    """The methods a second step may use now: confirmed and not disabled (``guesses``), strongest first."""
    return factor_registry.available_methods(db, user_id)


def chosen_method(db: Session, user: User, row: WebSession) -> str | None:
    methods = available_methods(db, user.id)
    for candidate in (row.method, user.last_method):
        if candidate in methods:
            return candidate
    return methods[0] if methods else None


def second_step(
    ctx: Context,
    token: str | None,
    raw_code: str,
    *,
    remember_device: bool,
    request: RequestInfo,
    method: str | None = None,
) -> CodeStepResult:
    """``method``: the method the browser answered with (a passkey's ceremony), if it is one of the
    account's; else the chosen one.

    One transaction: the one second-step check (``second_step_check.check``: throttle check → verify →
    consume → counters → audit), then this pending sign-in's own attempts, or the signed-in session."""
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        row = sessions.pending(ctx, db, token, Stage.SECOND_STEP)
        if row is None:
            return CodeStepResult("no_session")
        user = db.get(User, row.user_id)
        if user is None:
            return CodeStepResult("no_session")
        used = method if method in available_methods(db, user.id) else chosen_method(db, user, row)
        if used is None:
            return CodeStepResult("no_method")
        proof = Proof(bound_to=row.id, request=request)
        checked = second_step_check.check(
            ctx, db, user, lambda: (used, factor_registry.verify(ctx, db, user, used, raw_code, proof)), request,
            now=now,
        )  # fmt: skip
        second_step_check.notices_after_commit(ctx, db, checked, request)
        notices = [notice.event for notice in checked.notices]
        if checked.outcome == "throttled" and not checked.method:
            return CodeStepResult("throttled", wait_seconds=checked.wait_seconds)
        if not checked.accepted:
            row.code_attempts += 1
            wait = checked.wait_seconds
            if row.code_attempts >= throttle_rules.ATTEMPTS_PER_PENDING_LOGIN:
                db.delete(row)
                audit.record(ctx, db, "authn_login_fail_max", request=request, user=user, outcome="failure")
                return CodeStepResult("restart", wait_seconds=wait, notices=notices)
            failed: CodeOutcome = "throttled" if wait else ("replayed" if checked.replayed else "invalid")
            return CodeStepResult(failed, wait_seconds=wait, notices=notices, method=checked.method)
        done = completion.complete_sign_in(
            ctx,
            db,
            user,
            request,
            replacing=row,
            password_at=row.password_at,
            method=used,
            remember_device=remember_device,
            session_method=checked.session_method,
        )
        return CodeStepResult(
            "signed_in",
            token=done.token,
            device_token=done.device_token,
            notices=[*notices, *done.notices],
            continue_to=done.continue_to,
        )


def choose_method(ctx: Context, token: str | None, method: str) -> bool:
    with ctx.db.transaction() as db:
        row = sessions.pending(ctx, db, token, Stage.SECOND_STEP)
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


def send_sign_in_code(
    ctx: Context, token: str | None, request: RequestInfo, *, at_once_only: bool = False
) -> sent_codes.SendResult:
    """``POST /login/code/send``; right after the password step with ``at_once_only`` (only a method
    whose codes go out at once, ``FactorSpec.sent_at_once``: email, as the Kintone page needs)."""

    def choose(db: Session, user: User, row: WebSession) -> str | None:
        method = chosen_method(db, user, row)
        return method if not at_once_only or factor_registry.sent_at_once(method) else None

    return sent_codes.send_for_session(ctx, token, request, stage=Stage.SECOND_STEP, choose=choose)


def passkey_options(ctx: Context, token: str | None) -> str | None:
    """Options for answering this pending sign-in's second step with a passkey (its challenge is bound
    to the pending session); None when the account has no usable passkey."""
    with ctx.db.transaction() as db:
        row = sessions.pending(ctx, db, token, Stage.SECOND_STEP)
        if row is None or PASSKEY not in available_methods(db, row.user_id):
            return None
        return passkey.begin_authentication(
            ctx, db, bound_to=row.id, purpose=Purpose.SECOND_STEP, user_id=row.user_id
        )
