"""Wrong second-step codes: the one bookkeeping every caller shares.

Every second-step check (``second_step_check.check``: sign-in, the verification API, re-authentication, the
reset's second step, sign-in with a recovery code) calls ``second_step_failed`` for a wrong code, and
so does the recovery-codes download for each code it does not know. It counts
the failure on the account's throttle (``throttling.second_step_key``: one count across methods and
callers, reset only by a success) and applies the ceiling (``domain.throttle.at_ceiling``): from the
100th consecutive failure on, the authenticator the code was tried against is disabled
(``factors.disabled_at``) — not offered, not verified, not sent to — with an audit event
``authn_token_disabled`` and a mail to the owner. Recovery codes are never disabled (80 bits each,
and they are the way back).

Cheap on the verification API's hot path: nothing here runs unless a code was wrong, and the ceiling
costs one more statement only at the ceiling itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast

from sqlalchemy import Table, bindparam, update

from twostep.domain import throttle as throttle_rules
from twostep.domain.factors import FactorKind
from twostep.services.core import audit, devices, notify, throttling
from twostep.services.core.context import Context, RequestInfo
from twostep.storage.database import Executor, FastStatement, expire_loaded
from twostep.storage.models import Factor

#: What a recovery code's failure is counted as (never disabled).
RECOVERY_CODE = "recovery_code"
#: The methods that are authenticators of their own (a row in ``factors``) and can be disabled.
DISABLEABLE = frozenset(kind.value for kind in FactorKind)


class Owner(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def email(self) -> str: ...
    @property
    def language(self) -> str | None: ...


@dataclass(frozen=True)
class Failure:
    """``failures``: the account's consecutive count now; ``wait_seconds``: the delay it started;
    ``disabled``: the method this failure disabled ("" for none)."""

    failures: int
    wait_seconds: int
    disabled: str = ""


_FACTORS = cast(Table, Factor.__table__)
_DISABLE = FastStatement(
    update(_FACTORS)
    .where(
        _FACTORS.c.user_id == bindparam("user_id"),
        _FACTORS.c.kind == bindparam("kind"),
        _FACTORS.c.confirmed_at.is_not(None),
        _FACTORS.c.disabled_at.is_(None),
    )
    .values(disabled_at=bindparam("now"))
    .returning(_FACTORS.c.id)
)


def second_step_failed(
    ctx: Context, db: Executor, user: Owner, method: str, request: RequestInfo, now: datetime
) -> Failure:
    """Count one wrong second-step code for ``user`` (tried against ``method``) in the caller's
    transaction, and disable that method at the ceiling. ``Failure.disabled`` says so: the owner's
    mail (``disabled_notice``) is the caller's to send after the commit (``second_step_check.check`` does)."""
    key = throttling.second_step_key(user.id)
    failures = throttling.record_failure(db, key, now)
    disabled = ""
    if throttle_rules.at_ceiling(failures) and method in DISABLEABLE:
        ids = [row[0] for row in _DISABLE.execute(db, {"user_id": user.id, "kind": method, "now": now}).fetchall()]
        if ids:
            disabled = method
            audit.record(
                ctx,
                db,
                "authn_token_disabled",
                request=request,
                user=user,
                outcome="failure",
                reason="too_many_failures",
                method=method,
                failures=failures,
            )
            expire_loaded(db, Factor, ids, ["disabled_at"])  # a Factor already loaded must show it
    wait = throttle_rules.seconds_left(throttling.blocked_until(db, key), now)
    return Failure(failures, wait, disabled)


def disabled_notice(email: str, language: str | None, failures: int, request: RequestInfo) -> notify.Notice:
    """The owner's notice that a method was disabled, what it means and the way back."""
    return notify.Notice(
        email,
        language,
        "token_disabled",
        {"browser_label": devices.browser_summary(request.user_agent), "count": failures},
    )
