"""How long a proxy may keep an allowed forward-auth answer (``X-Accel-Expires``,
TWOSTEP_FORWARD_AUTH_CACHE_SECONDS): never by default, at most the configured seconds, and never past a
moment when time alone would change the answer (a step-up window, the idle timeout). nginx honouring
it: test_forward_auth_proxies.py (nginx-cache.conf)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import T0
from tests.forward_auth.test_forward_auth import AR, FA, ask, forward_auth_settings, session_cookie, sign_in_from
from twostep.domain import authz
from twostep.domain.clock import FrozenClock
from twostep.domain.login_flow import IDLE_TIMEOUT
from twostep.settings import Settings

KEEP = 20


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return forward_auth_settings(tmp_path, database_url, forward_auth_cache_seconds=KEEP)


def signed_in(proxy: TestClient, browser: TestClient, secret: str, clock: FrozenClock, url: str) -> str:
    sign_in_from(browser, ask(proxy, url).headers["location"], secret, clock)
    return session_cookie(browser)


def kept_for(response: object) -> int | None:
    value = response.headers.get("x-accel-expires")  # type: ignore[attr-defined]
    return None if value is None else int(value)


def test_an_allowed_answer_may_be_kept_for_the_configured_seconds_and_says_so_before_no_store(
    proxy: TestClient, browser: TestClient, secret: str, clock: FrozenClock
) -> None:
    cookie = signed_in(proxy, browser, secret, clock, "http://app.example.test/wiki")
    for endpoint in (FA, AR):
        allowed = ask(proxy, "http://app.example.test/wiki", cookie=cookie, endpoint=endpoint)
        assert allowed.status_code == 200 and kept_for(allowed) == KEEP
        names = [name.decode().lower() for name, _ in allowed.headers.raw]
        # nginx 1.22 reads X-Accel-Expires only if it comes before the Cache-Control: no-store meant
        # for every other cache (browsers, CDNs).
        assert names.index("x-accel-expires") < names.index("cache-control")
        assert allowed.headers["cache-control"] == "no-store"
    assert kept_for(ask(proxy, "http://app.example.test/public/logo.png")) == KEEP  # bypass: nobody's session


def test_refusals_are_never_to_be_kept(
    proxy: TestClient, browser: TestClient, secret: str, clock: FrozenClock
) -> None:
    cookie = signed_in(proxy, browser, secret, clock, "http://app.example.test/wiki")
    refusals = {
        "forbidden": ask(proxy, "http://admin.example.test/", cookie=cookie),
        "anonymous": ask(proxy, "http://app.example.test/wiki"),
        "anonymous XHR": ask(proxy, "http://app.example.test/wiki", headers={"X-Requested-With": "XMLHttpRequest"}),
        "auth-request": ask(proxy, "http://app.example.test/wiki", endpoint=AR),
        "bad metadata": ask(proxy, "http://app.example.test/wiki", headers={"X-Forwarded-Proto": "gopher"}),
        "unknown cookie": ask(proxy, "http://app.example.test/wiki", cookie="not-a-session"),
    }
    statuses = {name: response.status_code for name, response in refusals.items()}
    assert statuses == {"forbidden": 403, "anonymous": 302, "anonymous XHR": 401, "auth-request": 401,
                        "bad metadata": 400, "unknown cookie": 302}
    assert {name: kept_for(response) for name, response in refusals.items()} == dict.fromkeys(refusals)


def test_a_kept_answer_never_outlives_the_step_up_window(
    proxy: TestClient, browser: TestClient, secret: str, clock: FrozenClock
) -> None:
    cookie = signed_in(proxy, browser, secret, clock, "http://fresh.example.test/")  # two_factor_within = 5m
    assert kept_for(ask(proxy, "http://fresh.example.test/", cookie=cookie)) == KEEP
    clock.advance(minutes=4, seconds=47)
    browser.get("/account")  # keeps the session from idling out
    near = ask(proxy, "http://fresh.example.test/", cookie=cookie)
    assert near.status_code == 200 and kept_for(near) == 13  # 5 min after the second step, not 20 s
    clock.advance(seconds=12, microseconds=500_000)
    last = ask(proxy, "http://fresh.example.test/", cookie=cookie)
    assert last.status_code == 200 and kept_for(last) is None  # under a second left: not to be kept
    clock.advance(seconds=1)
    assert ask(proxy, "http://fresh.example.test/", cookie=cookie).status_code == 302  # the step-up


def test_a_kept_answer_never_outlives_the_idle_timeout(
    proxy: TestClient, browser: TestClient, secret: str, clock: FrozenClock
) -> None:
    cookie = signed_in(proxy, browser, secret, clock, "http://app.example.test/wiki")
    clock.advance(seconds=(IDLE_TIMEOUT - timedelta(seconds=7)).total_seconds())  # nothing touched the session
    near = ask(proxy, "http://app.example.test/wiki", cookie=cookie)
    assert near.status_code == 200 and kept_for(near) == 7  # the check itself then keeps it alive again
    assert kept_for(ask(proxy, "http://app.example.test/wiki", cookie=cookie)) == KEEP


def test_allowed_until_is_the_step_up_windows_end_and_nothing_else_ends_an_allow_by_time() -> None:
    """Every rule level and subject: ``allowed_until`` names a moment exactly when an ``allow`` turns
    into something else with time alone (checked a second before and after it)."""
    start = T0
    subjects = {
        "anonymous": None,
        "password only": authz.Subject("a@x.test", frozenset(), start, None, False),
        "second step": authz.Subject("a@x.test", frozenset(), start, start, False),
        "remembered device": authz.Subject("a@x.test", frozenset(), start, None, True),
    }
    rules = [
        {"level": level, **extra}
        for level in ("bypass", "one_factor", "two_factor", "deny")
        for extra in ({}, {"two_factor_within": "5m"} if level == "two_factor" else {},
                      {"allow_remembered_device": False} if level == "two_factor" else {})
    ]
    for raw in rules:
        rule = authz.parse_rule({"hosts": ["a.test"], **raw}, 0)
        for name, subject in subjects.items():
            now = start + timedelta(minutes=1)
            decision = authz.decide_among((rule,), subject, now)
            until = authz.allowed_until(decision, subject)
            if decision.verdict != "allow":
                assert until is None, (raw, name)
                continue
            later = until + timedelta(seconds=1) if until is not None else now + timedelta(days=3650)
            before = until - timedelta(seconds=1) if until is not None else later
            assert authz.decide_among((rule,), subject, before).verdict == "allow", (raw, name)
            expected = "allow" if until is None else "step_up"
            assert authz.decide_among((rule,), subject, later).verdict == expected, (raw, name)
