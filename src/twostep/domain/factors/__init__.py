"""Second-step methods: one module per factor, one explicit registry.

Every factor answers the same question — does this submitted secret prove possession right now? —
through ``verify``; what it checks against (a seed and a last used step, or an issued code) is its
own business. A future passkey factor verifies a signed challenge through the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FactorKind(StrEnum):
    TOTP = "totp"
    EMAIL = "email"
    SMS = "sms"


@dataclass(frozen=True)
class FactorSpec:
    kind: FactorKind
    sends_code: bool
    phishing_resistant: bool
    strength_rank: int  # lower is listed first


REGISTRY: dict[FactorKind, FactorSpec] = {
    FactorKind.TOTP: FactorSpec(FactorKind.TOTP, sends_code=False, phishing_resistant=False, strength_rank=0),
    FactorKind.SMS: FactorSpec(FactorKind.SMS, sends_code=True, phishing_resistant=False, strength_rank=1),
    FactorKind.EMAIL: FactorSpec(
        FactorKind.EMAIL, sends_code=True, phishing_resistant=False, strength_rank=2
    ),
}


@dataclass(frozen=True)
class Verdict:
    """Outcome of one verification; ``replayed`` and plain failure look alike to the user."""

    accepted: bool
    replayed: bool = False
    step: int | None = None
    drift_steps: int | None = None
