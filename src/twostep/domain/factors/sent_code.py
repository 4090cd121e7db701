"""Factors that prove possession of an inbox or phone by a code we sent (email, SMS).

The code is stored only as a keyed digest; it is bound to user, purpose and pending sign-in by the
caller's lookup, expires after ten minutes and dies after five wrong tries (checklist O-02..O-05).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from twostep.domain.codes import MAX_WRONG_TRIES_PER_CODE
from twostep.domain.factors import Verdict
from twostep.domain.totp import normalize_code


def verify(
    submitted: str,
    *,
    matches: Callable[[str], bool],
    expires_at: datetime,
    used: bool,
    wrong_tries: int,
    now: datetime,
) -> Verdict:
    code = normalize_code(submitted)
    if code is None or used or now >= expires_at or wrong_tries >= MAX_WRONG_TRIES_PER_CODE:
        return Verdict(accepted=False, replayed=used and code is not None and matches(code))
    return Verdict(accepted=matches(code))
