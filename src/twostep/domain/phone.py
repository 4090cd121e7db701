"""Phone numbers for SMS codes: one canonical E.164 spelling, mobile only, shown masked.

Numbers are stored as E.164 so that "+32 470 12 34 56" and "0470 12 34 56" typed in
Belgium are the same factor, and so that gateways get the only format they all accept.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Literal

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

__all__ = [
    "PhoneNumberProblem",
    "PhoneProblemReason",
    "mask_phone",
    "normalize_phone",
    "region_choices",
]

PhoneProblemReason = Literal["empty", "invalid", "not_mobile", "country_not_allowed", "needs_country"]

E164 = re.compile(r"^\+[1-9]\d{1,14}$")

_MAX_INPUT = 48
# Separators people type between digit groups; "(0)" as in "+32 (0)470 ..." is handled by phonenumbers.
_SEPARATORS = re.compile(r"[\s().\-/\u2010-\u2015\u2212]")
_COMPACT = re.compile(r"^\+?[0-9]+$")
_SMS_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})

_MESSAGES: dict[PhoneProblemReason, str] = {
    "empty": "no phone number given",
    "invalid": "not a valid phone number",
    "not_mobile": "not a mobile number: SMS cannot be delivered to it",
    "country_not_allowed": "SMS to this country is not enabled on this service",
    "needs_country": "start the number with + and the country code",
}


class PhoneNumberProblem(ValueError):
    """Why a number was refused; ``reason`` is stable so the web layer can pick a translated message."""

    def __init__(self, reason: PhoneProblemReason) -> None:
        self.reason: PhoneProblemReason = reason
        super().__init__(_MESSAGES[reason])


def _known_region(region: str | None) -> str | None:
    """An unknown or blank default region counts as none, so national numbers ask for the country."""
    code = (region or "").strip().upper()
    return code if code in phonenumbers.SUPPORTED_REGIONS else None


def _compact(raw: str) -> str:
    """Digits with an optional leading +, after folding full-width/other-script digits to ASCII."""
    text = unicodedata.normalize("NFKC", raw).strip()
    if len(text) > _MAX_INPUT:
        raise PhoneNumberProblem("invalid")
    text = "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)
    compact = _SEPARATORS.sub("", text)
    if not _COMPACT.match(compact):
        # Letters (vanity numbers), extensions and stray symbols are refused rather than guessed.
        raise PhoneNumberProblem("invalid")
    if compact.startswith("00"):
        # "00" is the international prefix nearly everywhere, and no national number starts with it.
        compact = "+" + compact[2:]
    return compact


def normalize_phone(
    raw: str,
    *,
    default_region: str | None,
    allowed_countries: frozenset[str] = frozenset(),
) -> str:
    """Return the E.164 form (``+32470123456``) of a mobile number, or raise PhoneNumberProblem.

    ``default_region`` (ISO code such as "BE") lets people type the national form ("0470 12 34 56");
    without it such input is refused with reason "needs_country". A non-empty
    ``allowed_countries`` (ISO codes) limits where SMS may be sent, since each country has its
    own price and fraud profile. Only MOBILE and FIXED_LINE_OR_MOBILE numbers are accepted,
    because a fixed line cannot receive the code.
    """
    if not raw or not raw.strip():
        raise PhoneNumberProblem("empty")
    compact = _compact(raw)
    region = None if compact.startswith("+") else _known_region(default_region)
    if not compact.startswith("+") and region is None:
        raise PhoneNumberProblem("needs_country")
    try:
        number = phonenumbers.parse(compact, region)
    except phonenumbers.NumberParseException:
        raise PhoneNumberProblem("invalid") from None
    if number.extension or not phonenumbers.is_valid_number(number):
        raise PhoneNumberProblem("invalid")

    if allowed_countries:
        allowed = {code.strip().upper() for code in allowed_countries}
        if phonenumbers.region_code_for_number(number) not in allowed:
            raise PhoneNumberProblem("country_not_allowed")
    if phonenumbers.number_type(number) not in _SMS_TYPES:
        raise PhoneNumberProblem("not_mobile")

    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    if not E164.match(e164):
        raise PhoneNumberProblem("invalid")
    return e164


def _hidden_group_lengths(group_lengths: list[int], visible: int) -> list[int]:
    """Drop ``visible`` digits from the end of the groups; what remains is shown as bullets."""
    lengths = list(group_lengths)
    while visible and lengths:
        if lengths[-1] <= visible:
            visible -= lengths.pop()
        else:
            lengths[-1] -= visible
            visible = 0
    return lengths


def display_phone(e164: str) -> str:
    """A number in full, grouped as the international format groups it (``+32 470 12 34 56``): what
    its owner just typed, shown back during enrollment. Anything unparsable is returned as is."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, None), PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def mask_phone(e164: str) -> str:
    """Show a stored number so its owner recognises it but an onlooker cannot dial it.

    Shape: ``+CC``, then one bullet (•) per hidden digit grouped as the international format
    groups them, then the last two digits as their own group:

    * ``+32470123456`` -> ``+32 ••• •• •• 56``
    * ``+16502530000`` -> ``+1 ••• ••• •• 00``
    * ``+31612345678`` -> ``+31 • •••••• 78``

    A well-formed number with an unknown country code hides the country code too
    (``+••••••••• 56``). Raises ValueError if ``e164`` is not E.164.
    """
    if not E164.match(e164):
        raise ValueError("not an E.164 phone number")
    last_two = e164[-2:]
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return f"+{'•' * (len(e164) - 3)} {last_two}"
    national = phonenumbers.national_significant_number(number)
    if len(national) <= 2:
        return f"+{number.country_code} {'•' * len(national)}"
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    groups = [group for group in re.split(r"\D+", international) if group][1:]  # drop the country code
    lengths = [len(group) for group in groups]
    if sum(lengths) != len(national):
        lengths = [len(national)]  # unexpected formatting: fall back to one group
    hidden = " ".join("•" * length for length in _hidden_group_lengths(lengths, 2))
    return f"+{number.country_code} {hidden} {last_two}"


@functools.cache
def _region_choices() -> tuple[tuple[str, str], ...]:
    return tuple(
        (region, f"+{phonenumbers.country_code_for_region(region)}")
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
    )


def region_choices() -> list[tuple[str, str]]:
    """(ISO region, "+CC") pairs sorted by region, e.g. ("BE", "+32"), for a country select box."""
    return list(_region_choices())
