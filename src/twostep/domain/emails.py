"""Email addresses as sign-in names: trimmed, lower-cased as a whole, NFC, one plausible shape."""

from __future__ import annotations

import re
import unicodedata

_SHAPE = re.compile(r"^[^@\s<>\"',;]{1,64}@[^@\s<>\"',;]+\.[^@\s<>\"',;.]{2,}$")


def normalize_email(raw: str) -> str | None:
    """The canonical spelling used for lookups and uniqueness, or None if it is not an address."""
    candidate = unicodedata.normalize("NFC", raw.strip()).lower()
    if len(candidate) > 254 or not _SHAPE.match(candidate) or ".." in candidate:
        return None
    return candidate


def looks_like_email(raw: str) -> bool:
    return "@" in raw


def mask_email(address: str) -> str:
    """j••••@example.com: enough to recognise one's own address, not enough to harvest it."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}{'•' * max(len(local) - 1, 3)}@{domain}"
