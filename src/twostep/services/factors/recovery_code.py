"""Recovery codes as a factor used only for recovery: sign-in with a recovery code
(``/login/recover``) and the password reset's second step. Never offered as a sign-in method
(``spec.offered_at_sign_in`` is False), never disabled after wrong tries (80 bits each, and they are
the way back), never expiring; each is single use (``recovery.consume``: compare-and-set on
``used_at``), and a used one presented again is a replay.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from twostep.domain.factors import RECOVERY_CODE, FactorSpec, Verdict
from twostep.services.core.context import Context, RequestInfo
from twostep.services.factors import recovery
from twostep.services.factors.base import Challenge, Proof
from twostep.storage.models import Factor, User


class RecoveryCodeFactor:
    spec: FactorSpec = RECOVERY_CODE

    def verify(self, ctx: Context, db: Session, user: User, code: str, proof: Proof) -> Verdict:
        if recovery.consume(ctx, db, user.id, code):
            return Verdict(accepted=True)
        return Verdict(accepted=False, replayed=recovery.was_used(ctx, db, user.id, code))

    def challenge(self, ctx: Context, db: Session, user: User, proof: Proof, request: RequestInfo) -> Challenge | None:
        return None  # printed or downloaded once, never sent

    def label(self, factor: Factor, service_name: str, email: str) -> str:
        return ""  # not a method of its own on My account (the recovery-codes section shows how many are left)


FACTOR = RecoveryCodeFactor()
