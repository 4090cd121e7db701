"""Password reset by an emailed code (the Kinamo page) that never bypasses the second step.

1. ``/password/forgot`` — the same answer and the same work whether or not the address has an
   account (checklist CR-01): a sealed *ticket* naming the typed address goes into a cookie, and
   that is all the answer waits for; the account look-up, the limits, the code and the mail come
   after the response, so its latency tells nothing (tests/core/test_timing.py measures it).
   Limited per account, per address and per client address (CR-10), plus a 60-second cooldown per
   address; a refused request gets the very same answer and sends nothing.
2. ``/password/reset`` — the 8-character code (10 minutes, single use, stored as a keyed digest,
   5 wrong tries; every failure also counts on a per-address throttle) plus the new password,
   checked against the password rules before the code is spent.
3. An account with two-step verification changes nothing yet (CR-06, Keycloak #12759): a
   ``RESET_SECOND_STEP`` session keeps the new password's *hash* until a second step that is not
   the sign-in inbox passes — authenticator app, SMS, the separate 2FA address, or a recovery
   code. Five wrong tries end it.
4. Then the password changes, every session and remembered device is revoked (CR-08, D-05) and a
   notice goes to the sign-in address. An account without two-step verification is signed in by
   nobody (CR-07: the emailed code is all it proved). An account that has just passed a real second
   step is signed in through the one sign-in completion (``completion.complete_sign_in``, a new
   session id, ``authn_login_success`` with ``via=reset``): it proved the mailbox, chose the
   password it now knows and passed the same second step a sign-in asks for, so a second sign-in
   would only ask for the same again (issue 18: three pages, one app code). This is a deliberate,
   documented deviation from the cheat sheet's "don't log the user in" (docs/security.md).
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from twostep.domain import throttle as throttle_rules
from twostep.domain.clock import as_utc
from twostep.domain.codes import (
    CODE_LIFETIME,
    MAX_WRONG_TRIES_PER_CODE,
    CodePurpose,
    new_reset_code,
    normalize_reset_code,
)
from twostep.domain.factors import FactorKind
from twostep.domain.login_flow import Stage
from twostep.domain.passkeys import Purpose
from twostep.domain.sealing import SealError
from twostep.services.core import accounts, audit, notify, rate_limits, sessions, throttling
from twostep.services.core.context import Context, RequestInfo
from twostep.services.enrollment.oob_enrollment import mailbox_key
from twostep.services.factors import passkey, recovery, sent_codes
from twostep.services.factors import registry as factor_registry
from twostep.services.factors.base import Proof
from twostep.services.factors.sent_codes import SendResult
from twostep.services.signin import completion, second_step_check
from twostep.storage.models import OneTimeCode, User, WebSession

log = logging.getLogger("twostep.reset")

TICKET_LIFETIME = timedelta(minutes=30)
_TICKET_OWNER = "password-reset-ticket"
_TICKET_PADDING = 360  # > 254 (longest address) + the JSON around it
_RESET_ALPHABET = frozenset("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
RECOVERY = "recovery"
#: How the reset's second-step checks read in the audit log.
RESET = second_step_check.Caller(fail_event="authn_password_change_fail", reason="bad_second_step", detail={})

ResetOutcome = Literal[
    "done",
    "signed_in",
    "replayed",
    "second_step",
    "invalid",
    "throttled",
    "no_ticket",
    "mismatch",
    "password_problem",
    "restart",
    "no_session",
    "no_method",
]


@dataclass(frozen=True)
class PendingMail:
    """A reset code to mail (made after the answer has gone out)."""

    to: str
    language: str
    code: str
    code_id: int
    user_id: int
    cooldown_key: str
    cooldown_until: int


@dataclass(frozen=True)
class PendingReset:
    """What ``/password/forgot`` leaves for after its answer: the typed address, whatever it is."""

    email: str


@dataclass(frozen=True)
class ResetRequest:
    """``mail`` is always set, for known and unknown addresses alike: the caller hands it to
    ``deliver_reset_mail`` after the response (the name is kept from when it was only set for an
    existing account)."""

    ticket: str
    mail: PendingReset | None = None


@dataclass(frozen=True)
class ResetResult:
    """``signed_in``: the password changed after a real second step, and ``token`` is the new
    signed-in session (``continue_to`` where the browser goes)."""

    outcome: ResetOutcome
    token: str | None = None
    problem: str = ""
    wait_seconds: int = 0
    method: str = ""
    continue_to: str = completion.DEFAULT_TARGET


@dataclass(frozen=True)
class SecondStepView:
    method: str
    methods: list[str] = field(default_factory=list)
    target_label: str = ""
    recovery_left: int = 0
    wait_seconds: int = 0
    sent: bool = False  # a code went out for this step (email, SMS)
    resend_in: int = 0
    email: str = ""  # the account being reset (named on the page: "Not you?")


# --- the ticket: which address this browser asked about --------------------------------------


def make_ticket(ctx: Context, email: str) -> str:
    payload = json.dumps({"e": email, "t": int(ctx.clock.now().timestamp())})
    payload = payload.ljust(_TICKET_PADDING)  # every ticket has the same length, whatever the address
    return base64.urlsafe_b64encode(ctx.sealer.seal(payload, _TICKET_OWNER)).decode().rstrip("=")


def ticket_email(ctx: Context, ticket: str | None) -> str | None:
    """The address typed at /password/forgot, if the ticket is ours and not older than 30 minutes."""
    if not ticket or len(ticket) > 2000:
        return None
    try:
        sealed = base64.urlsafe_b64decode(ticket + "=" * (-len(ticket) % 4))
        payload = json.loads(ctx.sealer.open(sealed, _TICKET_OWNER))
        email, issued = str(payload["e"]), int(payload["t"])
    except (ValueError, KeyError, TypeError, SealError):
        return None
    age = ctx.clock.now().timestamp() - issued
    if age < 0 or age > TICKET_LIFETIME.total_seconds():
        return None
    return email


# --- step 1: asking for a code ----------------------------------------------------------------


def _code_digest(ctx: Context, user_id: int, code: str) -> str:
    return ctx.digester.digest(f"{user_id}:{normalize_reset_code(code)}", "reset")


def _address_digest(ctx: Context, email: str) -> str:
    return ctx.digester.digest(email, "email")


def request_reset(ctx: Context, email: str, request: RequestInfo) -> ResetRequest:
    """``email`` is already normalised. The answer's part: only the ticket, the same work for every
    address (checklist CR-01, X-18: no database read, so no timing difference). Everything that
    depends on whether the address has an account — the limits, the code, the audit event, the
    mail — happens in ``deliver_reset_mail``, after the response has gone out."""
    return ResetRequest(ticket=make_ticket(ctx, email), mail=PendingReset(email=email))


def _prepare_reset(ctx: Context, email: str, request: RequestInfo) -> PendingMail | None:
    """Limits, a new code and the audit event, in one transaction; the mail to send, if any."""
    now = ctx.clock.now()
    address = _address_digest(ctx, email)
    code = new_reset_code()
    mail: PendingMail | None = None
    with ctx.db.transaction() as db:
        user = db.scalar(select(User).where(User.email == email))
        account_key = f"reset:acct:{user.id}" if user is not None else f"reset:acct:?{address[:32]}"
        limits = rate_limits.store(ctx)
        cooldown_key = f"reset:{address[:40]}"
        cooldown = limits.start_cooldown(db, cooldown_key, rate_limits.RESET_COOLDOWN_SECONDS, now)
        rules = [
            rate_limits.Rule(account_key, rate_limits.RESETS_PER_ACCOUNT_PER_HOUR),
            rate_limits.Rule(f"reset:addr:{address[:40]}", rate_limits.RESETS_PER_ADDRESS_PER_HOUR),
        ]
        if request.ip:
            rules.append(rate_limits.Rule(f"reset:ip:{request.ip}", rate_limits.RESETS_PER_IP_PER_HOUR))
        decision = rate_limits.check(ctx, db, rules)
        if cooldown.started and not decision.allowed:
            limits.end_cooldown(db, cooldown_key, cooldown.until)
        allowed = cooldown.started and decision.allowed
        digest = _code_digest(ctx, user.id if user is not None else 0, code)
        reason = "" if allowed else ("cooldown" if not cooldown.started else "rate_limited")
        if user is not None and allowed:
            _void_reset_codes(db, user.id, now)
            row = OneTimeCode(
                user_id=user.id,
                factor_id=None,
                purpose=CodePurpose.PASSWORD_RESET.value,
                code_digest=digest,
                bound_to="",
                created_at=now,
                expires_at=now + CODE_LIFETIME,
                used_at=None,
                voided_at=None,
                wrong_tries=0,
            )
            db.add(row)
            db.flush()
            mail = PendingMail(
                to=user.email,
                language=notify.language_of(ctx, user.language),
                code=code,
                code_id=row.id,
                user_id=user.id,
                cooldown_key=cooldown_key,
                cooldown_until=cooldown.until,
            )
        audit.record(
            ctx,
            db,
            "authn_password_reset_request",
            request=request,
            user=user,
            outcome="success" if mail is not None else "failure",
            reason=reason if user is not None else "unknown_account",
            address=address[:12],
        )
    return mail


def deliver_reset_mail(ctx: Context, pending: PendingReset, request: RequestInfo) -> None:
    """Runs after the response: the limits, the code and the mail for an existing account, the
    limits and the audit event for any address. A failure can't be shown (that would reveal the
    account): it is logged and audited, the code voided and the cooldown given back so asking again
    works. Never raises (it runs where nobody could be told)."""
    try:
        mail = _prepare_reset(ctx, pending.email, request)
    except Exception:
        log.exception("password reset request not recorded")
        return
    if mail is not None:
        _send_reset_mail(ctx, mail, request)


def _send_reset_mail(ctx: Context, mail: PendingMail, request: RequestInfo) -> None:
    try:
        sent_codes.deliver(ctx, "email", mail.to, mail.code, mail.language, CodePurpose.PASSWORD_RESET)
    except sent_codes.DeliveryFailed as failure:
        log.warning("password reset code not delivered: %s", failure)
        with ctx.db.transaction() as db:
            sent_codes.void(db, mail.code_id, ctx.clock.now())
            rate_limits.store(ctx).end_cooldown(db, mail.cooldown_key, mail.cooldown_until)
            audit.record(
                ctx,
                db,
                "authn_code_send_fail",
                request=request,
                user=db.get(User, mail.user_id),
                outcome="failure",
                method="email",
                purpose=CodePurpose.PASSWORD_RESET.value,
                attempts=failure.attempts,
            )


def _void_reset_codes(db: Session, user_id: int, now: object) -> None:
    db.execute(
        update(OneTimeCode)
        .where(
            OneTimeCode.user_id == user_id,
            OneTimeCode.purpose == CodePurpose.PASSWORD_RESET.value,
            OneTimeCode.used_at.is_(None),
            OneTimeCode.voided_at.is_(None),
        )
        .values(voided_at=now)
    )


# --- step 2: the code and the new password ----------------------------------------------------


def _reset_key(ctx: Context, email: str) -> str:
    return f"reset:{_address_digest(ctx, email)[:40]}"


def _check_code(ctx: Context, db: Session, user: User | None, raw_code: str) -> bool:
    """Compare-and-set on ``used_at IS NULL``: a code changes one password, once."""
    if user is None:
        return False
    row = db.scalar(
        select(OneTimeCode)
        .where(
            OneTimeCode.user_id == user.id,
            OneTimeCode.purpose == CodePurpose.PASSWORD_RESET.value,
            OneTimeCode.voided_at.is_(None),
        )
        .order_by(OneTimeCode.id.desc())
        .limit(1)
    )
    if row is None or row.used_at is not None:
        return False
    code = normalize_reset_code(raw_code)
    well_formed = len(code) == 8 and set(code) <= _RESET_ALPHABET
    alive = as_utc(row.expires_at) > ctx.clock.now() and row.wrong_tries < MAX_WRONG_TRIES_PER_CODE
    if not (well_formed and alive and ctx.digester.matches(f"{user.id}:{code}", row.code_digest, "reset")):
        row.wrong_tries += 1
        return False
    consumed = db.execute(
        update(OneTimeCode)
        .where(OneTimeCode.id == row.id, OneTimeCode.used_at.is_(None))
        .values(used_at=ctx.clock.now())
    )
    return bool(consumed.rowcount)  # type: ignore[attr-defined]


def confirm_code(
    ctx: Context,
    ticket: str | None,
    raw_code: str,
    password: str,
    password_confirm: str,
    *,
    current_token: str | None,
    request: RequestInfo,
) -> ResetResult:
    email = ticket_email(ctx, ticket)
    if email is None:
        return ResetResult("no_ticket")
    if password != password_confirm:
        return ResetResult("mismatch")
    try:
        accounts.check_new_password(ctx, password, email)
    except accounts.AccountError as error:
        return ResetResult("password_problem", problem=error.code)
    now = ctx.clock.now()
    key = _reset_key(ctx, email)
    with ctx.db.transaction() as db:
        wait = throttling.wait_seconds(db, key, now)
        if wait:
            return ResetResult("throttled", wait_seconds=wait)
        user = db.scalar(select(User).where(User.email == email))
        if not _check_code(ctx, db, user, raw_code):
            failures = throttling.record_failure(db, key, now)
            audit.record(
                ctx,
                db,
                "authn_password_change_fail",
                request=request,
                user=user,
                outcome="failure",
                reason="bad_reset_code",
                failures=failures,
            )
            wait = throttle_rules.seconds_left(throttling.blocked_until(db, key), now)
            return ResetResult("throttled" if wait else "invalid", wait_seconds=wait)
        assert user is not None
        throttling.clear(db, key)
        user_id = user.id
        needs_second_step = bool(accounts.confirmed_methods(db, user.id))
    new_hash = ctx.hashing.hash(password)  # between transactions: a slow hash holds no lock
    with ctx.db.transaction() as db:
        user = db.get(User, user_id)
        if user is None:
            return ResetResult("invalid")
        if not needs_second_step:
            _apply(ctx, db, user, new_hash, request, second_step="none")
            return ResetResult("done")
        current = sessions.load(ctx, db, current_token)
        token = sessions.create(ctx, db, user, Stage.RESET_SECOND_STEP, request, replacing=current)
        db.flush()
        row = db.get(WebSession, sessions.session_id(ctx, token))
        assert row is not None
        row.data = json.dumps({"password_hash": new_hash})
        audit.record(ctx, db, "authn_password_reset_code_ok", request=request, user=user, next="second_step")
        return ResetResult("second_step", token=token)


# --- step 3: the second step (never the sign-in inbox) ----------------------------------------


PASSKEY = FactorKind.PASSKEY.value


def second_step_methods(ctx: Context, db: Session, user: User) -> list[str]:
    """A passkey, the app, SMS, the separate 2FA address (if it really is another mailbox), recovery
    codes: every second step a sign-in offers, except a code sent to the sign-in mailbox."""
    methods: list[str] = []
    for kind in factor_registry.available_methods(db, user.id):
        if factor_registry.delivers_to_mailbox(kind):
            factor = sent_codes.confirmed_factor(db, user.id, kind)
            if factor is None or mailbox_key(sent_codes.open_target(ctx, factor)) == mailbox_key(user.email):
                continue
        methods.append(kind)
    if recovery.remaining(db, user.id):
        methods.append(RECOVERY)
    return methods


def chosen_method(ctx: Context, db: Session, user: User, row: WebSession) -> str | None:
    methods = second_step_methods(ctx, db, user)
    for candidate in (row.method, user.last_method):
        if candidate in methods:
            return candidate
    return methods[0] if methods else None


def _pending(ctx: Context, db: Session, token: str | None) -> tuple[WebSession, User] | None:
    row = sessions.pending(ctx, db, token, Stage.RESET_SECOND_STEP)
    user = db.get(User, row.user_id) if row is not None else None
    return (row, user) if row is not None and user is not None else None


def second_step_view(ctx: Context, token: str | None) -> SecondStepView | None:
    with ctx.db.transaction() as db:
        found = _pending(ctx, db, token)
        if found is None:
            return None
        row, user = found
        methods = second_step_methods(ctx, db, user)
        method = chosen_method(ctx, db, user, row) or ""
        factor = sent_codes.confirmed_factor(db, user.id, method) if factor_registry.sends_code(method) else None
        last = sent_codes.last_sent(ctx, db, user.id, CodePurpose.SIGN_IN, row.id)
        return SecondStepView(
            method=method,
            methods=methods,
            target_label=factor.label if factor is not None else "",
            recovery_left=recovery.remaining(db, user.id),
            wait_seconds=throttling.wait_seconds(db, throttling.second_step_key(user.id), ctx.clock.now()),
            sent=last.sent,
            resend_in=last.resend_in,
            email=user.email,
        )


def choose_method(ctx: Context, token: str | None, method: str) -> bool:
    with ctx.db.transaction() as db:
        found = _pending(ctx, db, token)
        if found is None or method not in second_step_methods(ctx, db, found[1]):
            return False
        found[0].method = method
        return True


def send_code(ctx: Context, token: str | None, request: RequestInfo) -> SendResult:
    return sent_codes.send_for_session(
        ctx, token, request, stage=Stage.RESET_SECOND_STEP, choose=partial(chosen_method, ctx)
    )


def passkey_options(ctx: Context, token: str | None) -> str | None:
    """Options for answering this pending reset's second step with a passkey (the challenge is bound
    to the pending reset); None when the account has no usable passkey."""
    with ctx.db.transaction() as db:
        found = _pending(ctx, db, token)
        if found is None or PASSKEY not in second_step_methods(ctx, db, found[1]):
            return None
        row, user = found
        return passkey.begin_authentication(ctx, db, bound_to=row.id, purpose=Purpose.SECOND_STEP, user_id=user.id)


def confirm_passkey(ctx: Context, token: str | None, raw_credential: str, request: RequestInfo) -> ResetResult:
    """The second step answered with a passkey (``/webauthn/authenticate/verify``, purpose ``reset``)."""
    return _confirm(ctx, token, raw_credential, request, passkey_answer=True)


def confirm_second_step(ctx: Context, token: str | None, raw_code: str, request: RequestInfo) -> ResetResult:
    """The second step answered with a code (the method chosen on the page)."""
    return _confirm(ctx, token, raw_code, request, passkey_answer=False)


def _confirm(
    ctx: Context, token: str | None, answer: str, request: RequestInfo, *, passkey_answer: bool
) -> ResetResult:
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        found = _pending(ctx, db, token)
        if found is None:
            return ResetResult("no_session")
        row, user = found
        if passkey_answer:
            method = PASSKEY if PASSKEY in second_step_methods(ctx, db, user) else None
        else:
            method = chosen_method(ctx, db, user, row)
            if method == PASSKEY:  # a code posted while the page offers the passkey: nothing to compare
                return ResetResult("invalid", method=PASSKEY)
        if method is None:
            return ResetResult("no_method")
        proof = Proof(row.id, request=request)
        checked = second_step_check.check(
            ctx, db, user, lambda: (method, factor_registry.verify(ctx, db, user, method, answer, proof)), request,
            RESET, now=now,
        )  # fmt: skip
        second_step_check.notices_after_commit(ctx, db, checked, request)
        if not checked.accepted:
            if not checked.method:  # throttled before the code was compared
                return ResetResult("throttled", wait_seconds=checked.wait_seconds)
            row.code_attempts += 1
            wait = checked.wait_seconds
            if row.code_attempts >= throttle_rules.ATTEMPTS_PER_PENDING_LOGIN:
                db.delete(row)
                return ResetResult("restart", wait_seconds=wait)
            failed: ResetOutcome = "throttled" if wait else ("replayed" if checked.replayed else "invalid")
            return ResetResult(failed, wait_seconds=wait, method=checked.method)
        try:
            new_hash = str(json.loads(row.data or "{}")["password_hash"])
        except (ValueError, KeyError, TypeError):
            db.delete(row)
            return ResetResult("no_session")
        left = recovery.remaining(db, user.id) if method == RECOVERY else None
        _apply(ctx, db, user, new_hash, request, second_step=method, recovery_left=left)
        # Every session is gone (the pending one too): the signed-in one is new (S-02).
        detail: dict[str, Any] = {"recovery_codes_left": left} if left is not None else {}
        done = completion.complete_sign_in(
            ctx,
            db,
            user,
            request,
            replacing=None,
            password_at=now,
            method="recovery_code" if method == RECOVERY else method,
            sign_in_method=method != RECOVERY,
            session_method=checked.session_method,  # a synced passkey: amr says so
            via="reset",
            **detail,
        )
        return ResetResult("signed_in", token=done.token, method=method, continue_to=done.continue_to)


def cancel(ctx: Context, token: str | None) -> None:
    """A new /password/forgot request, or "Not you?" on the second step, ends this browser's unfinished reset."""
    with ctx.db.transaction() as db:
        row = sessions.pending(ctx, db, token, Stage.RESET_SECOND_STEP)
        if row is not None:
            db.delete(row)


