"""PostgreSQL down answers 503, not 500 (issue 12, item 17), and recovery needs no restart.

A throw-away PostgreSQL cluster of the test's own is stopped while the app runs: the API answers
problem+json 503 with ``Retry-After``, pages a translated "temporarily unavailable" page (503), the
log has one line when the database goes away and one when it is back — no traceback per request.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.real_servers import PostgresServer, postgres_server
from tests.support import RecordingMail, alerts, code_for
from twostep.app import build_context, create_app
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.services.api import apikeys
from twostep.services.core import accounts
from twostep.services.core.context import Context
from twostep.settings import load_settings
from twostep.storage.database import Database
from twostep.storage.migrate import upgrade
from twostep.storage.models import Factor

EMAIL = "ada@example.com"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        upgrade(server.url)
        yield server


@pytest.fixture
def outage_ctx(postgres: PostgresServer, tmp_path: Path, clock: FrozenClock) -> Iterator[Context]:
    settings = load_settings(data_dir=tmp_path / "data", database_url=postgres.url, service_name="Acme")
    context = build_context(settings, clock=clock, mail=RecordingMail(), database=Database(postgres.url))
    yield context
    context.db.dispose()


def totp_user(ctx: Context) -> str:
    user_id = accounts.create_user(ctx, EMAIL, None)
    secret = totp.new_secret()
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        sealed = ctx.sealer.seal(secret, f"user:{user_id}:totp")
        db.add(
            Factor(user_id=user_id, kind="totp", secret_sealed=sealed, label="Phone", created_at=now, confirmed_at=now)
        )
    return secret


def verify(client: TestClient, key: str, code: str) -> Response:
    return client.post(
        "/api/v1/verify",
        content=json.dumps({"user": EMAIL, "code": code}),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )


def assert_unavailable_problem(answer: Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert int(answer.headers["retry-after"]) > 0
    body = answer.json()
    assert body["status"] == 503 and body["type"].endswith("#problem-unavailable")


def test_postgresql_down_answers_503_and_logs_once_per_state_change(
    postgres: PostgresServer, outage_ctx: Context, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = outage_ctx
    secret = totp_user(ctx)
    key = apikeys.create(ctx, "Payroll").key
    app = create_app(ctx.settings, context=ctx)
    # raise_server_exceptions: an error that reached Starlette's catch-all would be raised here, as
    # it is re-raised to uvicorn, which logs a traceback for it: outage answers must not go there.
    with TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=True) as client:
        assert verify(client, key, code_for(secret, clock)).json() == {"valid": True}
        caplog.clear()
        with caplog.at_level(logging.INFO):
            postgres.stop()
            for _ in range(3):
                assert_unavailable_problem(verify(client, key, "123456"))
            challenge = client.post(
                "/api/v1/challenge",
                content=json.dumps({"user": EMAIL, "method": "email"}),
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
            assert_unavailable_problem(challenge)
            grant = {"grant_type": "refresh_token", "refresh_token": "x"}
            token = client.post("/oauth2/token", data=grant, auth=("app", "secret"))
            assert token.status_code == 503 and token.json()["error"] == "temporarily_unavailable"
            assert int(token.headers["retry-after"]) > 0  # OAuth clients get RFC 6749's JSON, not a page
            for path in ("/login", "/account", "/password/forgot"):
                page = client.get(path, headers={"Accept-Language": "pl"}, follow_redirects=False)
                assert page.status_code == 503, (path, page.text[:300])
                assert page.headers["retry-after"] and "text/html" in page.headers["content-type"]
                assert "Chwilowo niedostępne" in page.text
                assert alerts(page.text) == ["Usługa jest chwilowo niedostępna. Spróbuj ponownie za minutę."]
            form = client.post("/login", data={"email": EMAIL, "password": "x", "csrf_token": "x"})
            assert form.status_code == 503 and "Temporarily unavailable" in form.text
            ready = client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["failing"] == ["database"]

            postgres.start()
            started = time.monotonic()
            deadline = started + 10
            clock.advance(seconds=30)
            answer = verify(client, key, code_for(secret, clock))
            while answer.status_code == 503 and time.monotonic() < deadline:
                answer = verify(client, key, code_for(secret, clock))
            assert answer.status_code == 200 and answer.json() == {"valid": True}
            print(f"\nfirst valid check {time.monotonic() - started:.3f} s after PostgreSQL was back")
            assert client.get("/login").status_code == 200
            assert client.get("/readyz").status_code == 200
    records = [r for r in caplog.records if r.name.startswith("twostep") and r.name != "twostep.access"]
    assert not [r for r in records if r.exc_info], [r.getMessage() for r in records if r.exc_info]
    messages = [r.getMessage() for r in records]
    assert len([m for m in messages if m.startswith("database unavailable")]) == 1, messages
    assert len([m for m in messages if m.startswith("database is back")]) == 1, messages
