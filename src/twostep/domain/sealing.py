"""Secrets at rest: AES-256-GCM for what must be read back (TOTP seeds, phone numbers, addresses),
keyed HMAC-SHA256 digests for what only needs comparing (session ids, tokens, one-time codes).

Both keys are derived from the instance secret key with HKDF, one per purpose, so a digest key
can never decrypt a seed. The ciphertext is bound to its owner through associated data: a seed
copied into another user's row does not decrypt (checklist K-03).
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"\x01"


def derive_key(master: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(master)


class SealError(ValueError):
    """A ciphertext that does not open: wrong key, wrong owner, or tampered."""


class Sealer:
    def __init__(self, master_key: bytes) -> None:
        self._aead = AESGCM(derive_key(master_key, "twostep/seal/v1"))

    def seal(self, plaintext: str, owner: str) -> bytes:
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), owner.encode())

    def open(self, sealed: bytes, owner: str) -> str:
        if len(sealed) < 29 or sealed[:1] != _VERSION:
            raise SealError("unknown sealed format")
        try:
            return self._aead.decrypt(sealed[1:13], sealed[13:], owner.encode()).decode()
        except InvalidTag as exc:
            raise SealError("sealed value does not open for this owner") from exc


class Digester:
    """Keyed digests: a stolen database alone cannot test guesses of codes or tokens."""

    def __init__(self, master_key: bytes) -> None:
        self._key = derive_key(master_key, "twostep/digest/v1")

    def digest(self, value: str, purpose: str = "") -> str:
        return hmac.new(self._key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()

    def matches(self, value: str, expected_digest: str, purpose: str = "") -> bool:
        return hmac.compare_digest(self.digest(value, purpose), expected_digest)
