"""Signing in with a passkey alone (no password, no code), when the policy allows it.

The passkey is both factors: something you have (the authenticator's private key, bound to our
origin, so a look-alike site gets nothing it can replay) and something you are or know (user
verification on the authenticator, required). The session records ``amr`` ``hwk``/``swk`` +
``user`` (``domain.amr``) and ends through the one completion (``completion.complete_sign_in``);
a remembered device plays no part (it only ever skips a second step, and there is none to skip).

The challenge is bound to the browser before sign-in (its pre-session cookie) and to this purpose,
so an assertion made for a second step, a re-authentication or another browser never signs in here.

Failures are audited (``authn_login_fail`` ``step=passkey``) but not counted against the account's
throttle: a forged assertion can't pass (no guessing), and counting them would let anyone who
knows a credential id lock its owner out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from twostep.domain.passkeys import Purpose
from twostep.services.core import audit, rate_limits, sessions
from twostep.services.core.context import Context, RequestInfo
from twostep.services.factors import passkey
from twostep.services.rollout import policy
from twostep.services.signin import completion
from twostep.storage.models import User

Outcome = Literal["signed_in", "invalid", "not_allowed", "unavailable"]


@dataclass(frozen=True)
class PasswordlessResult:
    outcome: Outcome
    token: str | None = None
    continue_to: str = completion.DEFAULT_TARGET


def allowed(ctx: Context) -> bool:
    """Passwordless sign-in is on (the rollout policy's ``passkey_sign_in``) and passkeys can work here."""
    return ctx.settings.passkey_sign_in and passkey.available(ctx)


#: Passwordless options per client address and minute: each stores a challenge for five minutes
#: before anyone is signed in, so the rows one address can make are bounded (autofill asks once per
#: /login page view; a whole office behind one address stays far below this).
OPTIONS_PER_IP_PER_MINUTE = 600


@dataclass(frozen=True)
class Options:
    options: str | None = None
    retry_after: int = 0


def options(ctx: Context, *, bound_to: str, request: RequestInfo) -> Options:
    """Options for a discoverable-credential ceremony (the button, or autofill)."""
    if not allowed(ctx):
        return Options()
    with ctx.db.transaction() as db:
        if request.ip:
            rule = rate_limits.Rule(f"webauthn:ip:{request.ip}", OPTIONS_PER_IP_PER_MINUTE, 60)
            decision = rate_limits.check(ctx, db, [rule])
            if not decision.allowed:
                return Options(retry_after=decision.retry_after)
        return Options(passkey.begin_authentication(ctx, db, bound_to=bound_to, purpose=Purpose.SIGN_IN, user_id=None))


def sign_in(
    ctx: Context,
    raw_credential: str,
    *,
    bound_to: str,
    current_token: str | None,
    request: RequestInfo,
    continue_to: str | None = None,
) -> PasswordlessResult:
    """One transaction: the policy (read now), the assertion (``passkey.check_assertion``), the
    completion."""
    with ctx.db.transaction() as db:
        if not policy.current(ctx, db).passkey_sign_in or not passkey.available(ctx):
            return PasswordlessResult("not_allowed")
        checked = passkey.check_assertion(
            ctx, db, raw_credential, bound_to=bound_to, purpose=Purpose.SIGN_IN, request=request
        )
        user = db.get(User, checked.user_id) if checked.user_id is not None else None
        if not checked.accepted or user is None:
            event = "authn_token_reuse" if checked.outcome == "replayed" else "authn_login_fail"
            audit.record(
                ctx, db, event, request=request, user=user, outcome="failure", step="passkey",
                method=passkey.KIND, reason=checked.reason,
            )  # fmt: skip
            return PasswordlessResult("invalid")
        current = sessions.load(ctx, db, current_token)
        done = completion.complete_sign_in(
            ctx,
            db,
            user,
            request,
            replacing=current,
            password_at=None,
            method=passkey.KIND,
            session_method=checked.session_method,
            continue_to=completion.continue_target(ctx, continue_to),
            via="passkey",
        )
        return PasswordlessResult("signed_in", token=done.token, continue_to=done.continue_to)
