"""One-time codes sent by email or SMS, password-reset codes and recovery codes (all single use).

Shapes: sign-in codes are 6 digits (NIST SP 800-63B §3.1.3.2, valid 10 minutes); reset codes are
8 characters from an unambiguous alphabet; recovery codes are 16 Crockford base32 characters
(80 bits, checklist RC-01) shown as XXXX-XXXX-XXXX-XXXX.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from enum import StrEnum

CODE_LIFETIME = timedelta(minutes=10)
MAX_WRONG_TRIES_PER_CODE = 5
RESEND_COOLDOWN = timedelta(seconds=60)
SENDS_PER_HOUR = 5
RECOVERY_CODE_COUNT = 10
RECOVERY_LOW_WATERMARK = 2

_RESET_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class CodePurpose(StrEnum):
    SIGN_IN = "sign_in"
    ADDRESS_CHECK = "address_check"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose name, not a password
    API_CHALLENGE = "api_challenge"
    MAILBOX_CHECK = "mailbox_check"  # proves the sign-in mailbox before an account's first method


def new_numeric_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def new_reset_code() -> str:
    return "".join(secrets.choice(_RESET_ALPHABET) for _ in range(8))


def normalize_reset_code(raw: str) -> str:
    return "".join(raw.split()).upper().replace("-", "")


def new_recovery_code() -> str:
    raw = "".join(secrets.choice(_CROCKFORD) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def normalize_recovery_code(raw: str) -> str:
    """Crockford decoding is forgiving: case, dashes, spaces, O→0 and I/L→1 do not matter."""
    cleaned = "".join(raw.split()).upper().replace("-", "")
    cleaned = cleaned.replace("O", "0").replace("I", "1").replace("L", "1")
    return "-".join(cleaned[i : i + 4] for i in range(0, len(cleaned), 4))
