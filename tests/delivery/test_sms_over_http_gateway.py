"""SMS codes end to end through real HTTP gateways: two http.server instances on 127.0.0.1 play the
generic webhook and a Twilio-compatible API, and the app's sender is built from the settings
(TWOSTEP_SMS_GATEWAYS=webhook,twilio), as an operator configures it."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from tests.oob_helpers import code_in, post_form, press_send, user_with
from tests.support import RecordingMail, alerts, code_for, login_password, make_user, sign_out, submit_code
from twostep.app import build_context
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.services.core.context import Context
from twostep.settings import Settings, load_settings
from twostep.storage.database import Database
from twostep.storage.models import AuditEvent, Factor

NUMBER = "+32470123456"
TOKEN = "webhook-bearer-token"
SID = "AC00000000000000000000000000000001"
AUTH = "twilio-auth-token"
FAILED = "We couldn't send the text message — try again or choose another method."


@dataclass
class Gateway:
    """A fake provider: records each request, answers ``status`` (or is down altogether)."""

    server: ThreadingHTTPServer
    status: int = 200
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def texts(self) -> list[str]:
        out = []
        for _, headers, body in self.requests:
            if headers.get("content-type", "").startswith("application/json"):
                out.append(json.loads(body)["text"])
            else:
                out.append(parse_qs(body.decode())["Body"][0])
        return out


def start_gateway() -> Gateway:
    gateway: Gateway

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            gateway.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(gateway.status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"sid": "SM1", "status": "queued"}')

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    gateway = Gateway(server)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return gateway


@pytest.fixture
def webhook() -> Iterator[Gateway]:
    gateway = start_gateway()
    yield gateway
    gateway.server.shutdown()
    gateway.server.server_close()


@pytest.fixture
def twilio() -> Iterator[Gateway]:
    gateway = start_gateway()
    gateway.status = 201
    yield gateway
    gateway.server.shutdown()
    gateway.server.server_close()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, webhook: Gateway, twilio: Gateway) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        service_name="Acme",
        sms_gateways="webhook,twilio",
        sms_webhook_url=webhook.base_url + "/sms",
        sms_webhook_token=SecretStr(TOKEN),
        twilio_account_sid=SID,
        twilio_auth_token=SecretStr(AUTH),
        twilio_from="+3225550100",
        twilio_base_url=twilio.base_url,
    )


@pytest.fixture
def ctx(settings: Settings, clock: FrozenClock, mail: RecordingMail) -> Iterator[Context]:  # type: ignore[override]
    context = build_context(settings, clock=clock, mail=mail, database=Database(settings.resolved_database_url))
    yield context
    context.db.dispose()


def expected_text(code: str) -> str:
    """The message, then the WebOTP line that lets a phone's browser offer the code (bound to the site)."""
    return f"{code} is your Acme verification code. It expires in 10 minutes.\n\n@127.0.0.1:8000 #{code}"


def test_the_code_arrives_through_the_webhook_and_works(
    client: TestClient, ctx: Context, clock: FrozenClock, webhook: Gateway, twilio: Gateway
) -> None:
    make_user(ctx)
    login_password(client, "ada@example.com")
    sent = post_form(client, "/enroll/sms", phone="+32 470 12 34 56", country="")
    assert sent.status_code == 303 and sent.headers["location"] == "/enroll/sms?sent=1"
    [(path, headers, body)] = webhook.requests
    payload = json.loads(body)
    assert path == "/sms" and headers["authorization"] == f"Bearer {TOKEN}"
    assert payload == {"to": NUMBER, "text": expected_text(code_in(payload["text"]))}
    assert post_form(client, "/enroll/sms", code=code_in(payload["text"])).status_code == 200
    sign_out(client)

    clock.advance(seconds=61)
    login_password(client, "ada@example.com")
    assert press_send(client).status_code == 200
    assert submit_code(client, code_in(webhook.texts()[-1])).status_code == 303
    assert twilio.requests == []


