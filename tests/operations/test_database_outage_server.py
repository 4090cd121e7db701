"""A real `twostep serve` whose PostgreSQL stops and comes back: the API answers 503 with
`Retry-After`, pages 503, the server log has one line per state change and no traceback, and the
same process serves again once PostgreSQL is back (issue 12, item 17)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx

from tests import log_capture_plugin
from tests.operations.test_workers import free_port, start, stop
from tests.real_servers import postgres_server
from twostep.app import build_context
from twostep.domain.clock import SystemClock
from twostep.services.api import apikeys
from twostep.services.core import accounts
from twostep.settings import load_settings
from twostep.storage.database import Database
from twostep.storage.migrate import upgrade

SECRET_KEY = "database-outage-test-secret-key-0123456789abcdefgh"


def test_a_real_server_answers_503_while_postgresql_is_down_and_logs_no_traceback(tmp_path: Path) -> None:
    with postgres_server() as postgres:
        upgrade(postgres.url)
        settings = load_settings(data_dir=tmp_path / "data", database_url=postgres.url, secret_key=SECRET_KEY)
        ctx = build_context(settings, clock=SystemClock(), database=Database(postgres.url))
        accounts.create_user(ctx, "root@example.com", None, admin=True)
        key = apikeys.create(ctx, "outage test").key
        ctx.db.dispose()
        (tmp_path / "metrics").mkdir()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TWOSTEP_", "PROMETHEUS_"))},
            "TWOSTEP_DATABASE_URL": postgres.url,
            "TWOSTEP_DATA_DIR": str(tmp_path / "data"),
            "TWOSTEP_SECRET_KEY": SECRET_KEY,
            "TWOSTEP_LOG_FORMAT": "json",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        }
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log_path = tmp_path / "server.log"
        body = json.dumps({"user": "nobody@example.com", "code": "123456"})
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        process = start(env, port, 1, log_path)
        try:
            with httpx.Client(timeout=10) as client:
                assert client.post(f"{url}/api/v1/verify", content=body, headers=headers).status_code == 200
                postgres.stop()
                for _ in range(20):
                    answer = client.post(f"{url}/api/v1/verify", content=body, headers=headers)
                    assert answer.status_code == 503 and answer.headers["retry-after"], answer.text
                    page = client.get(f"{url}/login")
                    assert page.status_code == 503 and page.headers["retry-after"]
                    assert "Temporarily unavailable" in page.text
                assert client.get(f"{url}/readyz").status_code == 503
                postgres.start()
                deadline = time.monotonic() + 10
                answer = client.post(f"{url}/api/v1/verify", content=body, headers=headers)
                while answer.status_code != 200 and time.monotonic() < deadline:
                    time.sleep(0.05)
                    answer = client.post(f"{url}/api/v1/verify", content=body, headers=headers)
                assert answer.status_code == 200 and answer.json() == {"valid": False}
                assert client.get(f"{url}/login").status_code == 200
        finally:
            stop(process)
            log_capture_plugin.record_external(log_path.read_text())
    text = log_path.read_text()
    assert "Traceback" not in text and "Exception in ASGI" not in text, text[-3000:]
    messages = [json.loads(line)["message"] for line in text.splitlines() if line.startswith("{")]
    assert len([m for m in messages if m.startswith("database unavailable")]) == 1, messages
    assert len([m for m in messages if m.startswith("database is back")]) == 1, messages
