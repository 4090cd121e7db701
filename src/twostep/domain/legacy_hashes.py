"""Password hashes imported from other systems: recognise them (cheaply, at import) and check them
(at sign-in), so users keep their password while the operator moves them to twostep.

Accepted formats (anything else is refused at import with "unknown password hash format"):

======================  ===================================================================
bcrypt                  ``$2a$``, ``$2b$``, ``$2y$`` (``$2x$`` is refused: the buggy variant)
Argon2 (any variant)    PHC strings ``$argon2id$…``, ``$argon2i$…``, ``$argon2d$…``; Django's
                        ``argon2$argon2id$…``
Django PBKDF2-SHA256    ``pbkdf2_sha256$<iterations>$<salt>$<base64 of the 32-byte key>``
Django bcrypt           ``bcrypt$$2b$…`` and ``bcrypt_sha256$$2b$…`` (password pre-hashed with SHA-256)
scrypt                  Django's ``scrypt$<N>$<salt>$<r>$<p>$<base64 of the 64-byte key>``, and the
                        PHC form ``$scrypt$ln=<log2 N>,r=<r>,p=<p>$<base64 salt>$<base64 key>``
                        (passlib and others; standard or URL-safe base64, padding optional)
======================  ===================================================================

Cost parameters are bounded when a hash is recognised, so an imported row can't make a sign-in
burn minutes of CPU or gigabytes of memory (denial of service through the import file).

bcrypt reads only the first 72 bytes of a password. Checklist P-03 forbids truncation, so a
password longer than 72 bytes never matches a bcrypt hash: such a user sets a new password with
"Forgot your password?". After the first successful check the caller replaces the hash by Argon2id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import unicodedata
from enum import StrEnum

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

BCRYPT_MAX_BYTES = 72
BCRYPT_COST = range(4, 18)
PBKDF2_ITERATIONS = range(1, 10_000_001)
SCRYPT_MAX_MEMORY_BYTES = 256 * 1024 * 1024
ARGON2_MAX_MEMORY_KIB = 1024 * 1024
ARGON2_MAX_TIME_COST = 20
ARGON2_MAX_PARALLELISM = 16


class Scheme(StrEnum):
    BCRYPT = "bcrypt"
    ARGON2 = "argon2"
    PBKDF2_SHA256 = "pbkdf2_sha256"
    DJANGO_BCRYPT = "django_bcrypt"
    DJANGO_BCRYPT_SHA256 = "django_bcrypt_sha256"
    SCRYPT = "scrypt"


_BCRYPT = re.compile(r"^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$")
_ARGON2 = re.compile(r"^\$argon2(id|i|d)\$(v=\d+\$)?m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$")
_DJANGO_PBKDF2 = re.compile(r"^pbkdf2_sha256\$(\d+)\$([^$]+)\$([A-Za-z0-9+/]+={0,2})$")
_DJANGO_SCRYPT = re.compile(r"^scrypt\$(\d+)\$([^$]+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/]+={0,2})$")
_PHC_SCRYPT = re.compile(r"^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/._-]+={0,2})\$([A-Za-z0-9+/._-]+={0,2})$")

# One verifier for every Argon2 variant: argon2-cffi reads the type and costs from the hash itself.
_argon2 = PasswordHasher()


def _b64decode(text: str) -> bytes | None:
    """Standard, URL-safe or passlib's adapted base64 (``.`` for ``+``), padding optional."""
    cleaned = text.replace("-", "+").replace("_", "/").replace(".", "+").rstrip("=")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _scrypt_memory(n: int, r: int, p: int) -> int:
    return 128 * r * (n + p + 2)


def _scrypt_ok(n: int, r: int, p: int) -> bool:
    return (
        n >= 2
        and n & (n - 1) == 0
        and 1 <= r <= 64
        and 1 <= p <= 16
        and _scrypt_memory(n, r, p) <= SCRYPT_MAX_MEMORY_BYTES
    )


def _argon2_ok(stored: str) -> bool:
    match = _ARGON2.match(stored)
    if match is None:
        return False
    memory, time_cost, parallelism = (int(match.group(i)) for i in (3, 4, 5))
    return (
        memory <= ARGON2_MAX_MEMORY_KIB
        and 1 <= time_cost <= ARGON2_MAX_TIME_COST
        and 1 <= parallelism <= ARGON2_MAX_PARALLELISM
    )