def test_when_the_first_gateway_is_down_the_second_delivers(
    client: TestClient, ctx: Context, webhook: Gateway, twilio: Gateway
) -> None:
    user_with(ctx, "ada@example.com", sms=NUMBER)
    webhook.server.shutdown()
    webhook.server.server_close()  # nothing listens any more: connection refused
    login_password(client, "ada@example.com")
    assert press_send(client).status_code == 200
    [(path, headers, body)] = twilio.requests
    form = parse_qs(body.decode())
    assert path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert headers["authorization"] == "Basic " + base64.b64encode(f"{SID}:{AUTH}".encode()).decode()
    assert form["To"] == [NUMBER] and form["From"] == ["+3225550100"]
    code = code_in(form["Body"][0])
    assert form["Body"] == [expected_text(code)]
    assert submit_code(client, code).status_code == 303
    with ctx.db.transaction() as db:
        sent = db.scalars(select(AuditEvent).where(AuditEvent.event == "authn_code_sent")).one()
    assert "webhook: connection failed" in sent.detail and "twilio: accepted" in sent.detail
    assert code not in sent.detail


def test_a_gateway_answering_an_error_counts_as_down(
    client: TestClient, ctx: Context, webhook: Gateway, twilio: Gateway
) -> None:
    user_with(ctx, "ada@example.com", sms=NUMBER)
    webhook.status = 503
    login_password(client, "ada@example.com")
    assert press_send(client).status_code == 200
    assert len(webhook.requests) == 1 and len(twilio.requests) == 1
    assert submit_code(client, code_in(twilio.texts()[0])).status_code == 303


def test_everything_down_says_so_offers_other_methods_and_never_signs_in(
    client: TestClient, ctx: Context, clock: FrozenClock, webhook: Gateway, twilio: Gateway
) -> None:
    user_id = user_with(ctx, "ada@example.com", sms=NUMBER)
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
    webhook.status, twilio.status = 500, 401
    login_password(client, "ada@example.com")
    client.get("/login/code?method=sms")
    failed = press_send(client)
    assert failed.status_code == 503 and alerts(failed.text) == [FAILED]
    assert 'href="/login/code?method=totp"' in failed.text and 'href="/login/recover"' in failed.text
    sent_text = webhook.texts()[0]
    assert submit_code(client, code_in(sent_text)).status_code == 401  # the code of a failed send is void
    assert client.get("/account", follow_redirects=False).headers["location"] == "/login/code"
    with ctx.db.transaction() as db:
        failure = db.scalars(select(AuditEvent).where(AuditEvent.event == "authn_code_send_fail")).one()
    assert "webhook: HTTP 500" in failure.detail and "twilio: HTTP 401" in failure.detail
    assert code_in(sent_text) not in failure.detail

    webhook.status = 200  # back: a retry works at once, and the other method worked all along
    assert press_send(client).status_code == 200
    client.get("/login/code?method=totp")
    assert submit_code(client, code_for(secret, clock)).status_code == 303


def test_rate_limits_stop_texts_before_they_reach_a_gateway(
    client: TestClient, ctx: Context, clock: FrozenClock, webhook: Gateway
) -> None:
    user_with(ctx, "ada@example.com", sms=NUMBER)
    login_password(client, "ada@example.com")
    assert press_send(client).status_code == 200
    cooldown = press_send(client)
    assert cooldown.status_code == 429 and "Wait 60 seconds" in alerts(cooldown.text)[0]
    for _ in range(4):
        clock.advance(seconds=61)
        assert press_send(client).status_code == 200
    clock.advance(seconds=61)
    capped = press_send(client)
    assert capped.status_code == 429 and "Too many codes" in alerts(capped.text)[0]
    assert len(webhook.requests) == 5


def test_an_unusable_number_never_reaches_a_gateway(
    client: TestClient, ctx: Context, webhook: Gateway, twilio: Gateway
) -> None:
    make_user(ctx)
    login_password(client, "ada@example.com")
    landline = post_form(client, "/enroll/sms", phone="+32 2 234 56 78", country="")
    assert landline.status_code == 422 and "not a mobile number" in alerts(landline.text)[0]
    assert webhook.requests == [] and twilio.requests == []
