"""Imported password hashes: published vectors for each format, refusal of unknown or abusive ones,
and the hand-over to Argon2id (needs_rehash)."""

from __future__ import annotations

import base64
import hashlib

import bcrypt
import pytest
from argon2 import PasswordHasher, Type

from twostep.domain import legacy_hashes
from twostep.domain.legacy_hashes import Scheme
from twostep.domain.passwords import PasswordHashing

# Django's own test suite (tests/auth_tests/test_hashers.py): make_password("lètmein", "seasalt", …).
DJANGO_PBKDF2 = "pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo="
DJANGO_SCRYPT = (
    "scrypt$16384$seasalt$8$1$Qj3+9PPyRjSJIebHnG81TMjsqtaIGxNQG/aEB/NYafTJ7tibgfYz71m0ldQESkXFRkdVCBhhY8mx7rQwite/Pw=="
)
# RFC 7914 §12, second vector (P="password", S="NaCl", N=1024, r=8, p=16), in the PHC string form.
RFC7914_SCRYPT = (
    "$scrypt$ln=10,r=8,p=16$TmFDbA==$"
    "/bq+HJ00cgB4VucZDQHp/nxq18vII3gw53N2Y0s3MWIurzDZLiKjiG/xCSedmDDaxyevuUqD7m2DYMvfoswGQA=="
)
# OpenBSD's bcrypt regression vector.
OPENBSD_BCRYPT = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"


def _bcrypt(password: str, prefix: bytes = b"2b") -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4, prefix=prefix)).decode()


def _argon2(password: str, kind: Type) -> str:
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=kind).hash(password)


@pytest.mark.parametrize(
    ("stored", "password", "scheme"),
    [
        (DJANGO_PBKDF2, "lètmein", Scheme.PBKDF2_SHA256),
        (DJANGO_SCRYPT, "lètmein", Scheme.SCRYPT),
        (RFC7914_SCRYPT, "password", Scheme.SCRYPT),
        (OPENBSD_BCRYPT, "U*U", Scheme.BCRYPT),
    ],
    ids=["django-pbkdf2-sha256", "django-scrypt", "rfc7914-scrypt-phc", "openbsd-bcrypt-2a"],
)
def test_published_vectors_verify_and_a_wrong_password_does_not(stored: str, password: str, scheme: Scheme) -> None:
    assert legacy_hashes.identify(stored) is scheme
    assert legacy_hashes.verify(stored, password)
    assert not legacy_hashes.verify(stored, password + "z")
    assert not legacy_hashes.verify(stored, password.swapcase())


@pytest.mark.parametrize("prefix", [b"2a", b"2b"])
def test_bcrypt_variants_verify(prefix: bytes) -> None:
    stored = _bcrypt("correct horse", prefix)
    assert legacy_hashes.identify(stored) is Scheme.BCRYPT
    assert legacy_hashes.verify(stored, "correct horse")
    assert not legacy_hashes.verify(stored, "correct horsE")


def test_php_2y_bcrypt_verifies() -> None:
    stored = "$2y$" + _bcrypt("from php")[4:]
    assert legacy_hashes.identify(stored) is Scheme.BCRYPT
    assert legacy_hashes.verify(stored, "from php")


def test_django_bcrypt_and_bcrypt_sha256_verify() -> None:
    plain = "bcrypt$" + _bcrypt("django pw")
    prehashed_input = hashlib.sha256(b"django pw").hexdigest()
    sha256 = "bcrypt_sha256$" + _bcrypt(prehashed_input)
    assert legacy_hashes.identify(plain) is Scheme.DJANGO_BCRYPT
    assert legacy_hashes.identify(sha256) is Scheme.DJANGO_BCRYPT_SHA256
    assert legacy_hashes.verify(plain, "django pw") and not legacy_hashes.verify(plain, "django pw!")
    assert legacy_hashes.verify(sha256, "django pw") and not legacy_hashes.verify(sha256, prehashed_input)


@pytest.mark.parametrize("kind", [Type.I, Type.D, Type.ID], ids=["argon2i", "argon2d", "argon2id"])
def test_every_argon2_variant_verifies_also_in_djangos_spelling(kind: Type) -> None:
    stored = _argon2("argon pw", kind)
    assert legacy_hashes.identify(stored) is Scheme.ARGON2
    assert legacy_hashes.verify(stored, "argon pw") and not legacy_hashes.verify(stored, "argon pw ")
    django = "argon2" + stored
    assert legacy_hashes.identify(django) is Scheme.ARGON2
    assert legacy_hashes.verify(django, "argon pw")


