"""The authenticator-app factor (RFC 6238 TOTP): verify a code against the account's confirmed
authenticators and consume its step with a compare-and-set, so a code is accepted once.

Nothing is sent (the app computes the code); enrollment is ``services.enrollment`` (``/enroll/totp``);
the label is the entry the app shows (issuer and account). The verification API's hot path uses the
two halves (``match_totp``: pure comparison; ``consume_totp``: the write) on raw transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from twostep.domain.factors import REGISTRY as SPECS
from twostep.domain.factors import FactorKind, FactorSpec, Verdict
from twostep.domain.factors import totp as totp_factor
from twostep.services.core.context import Context, RequestInfo
from twostep.services.factors.base import Challenge, Proof
from twostep.storage.database import Executor, FastStatement, expire_loaded
from twostep.storage.models import Factor, User

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
    if consumed:  # a Factor already loaded in this session must not show the old step
        expire_loaded(db, Factor, [factor_id], ["last_used_step", "last_used_at"])
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


class TotpFactor:
    """The authenticator app behind the ``Factor`` protocol."""

    spec: FactorSpec = SPECS[FactorKind.TOTP]

    def verify(self, ctx: Context, db: Session, user: User, code: str, proof: Proof) -> Verdict:
        return verify_totp(ctx, db, user.id, code)

    def challenge(self, ctx: Context, db: Session, user: User, proof: Proof, request: RequestInfo) -> Challenge | None:
        return None  # the app computes the code: nothing to send

    def label(self, factor: Factor, service_name: str, email: str) -> str:
        return factor.label or f"{service_name} ({email})"


FACTOR = TotpFactor()
