"""Password rules (NIST SP 800-63B §3.1.1.2) and Argon2id hashing with a dummy hash for unknown users."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from twostep.domain import legacy_hashes

MAX_LENGTH = 128


def normalize_password(password: str) -> str:
    """NFC so that 'é' typed precomposed or decomposed is the same password; never truncated."""
    return unicodedata.normalize("NFC", password)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("twostep").joinpath("data/common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


@dataclass(frozen=True)
class PasswordPolicy:
    """What a new password must satisfy; character-class rules are off by default (NIST: SHALL NOT)."""

    min_length: int = 12
    max_length: int = MAX_LENGTH
    require_lower: bool = False
    require_upper: bool = False
    require_digit: bool = False
    require_symbol: bool = False
    check_common: bool = True
    extra_blocked: frozenset[str] = field(default_factory=frozenset)


def password_problems(password: str, policy: PasswordPolicy, *, email: str, service_name: str) -> list[str]:
    """Reasons (message ids) why a password is refused; empty when it is acceptable."""
    candidate = normalize_password(password)
    length = len(candidate)
    if length < policy.min_length:
        return ["too_short"]
    if length > policy.max_length:
        return ["too_long"]
    problems: list[str] = []
    lowered = candidate.lower()
    context = {email.lower(), email.lower().split("@")[0], service_name.lower()}
    if lowered in context or any(lowered == word * 2 for word in context if word):
        problems.append("matches_context")
    elif policy.check_common and (lowered in common_passwords() or lowered in policy.extra_blocked):
        problems.append("too_common")
    if policy.require_lower and not any(ch.islower() for ch in candidate):
        problems.append("needs_lower")
    if policy.require_upper and not any(ch.isupper() for ch in candidate):
        problems.append("needs_upper")
    if policy.require_digit and not any(ch.isdigit() for ch in candidate):
        problems.append("needs_digit")
    if policy.require_symbol and all(ch.isalnum() or ch.isspace() for ch in candidate):
        problems.append("needs_symbol")
    return problems


class PasswordHashing:
    """Argon2id at no less than OWASP's floor (m=19 MiB, t=2, p=1); rehash when parameters rise."""

    def __init__(self, *, time_cost: int = 2, memory_kib: int = 19456, parallelism: int = 1) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self._dummy_hash = self._hasher.hash("twostep dummy password for unknown accounts")

    def hash(self, password: str) -> str:
        return self._hasher.hash(normalize_password(password))

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """Constant work whether or not the account exists: a missing hash checks the dummy.

        Hashes imported from another system (bcrypt, Django PBKDF2, scrypt: see legacy_hashes) are
        checked with their own scheme; ``needs_rehash`` then tells the caller to store Argon2id.
        """
        if stored_hash and not stored_hash.startswith("$argon2") and legacy_hashes.identify(stored_hash):
            return legacy_hashes.verify(stored_hash, password)
        target = stored_hash if stored_hash and stored_hash.startswith("$argon2") else self._dummy_hash
        try:
            ok = self._hasher.verify(target, normalize_password(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return ok and target is stored_hash

    def needs_rehash(self, stored_hash: str) -> bool:
        """True for anything but Argon2id at our current costs (imported hashes included)."""
        if not stored_hash.startswith("$argon2"):
            return True
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except (InvalidHashError, ValueError):
            return True
