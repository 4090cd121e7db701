"""SMS gateways against a real HTTP server on 127.0.0.1 playing the provider, and the failover chain."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from pydantic import SecretStr

from twostep.delivery.sms import (
    FailoverSmsSender,
    GatewayError,
    LogSmsGateway,
    SmsAttempt,
    SmsDeliveryError,
    SmsMessage,
    TwilioSmsGateway,
    WebhookSmsGateway,
    build_sms_sender,
)
from twostep.settings import Settings

CODE_TEXT = "Your twostep code is 493817"
NUMBER = "+32470123456"
MESSAGE = SmsMessage(to=NUMBER, text=CODE_TEXT)
TOKEN = "webhook-secret-token"
SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "twilio-auth-token"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeGateway:
    """What the fake provider saw, and how it should answer (status per path, paths that hang)."""

    base_url: str
    requests: list[Request] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    slow_paths: set[str] = field(default_factory=set)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return self.base_url + path


def handler_for(gateway: FakeGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            gateway.requests.append(
                Request(
                    method="POST",
                    path=self.path,
                    headers={key.lower(): value for key, value in self.headers.items()},
                    body=body,
                )
            )
            if self.path in gateway.slow_paths:
                gateway.release.wait(5)
            payload = json.dumps({"sid": "SM0001", "status": "queued", "echo": CODE_TEXT}).encode()
            try:
                self.send_response(gateway.statuses.get(self.path, 200))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture(autouse=True)
def no_proxy_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx honours *_PROXY variables; these tests talk to 127.0.0.1 directly."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_gateway() -> Iterator[FakeGateway]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    gateway = FakeGateway(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = handler_for(gateway)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield gateway
    finally:
        gateway.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_url() -> str:
    """A URL on a local port nobody listens on: connection refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/sms"


def twilio_for(gateway: FakeGateway) -> TwilioSmsGateway:
    return TwilioSmsGateway(SID, AUTH_TOKEN, "+3228080000", base_url=gateway.base_url, timeout_seconds=5)


def assert_text_free(attempts: list[SmsAttempt]) -> None:
    for attempt in attempts:
        assert "493817" not in attempt.detail
        assert NUMBER not in attempt.detail


def test_webhook_delivers_json_with_bearer_token(fake_gateway: FakeGateway) -> None:
    gateway = WebhookSmsGateway(fake_gateway.url("/sms"), TOKEN, timeout_seconds=5)

    gateway.send(MESSAGE)

    [request] = fake_gateway.requests
    assert request.path == "/sms"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.body) == {"to": NUMBER, "text": CODE_TEXT}


def test_webhook_without_token_sends_no_authorization_header(fake_gateway: FakeGateway) -> None:
    WebhookSmsGateway(fake_gateway.url("/sms"), None, timeout_seconds=5).send(MESSAGE)

    [request] = fake_gateway.requests
    assert "authorization" not in request.headers


def test_webhook_answering_500_is_a_failure(fake_gateway: FakeGateway) -> None:
    fake_gateway.statuses["/sms"] = 500
    sender = FailoverSmsSender([WebhookSmsGateway(fake_gateway.url("/sms"), TOKEN, timeout_seconds=5)])

    with pytest.raises(SmsDeliveryError) as caught:
        sender.send(MESSAGE)

    assert caught.value.attempts == [SmsAttempt(gateway="webhook", ok=False, detail="HTTP 500")]
    assert "493817" not in str(caught.value)


def test_webhook_that_hangs_fails_after_its_timeout(fake_gateway: FakeGateway) -> None:
    fake_gateway.slow_paths.add("/slow")
    gateway = WebhookSmsGateway(fake_gateway.url("/slow"), TOKEN, timeout_seconds=0.3)

    started = time.monotonic()
    with pytest.raises(GatewayError, match="timed out"):
        gateway.send(MESSAGE)

    assert time.monotonic() - started < 3


def test_first_gateway_down_second_delivers_and_attempts_show_both(
    fake_gateway: FakeGateway, closed_url: str
) -> None:
    fake_gateway.statuses[f"/2010-04-01/Accounts/{SID}/Messages.json"] = 201
    sender = FailoverSmsSender(
        [WebhookSmsGateway(closed_url, TOKEN, timeout_seconds=5), twilio_for(fake_gateway)]
    )

    attempts = sender.send(MESSAGE)

    assert [(a.gateway, a.ok) for a in attempts] == [("webhook", False), ("twilio", True)]
    assert "connection failed" in attempts[0].detail
    assert_text_free(attempts)
    assert len(fake_gateway.requests) == 1


def test_failover_stops_at_the_first_gateway_that_accepts(fake_gateway: FakeGateway) -> None:
    second = LogSmsGateway(logger=logging.getLogger("tests.sms_gateways"))
    sender = FailoverSmsSender([WebhookSmsGateway(fake_gateway.url("/sms"), TOKEN), second])

    attempts = sender.send(MESSAGE)

    assert attempts == [SmsAttempt(gateway="webhook", ok=True, detail="accepted")]
    assert second.sent == []


def test_all_gateways_down_raise_sms_delivery_error_with_attempts(
    fake_gateway: FakeGateway, closed_url: str
) -> None:
    fake_gateway.statuses[f"/2010-04-01/Accounts/{SID}/Messages.json"] = 503
    sender = FailoverSmsSender(
        [WebhookSmsGateway(closed_url, TOKEN, timeout_seconds=5), twilio_for(fake_gateway)]
    )

    with pytest.raises(SmsDeliveryError) as caught:
        sender.send(MESSAGE)

    attempts = caught.value.attempts
    assert [(a.gateway, a.ok) for a in attempts] == [("webhook", False), ("twilio", False)]
    assert attempts[1].detail == "HTTP 503"
    assert_text_free(attempts)
    assert "493817" not in str(caught.value)


