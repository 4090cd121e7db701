"""``email_verified``: true only for the sign-in address the user proved by an emailed code, or that
an administrator marked verified (issue 16; authentik 2025.10 said false for everyone).

Proofs: a used mailbox-check code (enrolment, TWOSTEP_ENROLL_MAILBOX_CHECK) or password-reset code —
both only ever go to the sign-in address. The first-run setup link is no such proof: it stands in for
the mailbox check so the first administrator can enrol, but nobody mailed anything. A proof is
recorded (``OidcVerifiedEmail``) with the address it was for, and counts while that is still the
account's address.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from twostep.domain.clock import as_utc
from twostep.domain.codes import CodePurpose
from twostep.storage.models import OidcVerifiedEmail, OneTimeCode, User

#: Codes that only ever go to the sign-in address.
PROVING_PURPOSES = (CodePurpose.MAILBOX_CHECK.value, CodePurpose.PASSWORD_RESET.value)


def _first_code_proof(db: Session, user_id: int) -> datetime | None:
    moment = db.scalar(
        select(func.min(OneTimeCode.used_at)).where(
            OneTimeCode.user_id == user_id,
            OneTimeCode.purpose.in_(PROVING_PURPOSES),
            OneTimeCode.used_at.is_not(None),
        )
    )
    return as_utc(moment) if moment is not None else None


def verified_since(db: Session, user: User) -> datetime | None:
    """When the current address was proven (or marked verified), or None."""
    recorded = db.get(OidcVerifiedEmail, user.id)
    if recorded is not None and recorded.email == user.email:
        return as_utc(recorded.verified_at)
    return _first_code_proof(db, user.id)


def proven(db: Session, user: User) -> bool:
    """The claim at sign-in; a proof found among the codes is recorded for the next time."""
    recorded = db.get(OidcVerifiedEmail, user.id)
    if recorded is not None and recorded.email == user.email:
        return True
    moment = _first_code_proof(db, user.id)
    if moment is None:
        return False
    record(db, user, moment)
    return True


def record(db: Session, user: User, moment: datetime) -> None:
    """The current address is verified from ``moment`` on (a proof, or an administrator's word)."""
    recorded = db.get(OidcVerifiedEmail, user.id)
    if recorded is None:
        db.add(OidcVerifiedEmail(user_id=user.id, email=user.email, verified_at=moment))
    elif recorded.email != user.email:
        recorded.email, recorded.verified_at = user.email, moment
