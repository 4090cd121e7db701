"""TOTP (RFC 6238) on top of HOTP (RFC 4226), with explicit steps so callers can refuse reuse.

Vocabulary: ``period_seconds`` (30), ``step`` (floor(unix_time / period)), ``window`` (steps
accepted either side of now, RFC 6238 §5.2 recommends one), ``last_used_step`` (the replay guard),
``drift_steps`` (how far a phone's clock is off).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode

import pyotp

PERIOD_SECONDS = 30
DIGITS = 6
SECRET_BYTES = 20  # 160 bits: RFC 4226 R6 recommends the HMAC-SHA1 output length
WINDOW_STEPS = 1
DRIFT_SEARCH_STEPS = 10


def new_secret() -> str:
    """A fresh base32 secret (no padding) from the OS CSPRNG."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def step_at(moment: datetime, period_seconds: int = PERIOD_SECONDS) -> int:
    """RFC 6238 §4: T = floor((unix - T0) / X), T0 = 0; Python ints never overflow past 2038."""
    return int(moment.timestamp()) // period_seconds


def seconds_to_next_step(moment: datetime, period_seconds: int = PERIOD_SECONDS) -> int:
    """How long until the app shows its next code (1..period): what "wait for the next one" means."""
    return period_seconds - int(moment.timestamp()) % period_seconds


def code_shape(raw: str, digits: int = DIGITS) -> str:
    """Why a typed code cannot be one, before anything is compared: ``"empty"``, ``"not_digits"``,
    ``"length"``, or ``""`` when it has the shape of a code (spaces and hyphens are ignored, as
    people copy ``123 456`` or ``123-456``). A code of the wrong shape can't be right, so the pages
    say what is wrong instead of "that code didn't work"."""
    cleaned = "".join(raw.split()).replace("-", "")
    if not cleaned:
        return "empty"
    if not (cleaned.isascii() and cleaned.isdigit()):
        return "not_digits"
    return "" if len(cleaned) == digits else "length"


def code_at_step(secret_b32: str, step: int, digits: int = DIGITS) -> str:
    return str(pyotp.HOTP(secret_b32, digits=digits).at(step))


def normalize_code(raw: str) -> str | None:
    """Spaces and hyphens are ignored; anything but exactly six ASCII digits is no code at all."""
    cleaned = "".join(raw.split()).replace("-", "")
    if len(cleaned) != DIGITS or not cleaned.isascii() or not cleaned.isdigit():
        return None
    return cleaned


def _key(secret_b32: str) -> bytes:
    """The raw key, decoded once per check (pyotp decodes it again for every code)."""
    return base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8), casefold=True)


def _hotp(key: bytes, step: int, digits: int = DIGITS) -> str:
    """RFC 4226 §5.3: HMAC-SHA1 over the 8-byte counter, dynamic truncation; the same as ``code_at_step``."""
    digest = hmac.new(key, step.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def matching_step(secret_b32: str, code: str, now_step: int, window: int = WINDOW_STEPS) -> int | None:
    """The step in now±window whose code equals ``code`` (constant-time compare), else None.

    Every candidate is compared so the time taken does not depend on which step matched.
    """
    steps = matching_steps(secret_b32, code, now_step, window)
    return steps[0] if steps else None


def matching_steps(secret_b32: str, code: str, now_step: int, window: int = WINDOW_STEPS) -> list[int]:
    """Every step in now±window whose code equals ``code``, earliest first (all compared, constant time).

    Six digits collide now and then: about once in 500,000 checks two steps of the window share a
    code, so the caller must not stop at the first match (it may be a step already used).
    """
    key = _key(secret_b32)
    found: list[int] = []
    for step in range(now_step - window, now_step + window + 1):
        if hmac.compare_digest(_hotp(key, step), code):
            found.append(step)
    return found


def drift_steps(secret_b32: str, code: str, now_step: int, search: int = DRIFT_SEARCH_STEPS) -> int | None:
    """How many steps away (beyond the window) a code matches: lets us tell a user their clock is off."""
    key = _key(secret_b32)
    for distance in range(WINDOW_STEPS + 1, search + 1):
        for step in (now_step - distance, now_step + distance):
            if hmac.compare_digest(_hotp(key, step), code):
                return step - now_step
    return None


@dataclass(frozen=True)
class TotpCheck:
    """Outcome of checking one code against one authenticator."""

    accepted: bool
    step: int | None = None
    replayed: bool = False
    drift_steps: int | None = None


def check_code(
    secret_b32: str, code: str, now: datetime, last_used_step: int | None, *, detect_drift: bool = False
) -> TotpCheck:
    """RFC 6238 §5.2: accept T-1..T+1 and refuse any step at or before the last used one."""
    now_step = step_at(now)
    steps = matching_steps(secret_b32, code, now_step)
    if not steps:
        drift = drift_steps(secret_b32, code, now_step) if detect_drift else None
        return TotpCheck(accepted=False, drift_steps=drift)
    fresh = [step for step in steps if last_used_step is None or step > last_used_step]
    if not fresh:
        return TotpCheck(accepted=False, step=steps[0], replayed=True)
    return TotpCheck(accepted=True, step=fresh[0])


def otpauth_uri(secret_b32: str, account: str, issuer: str) -> str:
    """Google Authenticator key-URI format; issuer in label prefix and parameter, SHA1/6/30."""
    issuer_clean = issuer.replace(":", "")
    account_clean = account.replace(":", "")
    label = quote(f"{issuer_clean}:{account_clean}", safe="@:")
    query = urlencode(
        {
            "secret": secret_b32,
            "issuer": issuer_clean,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": PERIOD_SECONDS,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def group_secret(secret_b32: str) -> str:
    """The key in groups of four, easier to type into an app by hand."""
    return " ".join(secret_b32[i : i + 4] for i in range(0, len(secret_b32), 4))
