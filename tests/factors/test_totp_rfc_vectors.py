"""RFC 4226 Appendix D and RFC 6238 Appendix B vectors, and a cross-check against oathtool."""

from __future__ import annotations

import base64
import hashlib
import hmac
import shutil
import subprocess
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest

from twostep.domain import totp

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
HOTP_VECTORS = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
                "520489"]
TOTP_SHA1_VECTORS = [
    (59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"), (1234567890, "89005924"),
    (2000000000, "69279037"), (20000000000, "65353130"),
]


@pytest.mark.parametrize(("counter", "expected"), list(enumerate(HOTP_VECTORS)))
def test_rfc4226_appendix_d_hotp_vectors(counter: int, expected: str) -> None:
    assert totp.code_at_step(RFC_SECRET, counter) == expected


@pytest.mark.parametrize(("unix_time", "expected"), TOTP_SHA1_VECTORS)
def test_rfc6238_appendix_b_sha1_vectors_eight_digits(unix_time: int, expected: str) -> None:
    step = totp.step_at(datetime.fromtimestamp(unix_time, UTC))
    assert totp.code_at_step(RFC_SECRET, step, digits=8) == expected


@pytest.mark.parametrize(("unix_time", "expected"), TOTP_SHA1_VECTORS)
def test_six_digit_code_is_last_six_digits_of_rfc6238_value(unix_time: int, expected: str) -> None:
    step = totp.step_at(datetime.fromtimestamp(unix_time, UTC))
    assert totp.code_at_step(RFC_SECRET, step) == expected[-6:]


def test_time_counter_goes_beyond_32_bits() -> None:
    unix_time = 20000000000  # past 2**32 seconds: a 32-bit time value would have wrapped
    step = totp.step_at(datetime.fromtimestamp(unix_time, UTC))
    assert unix_time > 2**32 and step == 0x27BC86AA


def test_sha256_with_twenty_byte_seed_is_not_the_rfc_value() -> None:
    """Errata 2866: the SHA256 rows need a 32-byte seed; our SHA1-only profile never offers SHA256."""
    mac = hmac.new(b"12345678901234567890", (1).to_bytes(8, "big"), hashlib.sha256).digest()
    offset = mac[-1] & 0x0F
    value = (int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF) % 10**8
    assert f"{value:08d}" == "32247374" != "46119246"


def test_new_secret_is_160_bits_base32_without_padding() -> None:
    secrets_seen = {totp.new_secret() for _ in range(1000)}
    assert len(secrets_seen) == 1000
    for secret in list(secrets_seen)[:20]:
        assert len(secret) == 32 and "=" not in secret
        assert len(base64.b32decode(secret)) == 20


def test_otpauth_uri_follows_key_uri_format() -> None:
    uri = totp.otpauth_uri("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "ada@example.com", "Acme Co")
    parsed = urlparse(uri)
    query = parse_qs(parsed.query)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    assert parsed.path == "/Acme%20Co:ada@example.com"
    assert query == {"secret": ["GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"], "issuer": ["Acme Co"], "algorithm": ["SHA1"],
                     "digits": ["6"], "period": ["30"]}
    assert pyotp.parse_uri(uri).secret == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def test_window_accepts_only_previous_current_and_next_step() -> None:
    secret = totp.new_secret()
    now_step = 1_000_000
    accepted = {offset for offset in range(-3, 4)
                if totp.matching_step(secret, totp.code_at_step(secret, now_step + offset), now_step) is not None}
    assert accepted == {-1, 0, 1}


def test_code_from_used_step_is_refused() -> None:
    secret = totp.new_secret()
    moment = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    step = totp.step_at(moment)
    code = totp.code_at_step(secret, step)
    assert totp.check_code(secret, code, moment, None).accepted
    assert totp.check_code(secret, code, moment, step).replayed
    older = totp.code_at_step(secret, step - 1)
    assert not totp.check_code(secret, older, moment, step).accepted


def test_codes_with_leading_zero_and_spaces_are_normalized_as_strings() -> None:
    assert totp.normalize_code(" 012 345 ") == "012345"
    for bad in ["12345", "1234567", "１２３４５６", "12a456", ""]:
        assert totp.normalize_code(bad) is None


def test_clock_drift_is_detected_beyond_the_window() -> None:
    secret = totp.new_secret()
    now_step = 5_000
    assert totp.drift_steps(secret, totp.code_at_step(secret, now_step + 4), now_step) == 4
    assert totp.drift_steps(secret, totp.code_at_step(secret, now_step - 7), now_step) == -7
    assert totp.drift_steps(secret, totp.code_at_step(secret, now_step + 30), now_step) is None


def test_codes_match_independent_oathtool_implementation() -> None:
    assert shutil.which("oathtool"), "oathtool (Debian package oathtool) must be installed"
    for _ in range(5):
        secret = totp.new_secret()
        for unix_time in (59, 1_700_000_000, 1_234_567_890):
            moment = datetime.fromtimestamp(unix_time, UTC)
            expected = subprocess.run(
                ["oathtool", "--totp", "--base32", "--now", moment.strftime("%Y-%m-%d %H:%M:%S UTC"), secret],
                capture_output=True, text=True, check=True,
            ).stdout.strip()
            assert totp.code_at_step(secret, totp.step_at(moment)) == expected


# A real collision (found by search, confirmed with oathtool): this key gives 734217 at both steps.
COLLIDING_SECRET = "GGK4F54DQ7QQPRMKZKSWUW6ZBOENTJWV"
COLLIDING_STEP = 58_000_000


def test_a_code_shared_by_a_used_step_and_a_fresh_step_is_accepted_for_the_fresh_one() -> None:
    """Six digits collide about once in 500,000 checks; the used step must not hide the fresh one."""
    code = totp.code_at_step(COLLIDING_SECRET, COLLIDING_STEP)
    assert code == totp.code_at_step(COLLIDING_SECRET, COLLIDING_STEP + 1) == "734217"
    now = datetime.fromtimestamp((COLLIDING_STEP + 1) * 30 + 5, UTC)
    check = totp.check_code(COLLIDING_SECRET, code, now, last_used_step=COLLIDING_STEP)
    assert (check.accepted, check.step) == (True, COLLIDING_STEP + 1)
    again = totp.check_code(COLLIDING_SECRET, code, now, last_used_step=COLLIDING_STEP + 1)
    assert (again.accepted, again.replayed) == (False, True)
    fresh = totp.check_code(COLLIDING_SECRET, code, now, last_used_step=None)
    assert (fresh.accepted, fresh.step) == (True, COLLIDING_STEP), "the earliest unused step is taken"
