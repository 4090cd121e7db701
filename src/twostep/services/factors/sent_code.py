"""Codes we send, by email or by SMS: one factor class, two registered instances.

Verification is ``sent_codes.verify`` (single use, bound to user, purpose and pending session, a
limit on wrong tries per code, ten minutes' lifetime) restricted to the codes sent through this
method; sending is ``sent_codes.prepare_second_step`` (cooldown and hourly caps). Enrollment is
``services.oob_enrollment`` (``/enroll/email``, ``/enroll/sms``); the label was masked when the
method was set up (``a***@example.com``, ``+44 ••• ••• 89``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from twostep.domain.codes import CodePurpose
from twostep.domain.factors import REGISTRY as SPECS
from twostep.domain.factors import FactorKind, FactorSpec, Verdict
from twostep.services.core.context import Context, RequestInfo
from twostep.services.factors import sent_codes
from twostep.services.factors.base import Challenge, Proof
from twostep.storage.models import Factor, User


@dataclass(frozen=True)
class SentCodeFactor:
    """An email address or a phone that receives codes."""

    spec: FactorSpec

    @property
    def kind(self) -> str:
        return self.spec.kind

    def verify(self, ctx: Context, db: Session, user: User, code: str, proof: Proof) -> Verdict:
        """A code sent for ``proof`` through this method only (a code mailed never passes as an SMS one)."""
        factor_ids = db.scalars(
            select(Factor.id).where(
                Factor.user_id == user.id, Factor.kind == self.kind, Factor.confirmed_at.is_not(None)
            )
        ).all()
        if not factor_ids:
            return Verdict(accepted=False)
        verdict = sent_codes.verify(ctx, db, user, proof.purpose, proof.bound_to, code, factor_ids=factor_ids)
        if verdict.accepted:
            db.execute(update(Factor).where(Factor.id.in_(factor_ids)).values(last_used_at=ctx.clock.now()))
        return verdict

    def challenge(self, ctx: Context, db: Session, user: User, proof: Proof, request: RequestInfo) -> Challenge | None:
        if proof.purpose is not CodePurpose.SIGN_IN:
            return sent_codes.SendResult("not_applicable", method=self.kind)
        return sent_codes.prepare_second_step(ctx, db, user, self.kind, proof.bound_to, request)

    def label(self, factor: Factor, service_name: str, email: str) -> str:
        return factor.label  # masked when the method was set up


EMAIL = SentCodeFactor(SPECS[FactorKind.EMAIL])
SMS = SentCodeFactor(SPECS[FactorKind.SMS])
