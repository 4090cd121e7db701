"""The pure passkey rules (``domain.passkeys``, ``domain.amr``): the counter table, the RP ID a browser
accepts, provider names, and what a passkey sign-in reports as ``amr``."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from twostep.domain import passkeys
from twostep.domain.amr import acr_for, amr_for
from twostep.settings import load_settings, startup_warnings


@pytest.mark.parametrize(
    ("stored", "presented", "verdict"),
    [
        (0, 0, "ok"),  # a synced passkey: no counter at all
        (7, 0, "ok"),  # an authenticator that stopped counting: 0 means "no counter"
        (0, 1, "ok"),
        (7, 8, "ok"),
        (7, 7, "regressed"),  # the same count twice: a copy, or a replay of an old signature
        (7, 3, "regressed"),  # went back: a possible clone
    ],
)
def test_the_signature_counter_must_move_forward_unless_it_is_zero(stored: int, presented: int, verdict: str) -> None:
    assert passkeys.judge_counter(stored, presented) == verdict


def test_the_stored_counter_never_goes_back() -> None:
    assert passkeys.counter_after(7, 0) == 7 and passkeys.counter_after(7, 9) == 9


@pytest.mark.parametrize(
    ("base_url", "override", "problem"),
    [
        ("https://auth.example.org", "", None),
        ("https://auth.example.org", "example.org", None),
        ("https://auth.example.org:8443", "EXAMPLE.org.", None),
        ("http://localhost:8000", "", None),
        ("http://127.0.0.1:8000", "", "IP address"),
        ("http://[::1]:8000", "", "IP address"),
        ("https://auth.example.org", "other.example", "not the base URL's host"),
        ("https://auth.example.org", "ample.org", "not the base URL's host"),
    ],
)
def test_the_rp_id_is_the_host_or_a_parent_domain_and_never_an_ip(
    base_url: str, override: str, problem: str | None
) -> None:
    found = passkeys.rp_id_problem(base_url, override)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_origin_and_rp_id_come_from_the_base_url() -> None:
    assert passkeys.origin_of("https://Auth.Example.org:8443/sub") == "https://auth.example.org:8443"
    assert passkeys.rp_id_for("https://auth.example.org", "") == "auth.example.org"
    assert passkeys.rp_id_for("https://auth.example.org", ".Example.org") == "example.org"


def test_a_wrong_rp_id_is_refused_at_start_and_an_ip_base_url_is_warned_about(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="WEBAUTHN_RP_ID"):
        load_settings(data_dir=tmp_path, base_url="https://auth.example.org", webauthn_rp_id="evil.example")
    warned = startup_warnings(load_settings(data_dir=tmp_path, base_url="https://10.1.2.3"))
    assert any("passkeys are off" in line for line in warned)
    assert not any("passkeys" in line for line in startup_warnings(load_settings(data_dir=tmp_path)))


def test_providers_are_named_from_the_shipped_table_and_unknown_ones_are_not() -> None:
    assert passkeys.provider_name("EA9B8D66-4D01-1D21-3CE4-B6B48CB575D4") == "Google Password Manager"
    assert passkeys.provider_name("fbfc3007-154e-4ecc-8c0b-6e020557d7bd") == "iCloud Keychain"
    assert passkeys.provider_name(passkeys.ZERO_AAGUID) is None
    assert passkeys.provider_name("12345678-1234-1234-1234-123456789abc") is None
    assert passkeys.provider_name(None) is None


def test_a_passkey_name_is_one_trimmed_line() -> None:
    assert passkeys.clean_name("  Work \n\t laptop  ") == "Work laptop"
    assert passkeys.clean_name(" \t ") == ""
    assert len(passkeys.clean_name("x" * 500)) == passkeys.NAME_MAX


@pytest.mark.parametrize(
    ("password", "method", "remembered", "amr"),
    [
        (False, "passkey", False, ["hwk", "user", "mfa"]),
        (False, "passkey_synced", False, ["swk", "user", "mfa"]),
        (True, "passkey", False, ["pwd", "hwk", "user", "mfa"]),
        (True, "totp", False, ["pwd", "otp", "mfa"]),
        (True, "passkey", True, ["pwd"]),  # a remembered device is no factor
        (False, None, False, []),
    ],
)
def test_a_passkey_sign_in_is_multi_factor_on_its_own(
    password: bool, method: str | None, remembered: bool, amr: list[str]
) -> None:
    assert amr_for(password=password, second_step_method=method, remembered_device=remembered) == amr
    assert (acr_for(amr) == "https://refeds.org/profile/mfa") is ("mfa" in amr)
