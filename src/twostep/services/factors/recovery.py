"""Recovery codes: ten single-use codes of 80 bits, shown once, stored only as keyed digests."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from twostep.domain.codes import RECOVERY_CODE_COUNT, new_recovery_code, normalize_recovery_code
from twostep.services.core.context import Context
from twostep.storage.models import RecoveryCode


def regenerate(ctx: Context, db: Session, user_id: int) -> list[str]:
    """Voids every earlier code and returns the new set (the only time they exist in clear)."""
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    now = ctx.clock.now()
    codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    for code in codes:
        db.add(
            RecoveryCode(
                user_id=user_id, code_digest=_digest(ctx, user_id, code), created_at=now, used_at=None
            )
        )
    return codes


def remaining(db: Session, user_id: int) -> int:
    return int(
        db.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def consume(ctx: Context, db: Session, user_id: int, raw_code: str) -> bool:
    """Compare-and-set on ``used_at IS NULL``: of many parallel uses exactly one succeeds.

    The digest includes the user id, so user A's code can never match in B's sign-in.
    """
    code = normalize_recovery_code(raw_code)
    if len(code) != 19:
        return False
    result = db.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_digest.in_(_candidates(ctx, user_id, code)),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=ctx.clock.now())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _digest(ctx: Context, user_id: int, code: str) -> str:
    return ctx.digester.digest(f"{user_id}:{normalize_recovery_code(code)}", "recovery")


def _candidates(ctx: Context, user_id: int, code: str) -> list[str]:
    """The digest under every key of the keyring: codes issued before a key rotation still work."""
    return ctx.digester.candidates(f"{user_id}:{normalize_recovery_code(code)}", "recovery")


def was_used(ctx: Context, db: Session, user_id: int, raw_code: str) -> bool:
    """True when this is one of the user's codes that has already been spent (a replay)."""
    code = normalize_recovery_code(raw_code)
    if len(code) != 19:
        return False
    return (
        db.scalar(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user_id,
                RecoveryCode.code_digest.in_(_candidates(ctx, user_id, code)),
                RecoveryCode.used_at.is_not(None),
            )
        )
        is not None
    )


def unused_among(ctx: Context, db: Session, user_id: int, raw_codes: list[str]) -> list[str]:
    """The submitted codes that are this user's unused codes, in the order given (for download).

    The download echoes only codes we can match, so the endpoint never reflects arbitrary text.
    """
    stored = set(
        db.scalars(
            select(RecoveryCode.code_digest).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        )
    )
    found: list[str] = []
    for raw in raw_codes[:RECOVERY_CODE_COUNT]:
        code = normalize_recovery_code(raw)
        if len(code) == 19 and code not in found and not stored.isdisjoint(_candidates(ctx, user_id, code)):
            found.append(code)
    return found


def delete_all(db: Session, user_id: int) -> None:
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
