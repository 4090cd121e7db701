"""/metrics: Prometheus text with requests, latency, verification outcomes, sends and active sessions."""

from __future__ import annotations

import re
from dataclasses import replace

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from tests.api.test_api import EMAIL, add_sent_code_method, call, totp_user, verify
from tests.support import RecordingMail, code_for, login_password, submit_code
from twostep.app import create_app
from twostep.domain.clock import FrozenClock
from twostep.services.api import apikeys
from twostep.services.core.context import Context
from twostep.settings import Settings


def local_get(client: TestClient, path: str = "/metrics") -> httpx.Response:
    """A request from a loopback peer (the test client's own peer is "testclient", not local)."""
    return TestClient(client.app, base_url=str(client.base_url), client=("127.0.0.1", 50123)).get(path)


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = local_get(client)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_by_route_template_and_status(client: TestClient, ctx: Context) -> None:
    before = scrape(client)
    client.get("/healthz")
    client.get("/api/v1/users/someone@example.com/methods")  # 401: no key
    after = scrape(client)
    ok = {"method": "GET", "route": "/healthz", "status": "200"}
    assert value(after, "twostep_http_requests_total", **ok) == value(before, "twostep_http_requests_total", **ok) + 1
    unauthorized = {"method": "GET", "route": "/api/v1/users/{email}/methods", "status": "401"}
    assert value(after, "twostep_http_requests_total", **unauthorized) >= 1
    latency = {"method": "GET", "route": "/healthz"}
    assert value(after, "twostep_http_request_duration_seconds_count", **latency) > value(
        before, "twostep_http_request_duration_seconds_count", **latency
    )
    assert value(after, "twostep_http_request_duration_seconds_bucket", le="+Inf", **latency) >= 1
    assert "someone@example.com" not in local_get(client).text