def test_gateway_raising_an_unexpected_error_does_not_stop_the_failover() -> None:
    class Broken:
        name = "broken"

        def send(self, message: SmsMessage) -> None:
            raise RuntimeError(f"crashed while sending {message.text}")

    fallback = LogSmsGateway(logger=logging.getLogger("tests.sms_gateways"))
    attempts = FailoverSmsSender([Broken(), fallback]).send(MESSAGE)

    assert attempts[0] == SmsAttempt(gateway="broken", ok=False, detail="unexpected RuntimeError")
    assert attempts[1].ok
    assert fallback.sent == [MESSAGE]


def test_twilio_sender_posts_form_with_basic_auth_to_messages_path(fake_gateway: FakeGateway) -> None:
    path = f"/2010-04-01/Accounts/{SID}/Messages.json"
    fake_gateway.statuses[path] = 201

    twilio_for(fake_gateway).send(MESSAGE)

    [request] = fake_gateway.requests
    assert request.path == path
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    expected = base64.b64encode(f"{SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert parse_qs(request.body.decode()) == {"To": [NUMBER], "From": ["+3228080000"], "Body": [CODE_TEXT]}


def test_twilio_refusal_is_a_failure_without_the_text(fake_gateway: FakeGateway) -> None:
    fake_gateway.statuses[f"/2010-04-01/Accounts/{SID}/Messages.json"] = 400

    with pytest.raises(GatewayError) as caught:
        twilio_for(fake_gateway).send(MESSAGE)

    assert str(caught.value) == "HTTP 400"


def test_failover_logs_attempts_without_text_or_full_number(
    fake_gateway: FakeGateway, closed_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("tests.sms_failover")
    sender = FailoverSmsSender(
        [
            WebhookSmsGateway(closed_url, TOKEN, timeout_seconds=5),
            WebhookSmsGateway(fake_gateway.url("/sms"), None),
        ],
        logger=logger,
    )

    with caplog.at_level(logging.INFO, logger=logger.name):
        sender.send(MESSAGE)

    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "failed" in messages[0]
    assert "accepted" in messages[1]
    for message in messages:
        assert "webhook" in message
        assert "+32 ••• •• •• 56" in message
        assert "493817" not in message
        assert NUMBER not in message
        assert TOKEN not in message


def test_failover_refuses_a_number_that_is_not_e164() -> None:
    sender = FailoverSmsSender([LogSmsGateway(logger=logging.getLogger("tests.sms_gateways"))])

    with pytest.raises(ValueError):
        sender.send(SmsMessage(to="0470 12 34 56", text=CODE_TEXT))


def test_log_sms_gateway_prints_the_marked_block(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.sms_log")
    gateway = LogSmsGateway(logger=logger)

    with caplog.at_level(logging.WARNING, logger=logger.name):
        gateway.send(MESSAGE)

    assert gateway.sent == [MESSAGE]
    assert "==== twostep SMS (no gateway configured: printed instead of sent) ====" in caplog.text
    assert NUMBER in caplog.text
    assert CODE_TEXT in caplog.text


def sms_settings(**values: Any) -> Settings:
    defaults: dict[str, Any] = {
        "sms_gateways": "",
        "sms_webhook_url": "",
        "sms_webhook_token": None,
        "twilio_account_sid": "",
        "twilio_auth_token": None,
        "twilio_from": "",
    }
    defaults.update(values)
    return Settings(**defaults)


TWILIO: dict[str, Any] = {
    "twilio_account_sid": SID,
    "twilio_auth_token": SecretStr(AUTH_TOKEN),
    "twilio_from": "+3228080000",
}


def test_build_sms_sender_prints_to_the_log_when_nothing_is_configured() -> None:
    sender = build_sms_sender(sms_settings())

    assert [gateway.name for gateway in sender.gateways] == ["log"]


def test_build_sms_sender_defaults_to_webhook_then_twilio() -> None:
    sender = build_sms_sender(
        sms_settings(
            sms_webhook_url="https://relay.example.org/sms", sms_webhook_token=SecretStr(TOKEN), **TWILIO
        )
    )

    assert [gateway.name for gateway in sender.gateways] == ["webhook", "twilio"]


def test_build_sms_sender_follows_the_configured_order() -> None:
    sender = build_sms_sender(
        sms_settings(
            sms_gateways=" Twilio , webhook,log", sms_webhook_url="https://relay.example.org/sms", **TWILIO
        )
    )

    assert [gateway.name for gateway in sender.gateways] == ["twilio", "webhook", "log"]


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"sms_gateways": "webhook,carrier-pigeon"}, "unknown gateway"),
        ({"sms_gateways": "log,log"}, "twice"),
        ({"sms_gateways": "webhook"}, "TWOSTEP_SMS_WEBHOOK_URL"),
        ({"sms_gateways": "twilio", "twilio_account_sid": SID}, "TWOSTEP_TWILIO_AUTH_TOKEN"),
        ({"twilio_account_sid": SID}, "TWOSTEP_TWILIO_FROM"),
    ],
)
def test_build_sms_sender_refuses_bad_gateway_configuration(values: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        build_sms_sender(sms_settings(**values))
