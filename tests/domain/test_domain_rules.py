"""Throttle formula, sign-in stage gate, sealing and digests, email normalisation, languages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from twostep.domain.codes import new_recovery_code, normalize_recovery_code
from twostep.domain.emails import normalize_email
from twostep.domain.login_flow import Area, Stage, may_enter, stage_after_password
from twostep.domain.sealing import Digester, Sealer, SealError
from twostep.domain.throttle import delay_after, seconds_left
from twostep.i18n import negotiate


def test_throttle_is_free_for_four_failures_then_doubles_from_thirty_seconds_up_to_an_hour() -> None:
    assert [delay_after(n).total_seconds() for n in range(1, 9)] == [0, 0, 0, 0, 30, 60, 120, 240]
    assert delay_after(40) == timedelta(hours=1)


def test_seconds_left_rounds_up() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert seconds_left(now + timedelta(seconds=29.2), now) == 30
    assert seconds_left(now - timedelta(seconds=1), now) == 0


def test_pending_stages_reach_only_their_own_pages() -> None:
    assert may_enter(Stage.SECOND_STEP, Area.SECOND_STEP)
    assert not may_enter(Stage.SECOND_STEP, Area.SIGNED_IN)
    assert not may_enter(Stage.SECOND_STEP, Area.ENROLL)
    assert not may_enter(Stage.ENROLL, Area.SIGNED_IN)
    assert not may_enter(None, Area.SECOND_STEP)
    assert may_enter(Stage.SIGNED_IN, Area.SIGNED_IN)


def test_password_alone_never_signs_in_an_account_with_a_method() -> None:
    assert stage_after_password(has_confirmed_method=True, device_remembered=False, must_enroll=True) \
        is Stage.SECOND_STEP
    assert stage_after_password(has_confirmed_method=False, device_remembered=False, must_enroll=True) \
        is Stage.ENROLL


def test_sealed_secret_opens_only_for_its_owner() -> None:
    sealer = Sealer(b"k" * 48)
    sealed = sealer.seal("JBSWY3DPEHPK3PXP", "user:1:totp")
    assert b"JBSWY3DP" not in sealed
    assert sealer.open(sealed, "user:1:totp") == "JBSWY3DPEHPK3PXP"
    with pytest.raises(SealError):
        sealer.open(sealed, "user:2:totp")
    with pytest.raises(SealError):
        Sealer(b"z" * 48).open(sealed, "user:1:totp")


def test_digests_depend_on_key_and_purpose() -> None:
    digester = Digester(b"k" * 48)
    assert digester.digest("123456", "a") != digester.digest("123456", "b")
    assert digester.digest("123456", "a") != Digester(b"z" * 48).digest("123456", "a")
    assert digester.matches("123456", digester.digest("123456", "a"), "a")


def test_email_is_normalized_case_insensitively() -> None:
    assert normalize_email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"
    for bad in ["ada", "ada@", "@example.com", "ada@example", "a b@example.com", "ada@@example.com"]:
        assert normalize_email(bad) is None


def test_recovery_codes_have_80_bits_and_forgiving_input() -> None:
    codes = {new_recovery_code() for _ in range(2000)}
    assert len(codes) == 2000
    code = next(iter(codes))
    assert len(code) == 19 and code.count("-") == 3
    assert normalize_recovery_code(code.lower().replace("-", " ")) == code


def test_accept_language_picks_the_best_supported_language() -> None:
    assert negotiate("de-DE,pl;q=0.8,en;q=0.5") == "pl"
    assert negotiate("sv-SE") == "sv"
    assert negotiate("fr, de") is None
    assert negotiate("nl;q=0, en;q=0.1") == "en"
