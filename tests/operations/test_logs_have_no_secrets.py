"""TWOSTEP_LOG_FORMAT=json: one JSON object per line with request id, route, status, duration and user id,
and never a password, code, secret or token — checked on a real `twostep serve` after a full flow."""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

import httpx
import pytest

from tests import log_capture_plugin
from tests.operations.test_workers import current_code, free_port, start, stop
from tests.support import PASSWORD
from twostep.app import build_context
from twostep.domain import totp
from twostep.domain.clock import SystemClock
from twostep.services.api import apikeys
from twostep.services.core import accounts
from twostep.settings import load_settings
from twostep.storage.migrate import upgrade
from twostep.storage.models import Factor

SECRET_KEY = "logs-test-secret-key-0123456789abcdefghijklmnopqrstu"
WRONG_PASSWORD = "autumn ledger copper 77"


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_json_logs_of_a_full_flow_hold_no_secret(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'twostep.db'}"
    upgrade(database_url)
    settings = load_settings(data_dir=tmp_path / "data", database_url=database_url, secret_key=SECRET_KEY)
    ctx = build_context(settings, clock=SystemClock())
    accounts.create_user(ctx, "root@example.com", PASSWORD, admin=True)
    user_id = accounts.create_user(ctx, "ada@example.com", PASSWORD)
    seed = totp.new_secret()
    with ctx.db.transaction() as db:
        db.add(
            Factor(
                user_id=user_id,
                kind="totp",
                secret_sealed=ctx.sealer.seal(seed, f"user:{user_id}:totp"),
                created_at=ctx.clock.now(),
                confirmed_at=ctx.clock.now(),
            )
        )
    key = apikeys.create(ctx, "logs test").key
    ctx.db.dispose()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TWOSTEP_", "PROMETHEUS_"))},
        "TWOSTEP_DATABASE_URL": database_url,
        "TWOSTEP_DATA_DIR": str(tmp_path / "data"),
        "TWOSTEP_SECRET_KEY": SECRET_KEY,
        "TWOSTEP_LOG_FORMAT": "json",
    }
    log_path = tmp_path / "server.log"
    process = start(env, port, 1, log_path)
    setup_token = secrets.token_urlsafe(24)
    used: list[str] = [PASSWORD, WRONG_PASSWORD, seed, key, setup_token, SECRET_KEY]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as web:
            page = web.get("/login")
            web.post(
                "/login", data={"email": "ada@example.com", "password": WRONG_PASSWORD, "csrf_token": csrf(page.text)}
            )
            page = web.get("/login")
            web.post("/login", data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": csrf(page.text)})
            page = web.get("/login/code")
            wrong = f"{(int(current_code(seed)) + 3) % 1_000_000:06d}"
            web.post("/login/code", data={"code": wrong, "csrf_token": csrf(page.text)})
            code = current_code(seed)
            page = web.get("/login/code")
            signed_in = web.post("/login/code", data={"code": code, "csrf_token": csrf(page.text)})
            assert signed_in.status_code in (200, 303)
            used += [wrong, code, *web.cookies.values()]
            web.get(f"/setup/{setup_token}")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as api:
            auth = {"Authorization": f"Bearer {key}"}
            api_wrong = f"{(int(current_code(seed)) + 5) % 1_000_000:06d}"
            used.append(api_wrong)
            assert api.post(
                "/api/v1/verify", json={"user": "ada@example.com", "code": api_wrong}, headers=auth
            ).json() == {"valid": False}
            api.post("/api/v1/verify", json={"user": "ada@example.com", "code": code}, headers=auth)
            api.post(
                "/api/v1/verify",
                json={"user": "ada@example.com", "code": code},
                headers={"Authorization": "Bearer ts_x"},
            )
            api.get("/api/v1/users/ada@example.com/methods", headers=auth)
    finally:
        stop(process)
    output = log_path.read_text()
    log_capture_plugin.record_external(output)
    lines = [line for line in output.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    access = [e for e in entries if e["logger"] == "twostep.access"]
    assert {e["route"] for e in access} >= {"/login", "/login/code", "/api/v1/verify", "/setup/{token}"}
    assert all(e["request_id"] and isinstance(e["duration_ms"], float) and e["status"] for e in access)
    api_lines = [e for e in access if e["route"] == "/api/v1/verify" and e["status"] == 200]
    assert api_lines and all(e["user_id"] == user_id for e in api_lines)
    assert any(e.get("event") == "authn_login_fail" for e in entries)
    for secret in used:
        assert secret and secret not in output, f"a secret reached the log: {secret[:4]}…"


def test_the_whole_suite_check_finds_planted_secrets() -> None:
    """The checker behind tests/log_capture_plugin.py really fails on a leak (and not on look-alikes)."""
    token = secrets.token_urlsafe(32)
    lines = [
        json.dumps({"time": "2026-03-02T09:00:00.123456+00:00", "message": "GET /login 200"}),
        json.dumps({"message": f"session {token} created"}),
        json.dumps({"message": "code was 123456", "route": "/x"}),
        json.dumps({"message": f"password {PASSWORD!r} rejected"}),
        json.dumps({"message": "printed instead of sent: your code is 123456"}),
        json.dumps({"message": f"key ts_abcdef12_{token}"}),
    ]
    leaks = log_capture_plugin.find_leaks(lines, {token}, {"123456"}, {PASSWORD})
    assert [kind for kind, _ in leaks] == ["token", "code", "password", "token"]


@pytest.mark.parametrize("value", ["654321", "ABCDEFGHIJKLMNOP"])
def test_the_checker_ignores_timestamps_and_unknown_values(value: str) -> None:
    lines = [json.dumps({"time": f"2026-03-02T09:00:00.{value[:6]}+00:00", "message": "ok"})]
    assert log_capture_plugin.find_leaks(lines, {"ZZZZZZZZZZZZZZZZZZ"}, {"654321"}, set()) == []