def test_verification_outcomes_are_counted_by_method(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    key = apikeys.create(ctx, "app").key
    secret = totp_user(ctx)
    before = scrape(client)
    code = code_for(secret, clock)
    verify(client, key, code)
    verify(client, key, code)
    for _ in range(5):
        verify(client, key, "000001" if code != "000001" else "000002")
    after = scrape(client)

    def delta(outcome: str) -> float:
        labels = {"method": "totp", "outcome": outcome, "via": "api"}
        return value(after, "twostep_verifications_total", **labels) - value(
            before, "twostep_verifications_total", **labels
        )

    # the replay is the first failure; the fourth wrong code is the fifth failure and starts the block
    assert (delta("valid"), delta("replayed"), delta("invalid"), delta("throttled")) == (1, 1, 3, 2)


def test_sends_and_delivery_failures_are_counted_by_channel(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    key = apikeys.create(ctx, "app").key
    totp_user(ctx)
    add_sent_code_method(ctx, EMAIL, "email", "ada.codes@example.org")
    add_sent_code_method(ctx, EMAIL, "sms", "+48601234567")
    before = scrape(client)
    assert call(client, key, "/api/v1/challenge", {"user": EMAIL, "method": "sms"}).status_code == 202
    mail.down = True
    clock.advance(seconds=61)  # the resend cooldown is per account, whatever the channel
    assert call(client, key, "/api/v1/challenge", {"user": EMAIL, "method": "email"}).status_code == 502
    after = scrape(client)
    for name, channel in [("twostep_messages_sent_total", "sms"), ("twostep_message_delivery_failures_total", "email")]:
        assert value(after, name, channel=channel) == value(before, name, channel=channel) + 1


def test_active_sessions_gauge_counts_signed_in_sessions(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    assert value(scrape(client), "twostep_active_sessions") == 0
    secret = totp_user(ctx)
    from twostep.services.core import accounts

    with ctx.db.transaction() as db:
        user = accounts.find_user_by_email(db, EMAIL)
        assert user is not None
        user.password_hash = ctx.hashing.hash("violet staple meadow 42")
    login_password(client, EMAIL)
    assert value(scrape(client), "twostep_active_sessions") == 0  # pending second step is not a session yet
    submit_code(client, code_for(secret, clock))
    assert value(scrape(client), "twostep_active_sessions") == 1
    clock.advance(minutes=31)
    assert value(scrape(client), "twostep_active_sessions") == 0


def test_metrics_text_has_help_and_type_lines(client: TestClient) -> None:
    text = local_get(client).text
    for name in ["twostep_http_requests_total", "twostep_verifications_total", "twostep_active_sessions"]:
        assert re.search(rf"^# TYPE {name} ", text, re.M), name


def test_sign_in_page_checks_are_counted_too(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    secret = totp_user(ctx)
    from twostep.services.core import accounts

    with ctx.db.transaction() as db:
        user = accounts.find_user_by_email(db, EMAIL)
        assert user is not None
        user.password_hash = ctx.hashing.hash("violet staple meadow 42")
    before = scrape(client)
    login_password(client, EMAIL)
    submit_code(client, "000000" if code_for(secret, clock) != "000000" else "000001")
    submit_code(client, code_for(secret, clock))
    after = scrape(client)
    for outcome in ("invalid", "valid"):
        labels = {"method": "totp", "outcome": outcome, "via": "web"}
        assert value(after, "twostep_verifications_total", **labels) == value(
            before, "twostep_verifications_total", **labels
        ) + 1


def test_metrics_token_when_set_is_required_and_checked(settings: Settings, ctx: Context) -> None:
    """TWOSTEP_METRICS_TOKEN: with it, only a scraper that sends the token gets the counts (from a
    loopback address too)."""
    guarded = settings.model_copy(update={"metrics_token": SecretStr("scrape-secret-2b7e")})
    with TestClient(create_app(guarded, context=replace(ctx, settings=guarded))) as client:
        missing = client.get("/metrics")
        assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
        assert "twostep_" not in missing.text
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Basic scrape-secret-2b7e"}).status_code == 401
        allowed = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret-2b7e"})
        assert allowed.status_code == 200 and "twostep_http_requests_total" in allowed.text
        assert client.get("/healthz").status_code == 200, "the probes stay open"
    with TestClient(create_app(guarded, context=replace(ctx, settings=guarded)), client=("127.0.0.1", 5)) as local:
        assert local.get("/metrics").status_code == 401


@pytest.mark.parametrize(
    ("peer", "headers", "allowed"),
    [
        ("127.0.0.1", {}, True),
        ("127.0.0.53", {}, True),
        ("::1", {}, True),
        ("::ffff:127.0.0.1", {}, True),
        ("testclient", {}, False),
        ("192.0.2.10", {}, False),
        ("10.0.0.1", {"X-Forwarded-For": "127.0.0.1"}, False),  # a forwarded header never makes a client local
        ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}, False),  # a reverse proxy on this machine relaying
        ("127.0.0.1", {"Forwarded": "for=203.0.113.9"}, False),
        ("127.0.0.1", {"X-Real-IP": "203.0.113.9"}, False),
    ],
)
def test_metrics_without_a_token_are_served_to_local_clients_only(
    app: object, peer: str, headers: dict[str, str], allowed: bool
) -> None:
    with TestClient(app, client=(peer, 40000)) as client:  # type: ignore[arg-type]
        response = client.get("/metrics", headers=headers)
    assert response.status_code == (200 if allowed else 403)
    assert ("twostep_http_requests_total" in response.text) is allowed


def test_metrics_from_a_trusted_proxy_on_loopback_are_refused(settings: Settings, ctx: Context) -> None:
    """TWOSTEP_TRUSTED_PROXIES=127.0.0.1: the proxy's own peer address is loopback, but what it relays
    comes from elsewhere."""
    proxied = settings.model_copy(update={"trusted_proxies": "127.0.0.1"})
    app = create_app(proxied, context=replace(ctx, settings=proxied))
    with TestClient(app, client=("127.0.0.1", 40000)) as client:
        assert client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 403
        assert client.get("/metrics").status_code == 200


def _all_counters(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every counter sample except request latency (a duration, not a count; the timing tests cover it)."""
    return {
        key: sample
        for key, sample in scrape(client).items()
        if not key[0].startswith("twostep_http_request_duration_seconds")
        and key[0] != "twostep_active_sessions"
        and not key[0].endswith("_created")  # when a series first appeared (a timestamp)
    }


def _delta(
    before: dict[tuple[str, tuple[tuple[str, str], ...]], float],
    after: dict[tuple[str, tuple[tuple[str, str], ...]], float],
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    keys = set(before) | set(after)
    changes = {key: after.get(key, 0.0) - before.get(key, 0.0) for key in keys}
    # the scrape itself is counted: leave /metrics out
    return {key: d for key, d in changes.items() if d and ("route", "/metrics") not in key[1]}


def test_no_counter_tells_an_existing_address_from_an_unknown_one(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    """Each path anybody can reach with an address, once with an account's address and once with an
    unknown one: every counter moves the same way (checklist X-18). The API paths count an unknown
    user as a wrong code / no method (their callers hold a key)."""
    from tests.support import csrf_of

    key = apikeys.create(ctx, "app").key
    totp_user(ctx)  # EMAIL has an account with an authenticator
    unknown = "nobody.here@example.com"

    def forgot(address: str) -> None:
        token = csrf_of(client.get("/password/forgot").text)
        client.post("/password/forgot", data={"email": address, "csrf_token": token}, follow_redirects=False)

    def login(address: str) -> None:
        token = csrf_of(client.get("/login").text)
        client.post("/login", data={"email": address, "password": "wrong password 123", "csrf_token": token})

    def reset_code(address: str) -> None:
        forgot(address)
        token = csrf_of(client.get("/password/reset").text)
        client.post(
            "/password/reset",
            data={"code": "ABCD2345", "password": "a new long password 9", "password_confirm": "a new long password 9",
                  "csrf_token": token},
        )

    def api_verify(address: str) -> None:
        call(client, key, "/api/v1/verify", {"user": address, "code": "000000"})

    for path in (forgot, login, reset_code, api_verify):
        changes = []
        for address in (EMAIL, unknown):
            clock.advance(seconds=120)  # past every cooldown
            client.cookies.clear()
            before = _all_counters(client)
            path(address)
            changes.append(_delta(before, _all_counters(client)))
        assert changes[0] == changes[1], path.__name__
    assert any(m.to == EMAIL for m in mail.sent), "the reset mail itself did go out"
