"""Password guessing: per client address across accounts, and never at the owner's expense.

A spray of wrong passwords over many accounts from one address is stopped by a per-address limit
(domain.throttle.CLIENT_WRONG_PASSWORDS); an attacker who keeps an account (or an address) blocked
does not lock out the owner's remembered browser, which is judged by its own count (NIST SP
800-63B-4 §3.2.2).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support import PASSWORD, code_for, login_password, make_user, sign_out, submit_code
from twostep.domain import throttle as throttle_rules
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.services.core import throttling
from twostep.services.core.context import Context
from twostep.storage.models import Factor, Throttle

EMAIL = "ada@example.com"
BASE = "http://127.0.0.1:8000"


def from_address(app: FastAPI, ip: str) -> TestClient:
    return TestClient(app, base_url=BASE, client=(ip, 40000))


def owner_with_authenticator(ctx: Context) -> str:
    user_id = make_user(ctx, EMAIL)
    secret = totp.new_secret()
    with ctx.db.transaction() as db:
        now = ctx.clock.now()
        db.add(
            Factor(
                user_id=user_id,
                kind="totp",
                secret_sealed=ctx.sealer.seal(secret, f"user:{user_id}:totp"),
                created_at=now,
                confirmed_at=now,
            )
        )
    return secret


def client_failures(ctx: Context, ip: str, failures: int) -> None:
    """As if this address had already sent ``failures`` wrong passwords, just now."""
    key = throttling.client_password_key(ip)
    assert key is not None
    with ctx.db.transaction() as db:
        db.merge(Throttle(key=key, failures=failures, blocked_until=None, updated_at=ctx.clock.now()))


def test_a_password_spray_from_one_address_is_throttled(app: FastAPI, ctx: Context, clock: FrozenClock) -> None:
    make_user(ctx, EMAIL)
    attacker = from_address(app, "203.0.113.50")
    client_failures(ctx, "203.0.113.50", throttle_rules.CLIENT_WRONG_PASSWORDS - 3)
    statuses = [
        login_password(attacker, f"victim{n}@example.com", "Summer2026!").status_code for n in range(3)
    ]
    assert statuses == [401, 401, 429], "the limit-th wrong password from one address starts the pause"
    refused = login_password(attacker, EMAIL, PASSWORD)  # a right password, a new account: still paused
    assert refused.status_code == 429 and "Too many attempts" in refused.text and 'role="alert"' in refused.text
    assert login_password(from_address(app, "198.51.100.9"), EMAIL).status_code == 303, "other addresses go on"
    clock.advance(seconds=int(throttle_rules.CLIENT_WINDOW.total_seconds()) + 1)
    assert login_password(attacker, EMAIL).status_code == 303, "the pause ends a window after the last wrong one"


def test_an_ipv6_client_is_counted_by_its_64_prefix() -> None:
    a = throttling.client_password_key("2001:db8:1:2:aaaa::1")
    b = throttling.client_password_key("2001:db8:1:2:ffff:1:2:3")
    assert a == b == "pwip:2001:db8:1:2::/64"
    assert throttling.client_password_key("2001:db8:1:3::1") != a
    assert throttling.client_password_key("::ffff:192.0.2.1") == "pwip:192.0.2.1"
    assert throttling.client_password_key("") is None


def test_an_attacker_locking_an_account_does_not_lock_out_the_owners_remembered_browser(
    app: FastAPI, client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    secret = owner_with_authenticator(ctx)
    owner = from_address(app, "192.0.2.10")
    login_password(owner, EMAIL)
    assert submit_code(owner, code_for(secret, clock), remember=True).status_code == 303
    sign_out(owner)
    attacker = from_address(app, "203.0.113.66")
    for _ in range(throttle_rules.FREE_FAILURES + 1):
        login_password(attacker, EMAIL, "guess guess guess 1")
    assert login_password(attacker, EMAIL, PASSWORD).status_code == 429, "the account is blocked"
    assert login_password(from_address(app, "192.0.2.10"), EMAIL).status_code == 429, "a browser without proof waits"
    back = login_password(owner, EMAIL)
    assert back.status_code == 303 and back.headers["location"] == "/account", "the remembered browser gets in"


def test_a_remembered_browser_has_its_own_delay_for_wrong_passwords(
    app: FastAPI, ctx: Context, clock: FrozenClock
) -> None:
    """A stolen device cookie does not buy unlimited guesses: the browser's own count has the
    account's delays."""
    secret = owner_with_authenticator(ctx)
    browser = from_address(app, "192.0.2.20")
    login_password(browser, EMAIL)
    assert submit_code(browser, code_for(secret, clock), remember=True).status_code == 303
    sign_out(browser)
    statuses = [login_password(browser, EMAIL, f"wrong password {n}").status_code for n in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
    assert login_password(browser, EMAIL).status_code == 429


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_wrong_passwords_from_one_address_restart_after_a_quiet_window(ctx: Context, clock: FrozenClock) -> None:
    key = "pwip:192.0.2.99"
    with ctx.db.transaction() as db:
        for _ in range(3):
            throttling.record_client_failure(db, key, clock.now())
        assert throttling.record_client_failure(db, key, clock.now() + timedelta(minutes=59)) == 4
        later = clock.now() + timedelta(minutes=60) + throttle_rules.CLIENT_WINDOW
        assert throttling.record_client_failure(db, key, later) == 1
