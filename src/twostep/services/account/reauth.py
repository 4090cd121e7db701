"""Re-authentication before a change to sign-in settings: the password again, then a real second step.

Checklist S-09, T-16, D-07: changing a method, a device, a session, the recovery codes or the password
needs a password check *and* a second step within the last five minutes. A remembered device never
counts (it only ever skipped the second step). Success rotates the session id (S-02) and stamps
``password_at`` and ``second_step_at`` on the new session; the old token stops working.

The progress between the two steps (when the password was confirmed, which method, how many failures)
lives server side in the session's ``data``, never in the form. Guessing is limited like sign-in: the
same per-account password and second-step counters, and five failures end the session outright.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from twostep.domain import throttle as throttle_rules
from twostep.domain.clock import as_utc
from twostep.domain.codes import CodePurpose
from twostep.domain.factors import FactorKind
from twostep.domain.login_flow import REAUTH_WINDOW, Stage
from twostep.domain.passkeys import Purpose
from twostep.services.core import accounts, audit, sessions, throttling
from twostep.services.core.context import Context, RequestInfo
from twostep.services.factors import passkey, sent_codes
from twostep.services.factors import registry as factor_registry
from twostep.services.factors.base import Proof
from twostep.services.signin import second_step_check
from twostep.storage.models import User, WebSession

Outcome = Literal["code", "done", "invalid", "replayed", "throttled", "restart", "password", "no_session"]

#: Methods that can confirm a re-authentication: the app's code, or a code we send (bound to this
#: session's id, so a code sent for a sign-in elsewhere never counts here).
#: How re-authentication's second-step checks read in the audit log.
REAUTH = second_step_check.Caller(detail={"step": "reauth_second"})
PASSKEY = FactorKind.PASSKEY.value


@dataclass(frozen=True)
class ReauthResult:
    outcome: Outcome
    token: str | None = None
    wait_seconds: int = 0
    method: str = ""  # the method a refused code was judged by


@dataclass(frozen=True)
class ReauthView:
    """What /account/reauth shows: which step, and for the code step which method."""

    email: str
    step: Literal["password", "code", "done"]
    method: str
    methods: list[str] = field(default_factory=list)
    wait_seconds: int = 0
    target_label: str = ""
    sent: bool = False  # a code went out for this re-authentication (email, SMS)
    resend_in: int = 0
    #: The account has a usable passkey: it confirms in one step (``confirm_passkey``).
    passkey: bool = False


def _data(row: WebSession) -> dict[str, Any]:
    try:
        value = json.loads(row.data or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _store(row: WebSession, data: dict[str, Any]) -> None:
    row.data = json.dumps(data, sort_keys=True)


def _signed_in(ctx: Context, db: Session, token: str | None) -> tuple[WebSession, User] | None:
    row = sessions.load(ctx, db, token)
    if row is None or row.stage != Stage.SIGNED_IN.value:
        return None
    user = db.get(User, row.user_id)
    return (row, user) if user is not None else None


def _password_key(ctx: Context, email: str) -> str:
    """The sign-in counter for this address: re-auth guesses and sign-in guesses add up."""
    return throttling.password_key(ctx.digester.digest(email, "email"))


def _password_confirmed_at(ctx: Context, row: WebSession) -> datetime | None:
    raw = _data(row).get("reauth_password_at")
    if not isinstance(raw, str):
        return None
    try:
        moment = as_utc(datetime.fromisoformat(raw))
    except ValueError:
        return None
    return moment if ctx.clock.now() - moment <= REAUTH_WINDOW else None


def usable_methods(db: Session, user_id: int) -> list[str]:
    return factor_registry.available_methods(db, user_id)


def code_methods(db: Session, user_id: int) -> list[str]:
    """The methods the password-then-code route can use (a passkey has its own one-step route)."""
    return [m for m in usable_methods(db, user_id) if factor_registry.ceremony(m) == "code"]


def _method(db: Session, row: WebSession, user: User) -> str | None:
    methods = code_methods(db, user.id)
    for candidate in (_data(row).get("reauth_method"), user.last_method):
        if candidate in methods:
            return str(candidate)
    return methods[0] if methods else None


def is_fresh(ctx: Context, db: Session, row: WebSession) -> bool:
    """May this session change sign-in settings right now?

    Normally: password and a real second step within five minutes. An account without any method
    (possible only where policy does not require two-step verification) has no second step to ask
    for, so a fresh password is all there is; a remembered device never counts either way.
    """
    if row.stage != Stage.SIGNED_IN.value:
        return False
    if sessions.reauthenticated_recently(ctx, row):
        return True
    if row.via_remembered_device or row.password_at is None:
        return False
    if accounts.confirmed_methods(db, row.user_id):
        return False
    return ctx.clock.now() - as_utc(row.password_at) <= REAUTH_WINDOW


def fresh(ctx: Context, token: str | None) -> bool:
    with ctx.db.transaction() as db:
        found = _signed_in(ctx, db, token)
        return found is not None and is_fresh(ctx, db, found[0])


def view(ctx: Context, token: str | None) -> ReauthView | None:
    with ctx.db.transaction() as db:
        found = _signed_in(ctx, db, token)
        if found is None:
            return None
        row, user = found
        if is_fresh(ctx, db, row):
            return ReauthView(email=user.email, step="done", method="")
        method = _method(db, row, user) or ""
        step: Literal["password", "code"] = "code" if _password_confirmed_at(ctx, row) and method else "password"
        wait_key = throttling.second_step_key(user.id) if step == "code" else _password_key(ctx, user.email)
        factor = sent_codes.confirmed_factor(db, user.id, method) if factor_registry.sends_code(method) else None
        last = sent_codes.last_sent(ctx, db, user.id, CodePurpose.SIGN_IN, row.id)
        return ReauthView(
            email=user.email,
            step=step,
            method=method,
            methods=code_methods(db, user.id),
            passkey=PASSKEY in usable_methods(db, user.id),
            wait_seconds=throttling.wait_seconds(db, wait_key, ctx.clock.now()),
            target_label=factor.label if factor is not None else "",
            sent=last.sent,
            resend_in=last.resend_in,
        )


def choose_method(ctx: Context, token: str | None, method: str) -> bool:
    with ctx.db.transaction() as db:
        found = _signed_in(ctx, db, token)
        if found is None or method not in code_methods(db, found[1].id):
            return False
        data = _data(found[0])
        data["reauth_method"] = method
        _store(found[0], data)
        return True


def _failed(
    ctx: Context, db: Session, row: WebSession, user: User, key: str, request: RequestInfo, step: str
) -> ReauthResult:
    """A wrong password here (a wrong code goes through ``second_step_check``)."""
    now = ctx.clock.now()
    failures = throttling.record_failure(db, key, now)
    wait = throttle_rules.seconds_left(throttling.blocked_until(db, key), now)
    audit.record(
        ctx, db, "authn_login_fail", request=request, user=user, outcome="failure", step=step, failures=failures
    )
    return _attempt_failed(ctx, db, row, user, request, step, wait)


def _attempt_failed(
    ctx: Context, db: Session, row: WebSession, user: User, request: RequestInfo, step: str, wait: int
) -> ReauthResult:
    """One more wrong answer inside this signed-in session."""
    data = _data(row)
    data["reauth_failures"] = int(data.get("reauth_failures", 0)) + 1
    if data["reauth_failures"] >= throttle_rules.ATTEMPTS_PER_PENDING_LOGIN:
        # Someone guessing inside a signed-in session loses the session (checklist T-11).
        db.delete(row)
        audit.record(ctx, db, "authn_login_fail_max", request=request, user=user, outcome="failure", step=step)
        return ReauthResult("restart", wait_seconds=wait)
    _store(row, data)
    return ReauthResult("throttled" if wait else "invalid", wait_seconds=wait)


def _complete(
    ctx: Context, db: Session, row: WebSession, user: User, password_at: datetime | None, method: str | None,
    request: RequestInfo,
) -> ReauthResult:
    now = ctx.clock.now()
    token = sessions.create(
        ctx,
        db,
        user,
        Stage.SIGNED_IN,
        request,
        password_at=password_at,
        second_step_at=now if method else None,
        via_remembered_device=False,
        replacing=row,
        method=method,
    )
    audit.record(ctx, db, "session_renewed", request=request, user=user, reason="reauth", method=method or "")
    return ReauthResult("done", token=token)


def confirm_password(ctx: Context, token: str | None, password: str, request: RequestInfo) -> ReauthResult:
    """Step one. The Argon2 check runs between transactions, as at sign-in."""
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        found = _signed_in(ctx, db, token)
        if found is None:
            return ReauthResult("no_session")
        row, user = found
        user_id, stored_hash = user.id, user.password_hash
        key = _password_key(ctx, user.email)
        wait = throttling.wait_seconds(db, key, now)
    if wait:
        return ReauthResult("throttled", wait_seconds=wait)
    ok = ctx.hashing.verify(stored_hash, password)
    with ctx.db.transaction() as db:
        found = _signed_in(ctx, db, token)
        if found is None or found[1].id != user_id:
            return ReauthResult("no_session")
        row, user = found
        if not ok or stored_hash is None or user.password_hash != stored_hash:
            return _failed(ctx, db, row, user, key, request, "reauth_password")
        throttling.clear(db, key)
        if not accounts.confirmed_methods(db, user.id):
            return _complete(ctx, db, row, user, now, None, request)
        data = _data(row)
        data["reauth_password_at"] = now.isoformat()
        _store(row, data)
        return ReauthResult("code")


def confirm_code(ctx: Context, token: str | None, raw_code: str, request: RequestInfo) -> ReauthResult:
    """Step two: one transaction, the one second-step check (throttle check → verify, consuming the
    step → counters → audit), then this session's own attempts."""
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        found = _signed_in(ctx, db, token)
        if found is None:
            return ReauthResult("no_session")
        row, user = found
        password_at = _password_confirmed_at(ctx, row)
        method = _method(db, row, user)
        if password_at is None or method is None:
            return ReauthResult("password")
        proof = Proof(row.id)
        checked = second_step_check.check(
            ctx, db, user, lambda: (method, factor_registry.verify(ctx, db, user, method, raw_code, proof)), request,
            REAUTH, now=now,
        )  # fmt: skip
        second_step_check.notices_after_commit(ctx, db, checked, request)
        if checked.accepted:
            return _complete(ctx, db, row, user, password_at, method, request)
        if not checked.method:  # throttled before the code was compared
            return ReauthResult("throttled", wait_seconds=checked.wait_seconds)
        failed = _attempt_failed(ctx, db, row, user, request, "reauth_second", checked.wait_seconds)
        if failed.outcome == "invalid" and checked.replayed:
            return ReauthResult("replayed", method=checked.method)
        return failed


