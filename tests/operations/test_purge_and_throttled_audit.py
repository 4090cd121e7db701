"""Every verification is audited, throttled ones too; expired rows are purged in batches, by the
server in the background and by ``twostep purge``."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.support import code_for, csrf_of, login_password, make_user
from twostep import cli
from twostep.app import create_app
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.services.api import apikeys
from twostep.services.core.context import Context
from twostep.services.operations import purge
from twostep.settings import Settings
from twostep.storage.models import (
    AuditEvent,
    Factor,
    OneTimeCode,
    RateCounter,
    RememberedDevice,
    SetupToken,
    WebSession,
)

EMAIL = "ada@example.com"


def totp_user(ctx: Context) -> tuple[int, str]:
    user_id = make_user(ctx, EMAIL)
    secret = totp.new_secret()
    with ctx.db.transaction() as db:
        db.add(Factor(user_id=user_id, kind="totp", secret_sealed=ctx.sealer.seal(secret, f"user:{user_id}:totp"),
                      label="Phone", created_at=ctx.clock.now(), confirmed_at=ctx.clock.now()))
    return user_id, secret


def throttled_events(ctx: Context) -> list[AuditEvent]:
    with ctx.db.transaction() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.reason == "throttled").order_by(AuditEvent.id)))


def test_throttled_api_checks_write_an_audit_row_each(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    _, secret = totp_user(ctx)
    key = apikeys.create(ctx, "Payroll").key
    wrong = f"{(int(code_for(secret, clock)) + 1) % 1_000_000:06d}"
    headers = {"Authorization": f"Bearer {key}"}
    statuses = [client.post("/api/v1/verify", json={"user": EMAIL, "code": wrong}, headers=headers).status_code
                for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429] and throttled_events(ctx) == []
    for code in (wrong, code_for(secret, clock)):  # even the right code is refused unchecked, and audited
        assert client.post("/api/v1/verify", json={"user": EMAIL, "code": code}, headers=headers).status_code == 429
    events = throttled_events(ctx)
    assert [(e.event, e.outcome, e.user_email) for e in events] == [("authn_login_fail", "failure", EMAIL)] * 2
    detail = json.loads(events[0].detail)
    assert detail["via"] == "api" and detail["step"] == "second" and detail["seconds"] == 30
    assert detail["api_key"] == apikeys.parse_prefix(key)


def test_a_throttled_sign_in_code_is_audited_too(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    _, secret = totp_user(ctx)
    wrong = f"{(int(code_for(secret, clock)) + 1) % 1_000_000:06d}"
    for _ in range(5):
        if client.get("/login/code", follow_redirects=False).status_code != 200:
            login_password(client, EMAIL)
        page = client.get("/login/code")
        client.post("/login/code", data={"code": wrong, "csrf_token": csrf_of(page.text)})
    assert throttled_events(ctx) == []
    login_password(client, EMAIL)
    page = client.get("/login/code")
    assert client.post("/login/code", data={"code": wrong, "csrf_token": csrf_of(page.text)}).status_code == 429
    [event] = throttled_events(ctx)
    assert event.event == "authn_login_fail" and json.loads(event.detail)["step"] == "second"


def seed_expired_and_live_rows(ctx: Context, clock: FrozenClock) -> int:
    user_id = make_user(ctx, EMAIL)
    now = clock.now()
    day = timedelta(days=1)
    epoch = int(now.timestamp())
    with ctx.db.transaction() as db:
        def session(name: str, stage: str, seen: timedelta, expires: timedelta) -> WebSession:
            return WebSession(id=name, user_id=user_id, stage=stage, created_at=now - day,
                              last_seen_at=now - seen, expires_at=now + expires)

        db.add_all([
            session("live", "signed_in", timedelta(minutes=1), timedelta(hours=1)),
            session("expired", "signed_in", timedelta(minutes=1), -timedelta(seconds=1)),
            session("idle", "signed_in", timedelta(minutes=31), timedelta(hours=5)),
            session("pending-expired", "second_step", timedelta(minutes=11), -timedelta(minutes=1)),
        ])
        for index, expires in enumerate([-2 * day, -2 * day, -2 * day, -timedelta(hours=1), timedelta(minutes=5)]):
            db.add(OneTimeCode(user_id=user_id, purpose="sign_in", code_digest=f"c{index}", created_at=now - 3 * day,
                               expires_at=now + expires))
        db.add_all([
            RememberedDevice(user_id=user_id, token_digest="old", created_at=now - 15 * day, expires_at=now - day),
            RememberedDevice(user_id=user_id, token_digest="new", created_at=now, expires_at=now + 14 * day),
            SetupToken(token_digest="expired", created_at=now - 2 * day, expires_at=now - day, used_at=None),
            SetupToken(token_digest="used", created_at=now - 2 * day, expires_at=now + day, used_at=now - 2 * day),
            SetupToken(token_digest="live", created_at=now, expires_at=now + day, used_at=None),
            Factor(user_id=user_id, kind="totp", label="abandoned", created_at=now - 2 * day),
            Factor(user_id=user_id, kind="totp", label="in progress", created_at=now - timedelta(minutes=2)),
            Factor(user_id=user_id, kind="totp", label="confirmed", created_at=now - 9 * day, confirmed_at=now),
            RateCounter(key="old", window_start=epoch - 3 * 86400, count=3),
            RateCounter(key="new", window_start=epoch - 60, count=3),
            RateCounter(key="cooldown-old", window_start=0, count=epoch - 3 * 86400),
            RateCounter(key="cooldown-new", window_start=0, count=epoch + 60),
        ])
    return user_id


def remaining(ctx: Context) -> dict[str, list[str]]:
    with ctx.db.transaction() as db:
        return {
            "sessions": sorted(db.scalars(select(WebSession.id))),
            "codes": sorted(db.scalars(select(OneTimeCode.code_digest))),
            "devices": sorted(db.scalars(select(RememberedDevice.token_digest))),
            "setup": sorted(db.scalars(select(SetupToken.token_digest))),
            "factors": sorted(db.scalars(select(Factor.label))),
            "counters": sorted(db.scalars(select(RateCounter.key))),
        }


KEPT = {
    "sessions": ["live"],
    "codes": ["c3", "c4"],
    "devices": ["new"],
    "setup": ["live"],
    "factors": ["confirmed", "in progress"],
    "counters": ["cooldown-new", "new"],
}


def test_purge_deletes_only_what_expired_in_small_batches(ctx: Context, clock: FrozenClock) -> None:
    seed_expired_and_live_rows(ctx, clock)
    pauses: list[int] = []
    removed = purge.purge(ctx, batch_size=2, pause=lambda: pauses.append(1))
    assert remaining(ctx) == KEPT
    assert removed == {"sessions": 3, "one_time_codes": 3, "remembered_devices": 1, "setup_tokens": 2,
                       "abandoned_enrollments": 1, "rate_counters": 2, "passkey_challenges": 0,
                       "oidc_pending_requests": 0, "oidc_codes": 0, "oidc_tokens": 0}
    assert len(pauses) >= 4  # tables with 2 or more expired rows took several batches
    assert set(purge.purge(ctx).values()) == {0}  # nothing left to do


def test_twostep_purge_on_the_command_line(
    settings: Settings, ctx: Context, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    seed_expired_and_live_rows(ctx, clock)
    for name in [k for k in os.environ if k.startswith("TWOSTEP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TWOSTEP_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TWOSTEP_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setattr(sys, "argv", ["twostep"])
    assert cli.main(["purge", "--json"]) == 0
    # the CLI runs on the real clock: everything seeded in 2026-03 has long expired, except nothing live
    counts = json.loads(capsys.readouterr().out)
    assert counts["sessions"] >= 3 and counts["rate_counters"] >= 2


def test_the_server_purges_in_the_background(settings: Settings, ctx: Context, clock: FrozenClock) -> None:
    seed_expired_and_live_rows(ctx, clock)
    ctx.settings = settings.model_copy(update={"purge_interval_seconds": 0.05})
    with TestClient(create_app(ctx.settings, context=ctx), base_url="http://127.0.0.1:8000"):
        deadline = time.monotonic() + 10
        while remaining(ctx) != KEPT and time.monotonic() < deadline:
            time.sleep(0.02)
    assert remaining(ctx) == KEPT


def test_the_background_purge_is_off_at_zero(settings: Settings, ctx: Context, clock: FrozenClock) -> None:
    seed_expired_and_live_rows(ctx, clock)
    ctx.settings = settings.model_copy(update={"purge_interval_seconds": 0})
    app = create_app(ctx.settings, context=ctx)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert client.get("/healthz").status_code == 200
    with ctx.db.transaction() as db:
        assert db.scalar(select(func.count()).select_from(WebSession)) == 4
