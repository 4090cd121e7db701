"""One row of a user import, checked: the column contract and the reasons a row is refused.

Columns (CSV header or JSON-lines keys): ``email`` (required), ``name``, ``roles`` (``;``-separated,
or a JSON list), ``language``, ``username`` (the legacy sign-in name), ``password_hash`` (see
legacy_hashes), ``totp_secret`` (base32) and ``totp_uri`` (otpauth://). Empty means "not given":
a re-run never blanks a value that is already there.

Authenticators come along only in the profile every app reads alike: SHA1, 6 digits, 30 seconds
(Google's key-URI format; DESIGN "otpauth URI"). Secrets must have at least 128 bits (RFC 4226 R6
"MUST"), so a weak imported key can't undo what enrollment guarantees.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from twostep.domain import legacy_hashes, rollout
from twostep.domain.emails import normalize_email
from twostep.domain.text_input import forbidden_character

COLUMNS = ("email", "name", "roles", "language", "username", "password_hash", "totp_secret", "totp_uri")
MIN_SECRET_BITS = 128
MAX_NAME = 200
MAX_USERNAME = 200
MAX_HASH = 500


class RowRefused(ValueError):
    """Why a row was not imported, in words an operator can act on."""


@dataclass(frozen=True)
class ImportRow:
    line: int
    email: str
    name: str | None = None
    roles: tuple[str, ...] = ()
    language: str | None = None
    username: str | None = None
    password_hash: str | None = None
    totp_secret: str | None = None
    totp_label: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


def _text(value: Any, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RowRefused(f"{column}: expected text")
    text = str(value).strip()
    problem = forbidden_character(text)
    if problem is not None:  # a NUL can't be stored on PostgreSQL; no column has a use for controls
        raise RowRefused(f"{column}: contains {problem}")
    return text


def normalize_secret(raw: str, column: str = "totp_secret") -> str:
    """Upper-case base32 without spaces or padding, at least 128 bits."""
    cleaned = "".join(raw.split()).replace("-", "").upper().rstrip("=")
    if not cleaned:
        raise RowRefused(f"{column}: empty secret")
    try:
        decoded = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (binascii.Error, ValueError):
        raise RowRefused(f"{column}: not base32 (letters A-Z and digits 2-7)") from None
    bits = len(decoded) * 8
    if bits < MIN_SECRET_BITS:
        raise RowRefused(
            f"{column}: the secret has {bits} bits, at least {MIN_SECRET_BITS} are needed (RFC 4226); "
            "the user must set up the app again"
        )
    return cleaned


def parse_totp_uri(uri: str) -> tuple[str, str]:
    """(secret, issuer) of an otpauth://totp URI in the SHA1/6/30 profile, else RowRefused."""
    parts = urlsplit(uri)
    if parts.scheme.lower() != "otpauth":
        raise RowRefused("totp_uri: not an otpauth:// URI")
    if parts.netloc.lower() == "hotp":
        raise RowRefused("totp_uri: counter-based (hotp) authenticators are not supported, only totp")
    if parts.netloc.lower() != "totp":
        raise RowRefused(f"totp_uri: unknown type {parts.netloc!r}, only totp")
    query = {key.lower(): values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
    algorithm = query.get("algorithm", "SHA1").upper()
    if algorithm != "SHA1":
        raise RowRefused(f"totp_uri: algorithm {algorithm} is not supported (only SHA1, 6 digits, 30 seconds)")
    digits = query.get("digits", "6")
    if digits != "6":
        raise RowRefused(f"totp_uri: {digits} digits are not supported (only SHA1, 6 digits, 30 seconds)")
    period = query.get("period", "30")
    if period != "30":
        raise RowRefused(f"totp_uri: a period of {period} seconds is not supported (only SHA1, 6 digits, 30 seconds)")
    if "secret" not in query:
        raise RowRefused("totp_uri: no secret parameter")
    secret = normalize_secret(query["secret"], "totp_uri")
    label = unquote(parts.path.lstrip("/"))
    issuer = query.get("issuer") or (label.split(":", 1)[0] if ":" in label else "")
    return secret, issuer.strip()[:200]


def parse_row(raw: Mapping[str, Any], line: int, languages: Collection[str]) -> ImportRow:
    """Check one row; RowRefused says why it can't be imported."""
    unknown = sorted(str(key) for key in raw if key not in COLUMNS)
    if unknown:
        raise RowRefused(f"unknown column(s): {', '.join(unknown)}")
    notes: list[str] = []
    email_text = _text(raw.get("email"), "email")
    if not email_text:
        raise RowRefused("email: missing")
    email = normalize_email(email_text)
    if email is None:
        raise RowRefused(f"email: {email_text[:80]!r} is not a valid email address")

    name = _text(raw.get("name"), "name") or None
    if name is not None and len(name) > MAX_NAME:
        raise RowRefused(f"name: longer than {MAX_NAME} characters")

    roles_value = raw.get("roles")
    if isinstance(roles_value, list):
        role_pieces = [_text(item, "roles") for item in roles_value]
    else:
        role_pieces = _text(roles_value, "roles").split(";")
    good, bad = rollout.parse_roles([piece for piece in role_pieces if piece])
    if bad:
        raise RowRefused(f"roles: not a role name: {', '.join(repr(b) for b in bad)}")

    language: str | None = None
    language_text = _text(raw.get("language"), "language")
    if language_text:
        primary = language_text.replace("_", "-").split("-")[0].lower()
        if primary in languages:
            language = primary
        else:
            notes.append(f"language {language_text!r} is not offered; the browser's language will be used")

    username = _text(raw.get("username"), "username") or None
    if username is not None and len(username) > MAX_USERNAME:
        raise RowRefused(f"username: longer than {MAX_USERNAME} characters")

    password_hash = _text(raw.get("password_hash"), "password_hash") or None
    if password_hash is not None and (len(password_hash) > MAX_HASH or legacy_hashes.identify(password_hash) is None):
        raise RowRefused(
            "password_hash: unknown format (accepted: bcrypt, Argon2, Django PBKDF2-SHA256, Django bcrypt, scrypt)"
        )

    secret_text = _text(raw.get("totp_secret"), "totp_secret")
    uri_text = _text(raw.get("totp_uri"), "totp_uri")
    secret = normalize_secret(secret_text) if secret_text else None
    label = ""
    if uri_text:
        uri_secret, label = parse_totp_uri(uri_text)
        if secret is not None and secret != uri_secret:
            raise RowRefused("totp_secret and totp_uri name different secrets")
        secret = uri_secret
    return ImportRow(
        line=line,
        email=email,
        name=name,
        roles=tuple(good),
        language=language,
        username=username,
        password_hash=password_hash,
        totp_secret=secret,
        totp_label=label,
        notes=tuple(notes),
    )