def send_code(ctx: Context, token: str | None, request: RequestInfo) -> sent_codes.SendResult:
    """Send a code to the chosen email address or phone, only once the password step is done here
    (a stolen session alone can't make us send codes). Limits and delivery are sent_codes' own."""

    def prepare(db: Session) -> sent_codes.Prepared | sent_codes.SendResult:
        found = _signed_in(ctx, db, token)
        if found is None:
            return sent_codes.SendResult("no_session")
        row, user = found
        if _password_confirmed_at(ctx, row) is None:
            return sent_codes.SendResult("refused", problem="password")
        return sent_codes.prepare_second_step(ctx, db, user, _method(db, row, user), row.id, request)

    return sent_codes.send(ctx, request, prepare)


def passkey_options(ctx: Context, token: str | None) -> str | None:
    """Options for re-authenticating with a passkey (one step: a passkey with user verification is
    both factors, so no password first); None when the account has no usable passkey."""
    with ctx.db.transaction() as db:
        found = _signed_in(ctx, db, token)
        if found is None or PASSKEY not in usable_methods(db, found[1].id):
            return None
        row, user = found
        return passkey.begin_authentication(ctx, db, bound_to=row.id, purpose=Purpose.SECOND_STEP, user_id=user.id)


def confirm_passkey(ctx: Context, token: str | None, raw_credential: str, request: RequestInfo) -> ReauthResult:
    """Re-authenticate with a passkey: the one second-step check (throttle, verify with the
    challenge bound to this session, counters, audit), then a new session id whose ``method`` says
    passkey (``sessions.reauthenticated_recently`` counts it for five minutes)."""
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        found = _signed_in(ctx, db, token)
        if found is None:
            return ReauthResult("no_session")
        row, user = found
        if PASSKEY not in usable_methods(db, user.id):
            return ReauthResult("invalid")
        proof = Proof(row.id, request=request)
        checked = second_step_check.check(
            ctx, db, user, lambda: (PASSKEY, factor_registry.verify(ctx, db, user, PASSKEY, raw_credential, proof)),
            request, REAUTH, now=now,
        )  # fmt: skip
        second_step_check.notices_after_commit(ctx, db, checked, request)
        if checked.accepted:
            method = checked.session_method or PASSKEY
            return _complete(ctx, db, row, user, row.password_at, method, request)
        if not checked.method:
            return ReauthResult("throttled", wait_seconds=checked.wait_seconds)
        return _attempt_failed(ctx, db, row, user, request, "reauth_second", checked.wait_seconds)
