"""Codes we send (email, SMS): issue with cooldown and hourly caps, verify single-use and bound to
user, purpose and pending request (checklist O-01..O-06)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from twostep.domain.clock import as_utc
from twostep.domain.codes import (
    CODE_LIFETIME,
    RESEND_COOLDOWN,
    SENDS_PER_HOUR,
    CodePurpose,
    new_numeric_code,
)
from twostep.domain.factors import Verdict
from twostep.domain.factors import sent_code as sent_code_factor
from twostep.services.context import Context
from twostep.storage.models import Factor, OneTimeCode, User, WebSession


@dataclass(frozen=True)
class Issued:
    outcome: Literal["issued", "cooldown", "hourly_limit"]
    code: str = ""
    code_id: int = 0
    wait_seconds: int = 0


def _digest(ctx: Context, user_id: int, purpose: str, bound_to: str, code: str) -> str:
    return ctx.digester.digest(f"{user_id}:{purpose}:{bound_to}:{code}", "otc")


def issue(
    ctx: Context,
    db: Session,
    user: User,
    purpose: CodePurpose,
    *,
    factor: Factor | None,
    bound_to: str,
    target_digest: str = "",
) -> Issued:
    """A new code voids the previous one for the same user and purpose; sends are capped."""
    now = ctx.clock.now()
    recent = db.scalars(
        select(OneTimeCode.created_at)
        .where(
            OneTimeCode.user_id == user.id,
            OneTimeCode.purpose == purpose.value,
            OneTimeCode.created_at > now - timedelta(hours=1),
        )
        .order_by(OneTimeCode.created_at.desc())
    ).all()
    if recent and as_utc(recent[0]) + RESEND_COOLDOWN > now:
        return Issued("cooldown", wait_seconds=_ceil_seconds(as_utc(recent[0]) + RESEND_COOLDOWN - now))
    if len(recent) >= SENDS_PER_HOUR or _address_sends(db, target_digest, now) >= SENDS_PER_HOUR:
        oldest = as_utc(recent[-1]) if recent else now
        return Issued("hourly_limit", wait_seconds=_ceil_seconds(oldest + timedelta(hours=1) - now))
    db.execute(
        update(OneTimeCode)
        .where(
            OneTimeCode.user_id == user.id,
            OneTimeCode.purpose == purpose.value,
            OneTimeCode.used_at.is_(None),
            OneTimeCode.voided_at.is_(None),
        )
        .values(voided_at=now)
    )
    code = new_numeric_code()
    row = OneTimeCode(
        user_id=user.id,
        factor_id=factor.id if factor else None,
        purpose=purpose.value,
        code_digest=_digest(ctx, user.id, purpose.value, bound_to, code),
        bound_to=bound_to,
        created_at=now,
        expires_at=now + CODE_LIFETIME,
        used_at=None,
        voided_at=None,
        wrong_tries=0,
    )
    db.add(row)
    db.flush()
    return Issued("issued", code=code, code_id=row.id)


def _address_sends(db: Session, target_digest: str, now: datetime) -> int:
    if not target_digest:
        return 0
    return int(
        db.scalar(
            select(func.count())
            .select_from(OneTimeCode)
            .join(Factor, Factor.id == OneTimeCode.factor_id)
            .where(Factor.target_digest == target_digest, OneTimeCode.created_at > now - timedelta(hours=1))
        )
        or 0
    )


def _ceil_seconds(delta: timedelta) -> int:
    seconds = delta.total_seconds()
    return max(1, int(seconds) + (1 if seconds % 1 else 0))


def void(db: Session, code_id: int, now: datetime) -> None:
    db.execute(update(OneTimeCode).where(OneTimeCode.id == code_id).values(voided_at=now))


def verify(
    ctx: Context,
    db: Session,
    user: User,
    purpose: CodePurpose,
    bound_to: str,
    raw_code: str,
    factor_id: int | None = None,
) -> Verdict:
    """Checks the one live code; a wrong try counts on the code; success consumes it atomically."""
    now = ctx.clock.now()
    query = select(OneTimeCode).where(
        OneTimeCode.user_id == user.id,
        OneTimeCode.purpose == purpose.value,
        OneTimeCode.bound_to == bound_to,
        OneTimeCode.voided_at.is_(None),
    )
    if factor_id is not None:
        query = query.where(OneTimeCode.factor_id == factor_id)
    row = db.scalar(query.order_by(OneTimeCode.id.desc()).limit(1))
    if row is None:
        return Verdict(accepted=False)
    verdict = sent_code_factor.verify(
        raw_code,
        matches=lambda code: ctx.digester.matches(
            f"{user.id}:{purpose.value}:{bound_to}:{code}", row.code_digest, "otc"
        ),
        expires_at=as_utc(row.expires_at),
        used=row.used_at is not None,
        wrong_tries=row.wrong_tries,
        now=now,
    )
    if not verdict.accepted:
        if row.used_at is None:
            row.wrong_tries += 1
        return verdict
    consumed = db.execute(
        update(OneTimeCode).where(OneTimeCode.id == row.id, OneTimeCode.used_at.is_(None)).values(used_at=now)
    )
    if not consumed.rowcount:  # type: ignore[attr-defined]
        return Verdict(accepted=False, replayed=True)
    return verdict


def verify_sign_in_code(
    ctx: Context, db: Session, user: User, row: WebSession, method: str, raw_code: str
) -> Verdict:
    factor_ids = db.scalars(
        select(Factor.id).where(
            Factor.user_id == user.id, Factor.kind == method, Factor.confirmed_at.is_not(None)
        )
    ).all()
    if not factor_ids:
        return Verdict(accepted=False)
    verdict = verify(ctx, db, user, CodePurpose.SIGN_IN, row.id, raw_code)
    if verdict.accepted:
        db.execute(update(Factor).where(Factor.id.in_(factor_ids)).values(last_used_at=ctx.clock.now()))
    return verdict
