"""Password rules (checklist P-01..P-07) and Argon2id hashing (K-01)."""

from __future__ import annotations

import pytest

from twostep.domain.passwords import PasswordHashing, PasswordPolicy, password_problems

POLICY = PasswordPolicy(min_length=12)


def problems(password: str) -> list[str]:
    return password_problems(password, POLICY, email="ada@example.com", service_name="Acme Portal Online")


def test_password_shorter_than_minimum_is_refused_with_reason() -> None:
    assert problems("elevenchars") == ["too_short"]


def test_password_of_128_characters_is_accepted_and_129_refused() -> None:
    assert problems("x7" * 64) == []
    assert problems("x7" * 64 + "y") == ["too_long"]


def test_emoji_count_as_one_character_each() -> None:
    assert problems("🙂" * 12) == []
    assert problems("🙂" * 11) == ["too_short"]


def test_common_password_is_refused_even_when_long_enough() -> None:
    assert problems("123456789012") == ["too_common"]
    assert problems("PasswordPassword") == ["too_common"]


def test_email_or_service_name_as_password_is_refused() -> None:
    assert problems("ada@example.com") == ["matches_context"]
    assert problems("ACME Portal Online") == ["matches_context"]


def test_no_composition_rules_by_default() -> None:
    assert problems("quiet lantern river") == []


def test_character_class_rules_when_policy_asks_for_them() -> None:
    strict = PasswordPolicy(min_length=8, require_upper=True, require_digit=True, require_symbol=True)
    found = password_problems("lowercaseonly", strict, email="a@b.cd", service_name="x")
    assert found == ["needs_upper", "needs_digit", "needs_symbol"]
    assert password_problems("Lower-case9", strict, email="a@b.cd", service_name="x") == []


@pytest.fixture(scope="module")
def hashing() -> PasswordHashing:
    return PasswordHashing()


def test_hash_is_argon2id_with_at_least_owasp_parameters(hashing: PasswordHashing) -> None:
    stored = hashing.hash("quiet lantern river")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_password_is_normalized_to_nfc_before_hashing(hashing: PasswordHashing) -> None:
    stored = hashing.hash("caf\u00e9 au lait please")
    assert hashing.verify(stored, "cafe\u0301 au lait please")


def test_password_is_never_truncated_or_case_folded(hashing: PasswordHashing) -> None:
    password = "a" * 72 + "tail-that-matters"
    stored = hashing.hash(password)
    assert not hashing.verify(stored, "a" * 72)
    assert not hashing.verify(stored, password.upper())
    assert hashing.verify(stored, password)


def test_unknown_account_still_runs_a_hash_and_fails(hashing: PasswordHashing) -> None:
    assert hashing.verify(None, "twostep dummy password for unknown accounts") is False


def test_raised_parameters_ask_for_a_rehash(hashing: PasswordHashing) -> None:
    stored = hashing.hash("quiet lantern river")
    stronger = PasswordHashing(time_cost=3)
    assert stronger.needs_rehash(stored)
    assert not hashing.needs_rehash(stored)
