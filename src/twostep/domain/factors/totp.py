"""The authenticator-app factor (RFC 6238), verified against a seed and its last used step."""

from __future__ import annotations

from datetime import datetime

from twostep.domain import totp
from twostep.domain.factors import Verdict


def verify(secret_b32: str, submitted: str, now: datetime, last_used_step: int | None) -> Verdict:
    code = totp.normalize_code(submitted)
    if code is None:
        return Verdict(accepted=False)
    check = totp.check_code(secret_b32, code, now, last_used_step, detect_drift=True)
    return Verdict(
        accepted=check.accepted, replayed=check.replayed, step=check.step, drift_steps=check.drift_steps
    )