def test_url_safe_unpadded_phc_scrypt_verifies() -> None:
    salt = b"\xfb\xff saltsalt"
    key = hashlib.scrypt(b"pw", salt=salt, n=1024, r=8, p=1, dklen=32)
    encode = lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("=")  # noqa: E731
    stored = f"$scrypt$ln=10,r=8,p=1${encode(salt)}${encode(key)}"
    assert legacy_hashes.identify(stored) is Scheme.SCRYPT
    assert legacy_hashes.verify(stored, "pw") and not legacy_hashes.verify(stored, "pW")


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "hunter2",
        "5f4dcc3b5aa765d61d8327deb882cf99",  # unsalted MD5
        "sha1$seasalt$cff36ea83f5706ce9aa7454e63e431fc726b2dc8",  # Django's old salted SHA-1
        "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",  # md5-crypt
        "$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",  # the buggy crypt_blowfish variant
        "$2b$05$tooshort",
        "pbkdf2_sha1$1000$seasalt$h8WVtFzNLTNUp5hU+IFmjz0virc=",
        "pbkdf2_sha256$260000$seasalt$not!base64",
        "pbkdf2_sha256$260000$seasalt$c2hvcnQ=",  # a key of the wrong length
        "scrypt$16385$seasalt$8$1$Qj3+9PPyRjSJIebHnG81TMjsqtaIGxNQG/aEB/NY",  # N not a power of two
        "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA",  # no hash part
    ],
)
def test_unknown_or_malformed_hashes_are_not_recognised(stored: str) -> None:
    assert legacy_hashes.identify(stored) is None
    assert not legacy_hashes.verify(stored, "anything")


@pytest.mark.parametrize(
    "stored",
    [
        "$2b$31$" + OPENBSD_BCRYPT[7:],  # bcrypt cost 31: days of CPU per sign-in
        "pbkdf2_sha256$999999999$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=",
        "scrypt$16777216$seasalt$8$1$Qj3+9PPyRjSJIebHnG81TMjsqtaIGxNQG/aEB/NYafTJ7tibgfYz71m0ldQESkXFRkdVCBhhY8mx7rQwite/Pw==",
        "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$YWJjZGVmYWJjZGVmYWJjZGVmYWJjZGVm",
    ],
    ids=["bcrypt-cost-31", "pbkdf2-1e9", "scrypt-16GiB", "argon2-4GiB"],
)
def test_abusive_costs_are_refused_so_an_import_cannot_stall_sign_in(stored: str) -> None:
    assert legacy_hashes.identify(stored) is None


def test_bcrypt_never_matches_a_password_longer_than_72_bytes() -> None:
    """Checklist P-03: bcrypt would compare only the first 72 bytes; we refuse instead of truncating."""
    long_password = "a" * 72 + "tail that bcrypt would ignore"
    stored = bcrypt.hashpw(long_password.encode()[:72], bcrypt.gensalt(4)).decode()
    assert legacy_hashes.verify(stored, "a" * 72)
    assert not legacy_hashes.verify(stored, long_password)


def test_password_typed_precomposed_matches_a_hash_of_either_spelling() -> None:
    precomposed, decomposed = "caf\u00e9 au lait", "cafe\u0301 au lait"
    nfc_hash = "bcrypt$" + _bcrypt(precomposed)
    raw_hash = _bcrypt(decomposed)
    assert legacy_hashes.verify(nfc_hash, decomposed)  # tried again in NFC
    assert legacy_hashes.verify(raw_hash, decomposed)  # tried as typed


def test_password_hashing_checks_imported_hashes_and_asks_for_argon2id() -> None:
    hashing = PasswordHashing()
    own = hashing.hash("lètmein")
    assert hashing.verify(DJANGO_PBKDF2, "lètmein") and not hashing.verify(DJANGO_PBKDF2, "letmein")
    assert hashing.verify(OPENBSD_BCRYPT, "U*U")
    assert hashing.verify(_argon2("argon pw", Type.I), "argon pw")
    assert hashing.needs_rehash(DJANGO_PBKDF2) and hashing.needs_rehash(OPENBSD_BCRYPT)
    assert hashing.needs_rehash(_argon2("argon pw", Type.I))
    assert not hashing.needs_rehash(own)
    assert not hashing.verify("md5$unknown$format", "anything")
    assert not hashing.verify(None, "anything")
