"""/metrics: Prometheus text with requests, latency, verification outcomes, sends and active sessions."""

from __future__ import annotations

import re
from dataclasses import replace

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from tests.http.test_api import EMAIL, add_sent_code_method, call, totp_user, verify
from tests.support import RecordingMail, code_for, login_password, submit_code
from twostep.app import create_app
from twostep.domain.clock import FrozenClock
from twostep.services import apikeys
from twostep.services.context import Context
from twostep.settings import Settings


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
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
    assert "someone@example.com" not in client.get("/metrics").text


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
    from twostep.services import accounts

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
    text = client.get("/metrics").text
    for name in ["twostep_http_requests_total", "twostep_verifications_total", "twostep_active_sessions"]:
        assert re.search(rf"^# TYPE {name} ", text, re.M), name


def test_sign_in_page_checks_are_counted_too(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    secret = totp_user(ctx)
    from twostep.services import accounts

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
    """TWOSTEP_METRICS_TOKEN: without it /metrics is public (the default); with it, only a scraper
    that sends the token gets the counts."""
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
