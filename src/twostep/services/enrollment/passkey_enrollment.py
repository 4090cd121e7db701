"""Adding a passkey (``/enroll/passkey``, My account's "Add a passkey"): the same admission as every
method (``enrollment.admission``: re-authentication when the account has a method, the mailbox proof
before the first), then the browser's ceremony, then a confirmation that names it.

    options (JSON) --navigator.credentials.create()--> verify (JSON): the passkey is this session's
    enrollment in progress --form POST with its name--> confirmed (``enrollment.activate``: recovery
    codes for a first method, the "method added" notice, a new session id)

Two requests rather than one so that the confirmation is an ordinary form (its page shows the
recovery codes once, as for every method) and the name can be edited before it is saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from twostep.domain.factors import FactorKind
from twostep.domain.passkeys import clean_name
from twostep.services.core.context import Context, RequestInfo
from twostep.services.enrollment import enrollment
from twostep.services.enrollment.enrollment import ConfirmResult
from twostep.services.factors import passkey
from twostep.services.rollout.policy import allowed_methods

KIND = FactorKind.PASSKEY.value
Refusal = Literal["reauth", "mailbox", "ended", "unavailable"]


def offered(ctx: Context) -> bool:
    """Passkeys can work here (the RP ID is a domain) and the policy allows them."""
    return passkey.available(ctx) and KIND in allowed_methods(ctx)


def admitted(ctx: Context, token: str | None) -> Refusal | None:
    """None when this session may add a passkey now; else why not."""
    if not offered(ctx):
        return "unavailable"
    with ctx.db.transaction() as db:
        found = enrollment.enrolling_session(ctx, db, token)
        if found is None:
            return "ended"
        admitted = enrollment.admission(ctx, db, found[0])
        return None if admitted == "ok" else admitted


def options(ctx: Context, token: str | None) -> str | Refusal:
    """The registration options (JSON), bound to this session, or why not."""
    if not offered(ctx):
        return "unavailable"
    with ctx.db.transaction() as db:
        found = enrollment.enrolling_session(ctx, db, token)
        if found is None:
            return "ended"
        row, user = found
        admitted = enrollment.admission(ctx, db, row)
        if admitted != "ok":
            return admitted
        built = passkey.begin_registration(ctx, db, user, bound_to=row.id)
        return built if built is not None else "unavailable"


@dataclass(frozen=True)
class Verified:
    outcome: Literal["registered", "invalid", "expired", "not_allowed", "duplicate", "reauth", "mailbox", "ended",
                     "unavailable"]  # fmt: skip
    provider: str | None = None


def verify(ctx: Context, token: str | None, raw_credential: str, request: RequestInfo) -> Verified:
    """Check the browser's answer; the passkey becomes this session's enrollment in progress."""
    if not offered(ctx):
        return Verified("unavailable")
    with ctx.db.transaction() as db:
        found = enrollment.enrolling_session(ctx, db, token)
        if found is None:
            return Verified("ended")
        row, user = found
        admitted = enrollment.admission(ctx, db, row)
        if admitted != "ok":
            return Verified(admitted)
        result = passkey.finish_registration(ctx, db, user, raw_credential, bound_to=row.id, request=request)
        return Verified(result.outcome, provider=result.provider)


@dataclass(frozen=True)
class PendingPasskey:
    provider: str | None


def pending(ctx: Context, token: str | None) -> PendingPasskey | None:
    """This session's verified passkey waiting for its name, if any."""
    with ctx.db.transaction() as db:
        found = enrollment.enrolling_session(ctx, db, token)
        if found is None:
            return None
        factor = enrollment.pending_factor(ctx, db, found[0], KIND)
        return PendingPasskey(provider=factor.label or None) if factor is not None else None


def confirm(ctx: Context, token: str | None, raw_name: str, request: RequestInfo) -> ConfirmResult:
    """Name and confirm this session's verified passkey (``enrollment.activate``)."""
    with ctx.db.transaction() as db:
        found = enrollment.enrolling_session(ctx, db, token)
        if found is None:
            return ConfirmResult("no_session")
        row, user = found
        refused = enrollment.refusal(ctx, db, row)
        if refused is not None:
            return refused
        factor = enrollment.pending_factor(ctx, db, row, KIND)
        if factor is None:
            return ConfirmResult("expired")
        factor.label = clean_name(raw_name) or factor.label
        method = passkey.enrolled_session_method(db, factor.id)
        return enrollment.activate(ctx, db, row, user, factor, None, request, session_method=method)