def identify(stored: str) -> Scheme | None:
    """The scheme of a well-formed hash with sane costs, else None. Cheap: no hashing happens."""
    if _BCRYPT.match(stored):
        return Scheme.BCRYPT if int(stored[4:6]) in BCRYPT_COST else None
    if stored.startswith("bcrypt$$") or stored.startswith("bcrypt_sha256$$"):
        inner = stored.split("$", 1)[1]
        if identify(inner) is not Scheme.BCRYPT:
            return None
        return Scheme.DJANGO_BCRYPT if stored.startswith("bcrypt$") else Scheme.DJANGO_BCRYPT_SHA256
    if stored.startswith("$argon2"):
        return Scheme.ARGON2 if _argon2_ok(stored) else None
    if stored.startswith("argon2$argon2"):
        return Scheme.ARGON2 if _argon2_ok(stored.removeprefix("argon2")) else None
    if match := _DJANGO_PBKDF2.match(stored):
        key = _b64decode(match.group(3))
        ok = int(match.group(1)) in PBKDF2_ITERATIONS and key is not None and len(key) == 32
        return Scheme.PBKDF2_SHA256 if ok else None
    if match := _DJANGO_SCRYPT.match(stored):
        n, r, p = int(match.group(1)), int(match.group(3)), int(match.group(4))
        key = _b64decode(match.group(5))
        return Scheme.SCRYPT if _scrypt_ok(n, r, p) and key is not None and len(key) >= 16 else None
    if match := _PHC_SCRYPT.match(stored):
        log_n, r, p = (int(match.group(i)) for i in (1, 2, 3))
        salt, key = _b64decode(match.group(4)), _b64decode(match.group(5))
        ok = 1 <= log_n <= 30 and _scrypt_ok(1 << log_n, r, p) and bool(salt) and key is not None and len(key) >= 16
        return Scheme.SCRYPT if ok else None
    return None


def _bcrypt_check(password: bytes, stored: str) -> bool:
    if len(password) > BCRYPT_MAX_BYTES:
        return False  # P-03: never compare a truncated password
    try:
        return bool(bcrypt.checkpw(password, stored.encode("ascii")))
    except ValueError:
        return False


def _scrypt_check(password: bytes, salt: bytes, n: int, r: int, p: int, expected: bytes) -> bool:
    derived = hashlib.scrypt(
        password, salt=salt, n=n, r=r, p=p, maxmem=_scrypt_memory(n, r, p) + 1024 * 1024, dklen=len(expected)
    )
    return hmac.compare_digest(derived, expected)


def _check(stored: str, scheme: Scheme, password: bytes) -> bool:
    if scheme is Scheme.BCRYPT:
        return _bcrypt_check(password, stored)
    if scheme is Scheme.DJANGO_BCRYPT:
        return _bcrypt_check(password, stored.removeprefix("bcrypt$"))
    if scheme is Scheme.DJANGO_BCRYPT_SHA256:
        prehashed = binascii.hexlify(hashlib.sha256(password).digest())
        return _bcrypt_check(prehashed, stored.removeprefix("bcrypt_sha256$"))
    if scheme is Scheme.ARGON2:
        try:
            return _argon2.verify(stored.removeprefix("argon2") if stored.startswith("argon2$") else stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
    if scheme is Scheme.PBKDF2_SHA256:
        _name, iterations, salt, encoded = stored.split("$")
        expected = _b64decode(encoded) or b""
        derived = hashlib.pbkdf2_hmac("sha256", password, salt.encode(), int(iterations), dklen=len(expected))
        return hmac.compare_digest(derived, expected)
    if stored.startswith("scrypt$"):
        _name, n, salt, r, p, encoded = stored.split("$")
        return _scrypt_check(password, salt.encode(), int(n), int(r), int(p), _b64decode(encoded) or b"")
    _empty, _name, params, salt_b64, key_b64 = stored.split("$")
    costs = dict(part.split("=") for part in params.split(","))
    return _scrypt_check(
        password,
        _b64decode(salt_b64) or b"",
        1 << int(costs["ln"]),
        int(costs["r"]),
        int(costs["p"]),
        _b64decode(key_b64) or b"",
    )


def verify(stored: str, password: str) -> bool:
    """Check a password against an imported hash. The other system may or may not have normalised
    Unicode, so the password is tried as typed and, if different, in NFC (checklist P-04)."""
    scheme = identify(stored)
    if scheme is None:
        return False
    if _check(stored, scheme, password.encode("utf-8")):
        return True
    normalized = unicodedata.normalize("NFC", password)
    return normalized != password and _check(stored, scheme, normalized.encode("utf-8"))