# --- step 4: the change itself ----------------------------------------------------------------


def _apply(
    ctx: Context,
    db: Session,
    user: User,
    new_hash: str,
    request: RequestInfo,
    *,
    second_step: str,
    recovery_left: int | None = None,
) -> None:
    """Set the password; sign out everywhere, forget remembered devices, tell the owner (CR-08)."""
    now = ctx.clock.now()
    user.password_hash = new_hash
    user.password_changed_at = now
    user.password_imported = False  # the hash is ours now (services.importer must not replace it)
    sessions.destroy_all(db, user.id)
    accounts.revoke_remembered_devices(db, user.id)
    _void_reset_codes(db, user.id, now)
    throttling.clear(db, throttling.password_key(_address_digest(ctx, user.email)))
    audit.record(ctx, db, "authn_password_change", request=request, user=user, via="reset", second_step=second_step)
    notify.tell_owner_after_commit(ctx, db, user, "password_reset", request, recovery_left=recovery_left)


# --- invitations: the same code, issued by an administrator ---------------------------------------


def issue_set_password_code(ctx: Context, db: Session, user: User, expires_at: datetime) -> str:
    """A new reset code for ``user`` that works until ``expires_at`` (an invitation's lifetime, not
    ten minutes), inside the caller's transaction; earlier unused codes stop working. The invited
    person enters it on ``/password/reset`` like any reset code (services.reset.invitation)."""
    now = ctx.clock.now()
    code = new_reset_code()
    _void_reset_codes(db, user.id, now)
    db.add(
        OneTimeCode(
            user_id=user.id,
            factor_id=None,
            purpose=CodePurpose.PASSWORD_RESET.value,
            code_digest=_code_digest(ctx, user.id, code),
            bound_to="",
            created_at=now,
            expires_at=expires_at,
            used_at=None,
            voided_at=None,
            wrong_tries=0,
        )
    )
    return code


def void_set_password_codes(ctx: Context, db: Session, user_id: int) -> None:
    """Withdraws every unused reset or invitation code of the account."""
    _void_reset_codes(db, user_id, ctx.clock.now())
