"""Secrets at rest: AES-256-GCM for what must be read back (TOTP seeds, phone numbers, addresses),
keyed HMAC-SHA256 digests for what only needs comparing (session ids, tokens, one-time codes).

Both keys are derived from the instance secret key with HKDF, one per purpose, so a digest key
can never decrypt a seed. The ciphertext is bound to its owner through associated data: a seed
copied into another user's row does not decrypt (checklist K-03).

Key rotation (``twostep rotate-secret-key``): a *keyring* is the current secret key followed by the
previous ones. New data is always sealed and digested with the current key; old data still opens
and still matches under a previous key until it is re-sealed (seeds, addresses: by the rotation) or
re-digested (API keys: on their next use) or expires (sessions, codes). A sealed blob names the key
that sealed it (format 2: ``0x02 | key id (4 bytes) | nonce | ciphertext``); format 1 blobs (no key
id, written before rotation existed) are tried with every key of the ring.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_V1 = b"\x01"
_V2 = b"\x02"
_NONCE = 12
_TAG = 16


def derive_key(master: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(master)


def key_id(master: bytes) -> bytes:
    """A short public name for a secret key (4 bytes), derived from it: says which key sealed a blob."""
    return derive_key(master, "twostep/key-id/v1")[:4]


class SealError(ValueError):
    """A ciphertext that does not open: wrong key, wrong owner, or tampered."""


class Sealer:
    """Seals with the first key of the ring; opens with whichever key sealed the blob."""

    def __init__(self, master_key: bytes, previous_keys: Sequence[bytes] = ()) -> None:
        ring = [master_key, *(key for key in previous_keys if key != master_key)]
        self._ring = [(key_id(key), AESGCM(derive_key(key, "twostep/seal/v1"))) for key in ring]
        self._by_id = {kid: aead for kid, aead in reversed(self._ring)}
        self.current_key_id = self._ring[0][0]

    def seal(self, plaintext: str, owner: str) -> bytes:
        kid, aead = self._ring[0]
        nonce = os.urandom(_NONCE)
        return _V2 + kid + nonce + aead.encrypt(nonce, plaintext.encode(), owner.encode())

    def open(self, sealed: bytes, owner: str) -> str:
        version = sealed[:1]
        if version == _V2 and len(sealed) >= 1 + 4 + _NONCE + _TAG:
            aead = self._by_id.get(sealed[1:5])
            if aead is None:
                raise SealError("sealed with a key that is not in the keyring")
            return self._decrypt(aead, sealed[5:], owner)
        if version == _V1 and len(sealed) >= 1 + _NONCE + _TAG:
            for _kid, candidate in self._ring:
                try:
                    return self._decrypt(candidate, sealed[1:], owner)
                except SealError:
                    continue
            raise SealError("sealed value does not open for this owner with any key of the keyring")
        raise SealError("unknown sealed format")

    def is_current(self, sealed: bytes) -> bool:
        """Sealed with the current key (nothing to re-seal after a rotation)?"""
        return sealed[:1] == _V2 and sealed[1:5] == self.current_key_id

    @staticmethod
    def _decrypt(aead: AESGCM, body: bytes, owner: str) -> str:
        try:
            return aead.decrypt(body[:_NONCE], body[_NONCE:], owner.encode()).decode()
        except InvalidTag as exc:
            raise SealError("sealed value does not open for this owner") from exc


class Digester:
    """Keyed digests: a stolen database alone cannot test guesses of codes or tokens.

    ``digest`` uses the current key (what new rows store); ``candidates`` gives the digest under every
    key of the ring, current first, for looking up rows written before a rotation."""

    def __init__(self, master_key: bytes, previous_keys: Sequence[bytes] = ()) -> None:
        ring = [master_key, *(key for key in previous_keys if key != master_key)]
        self._keys = [derive_key(key, "twostep/digest/v1") for key in ring]
        self._key = self._keys[0]

    @property
    def has_previous_keys(self) -> bool:
        return len(self._keys) > 1

    def digest(self, value: str, purpose: str = "") -> str:
        return hmac.new(self._key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()

    def candidates(self, value: str, purpose: str = "") -> list[str]:
        message = f"{purpose}\x00{value}".encode()
        return [hmac.new(key, message, hashlib.sha256).hexdigest() for key in self._keys]

    def matches(self, value: str, expected_digest: str, purpose: str = "") -> bool:
        found = False
        for candidate in self.candidates(value, purpose):  # every key, always: no early exit
            found |= hmac.compare_digest(candidate, expected_digest)
        return found
