"""Redis down or hung never breaks sign-in or `/api/v1/verify` (issue 12, item 16).

Each test starts its own `redis-server` on a free port, then kills it or freezes it (SIGSTOP) while
requests run: every check answers 200 with the right result, none waits on the dead server for long,
and the cooldowns started in Redis still hold while the database stands in.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.oob_helpers import press_send, user_with
from tests.real_servers import RedisServer, redis_server, wait_for
from tests.reset.test_password_reset import forgot
from tests.support import RecordingMail, alerts, code_for, login_password
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.services.api import apikeys
from twostep.services.core import accounts, rate_limits
from twostep.services.core.context import Context
from twostep.settings import Settings, load_settings
from twostep.storage.models import Factor, RateCounter

EMAIL = "ada@example.com"
CODES = "ada.codes@example.org"
# A hung Redis may cost one check one short timeout (0.25 s), never the 4 s and more it cost before
# (1 s × 4 tries); the bound leaves room for a loaded 2-core machine (2.45 s seen once under full load).
# The exact proof is the call count below: only one check ever reaches the frozen server.
MAX_CHECK_SECONDS = 3.5


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis: RedisServer) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data", database_url=database_url, service_name="Acme", redis_url=redis.url
    )


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


def checks(client: TestClient, clock: FrozenClock, key: str, secret: str, count: int) -> list[float]:
    """``count`` checks, each in a new TOTP step: a right code, then a wrong one; every answer must be
    200 with the right verdict. Returns each request's duration."""
    durations = []
    for _ in range(count):
        clock.advance(seconds=30)
        right = code_for(secret, clock)
        wrong = "000000" if right != "000000" else "111111"
        for code, valid in ((right, True), (wrong, False)):
            started = time.perf_counter()
            answer = client.post(
                "/api/v1/verify",
                content=json.dumps({"user": EMAIL, "code": code}),
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
            durations.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"valid": valid}
    return durations


def api_counters(ctx: Context) -> list[str]:
    with ctx.db.transaction() as db:
        return [k for k in db.scalars(select(RateCounter.key)) if k.startswith("api:")]


def test_redis_outage_never_fails_verification(
    client: TestClient, ctx: Context, clock: FrozenClock, redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    secret = totp_user(ctx)
    key = apikeys.create(ctx, "Payroll").key
    checks(client, clock, key, secret, 3)
    assert api_counters(ctx) == []  # counted in Redis while it is up
    breaker = rate_limits._redis_store(redis.url, ctx.settings.redis_prefix).breaker
    breaker.retry_after = 0.2
    with caplog.at_level(logging.INFO, logger="twostep.rate_limits"):
        redis.kill()
        durations = checks(client, clock, key, secret, 10)
        assert api_counters(ctx)  # the database took over the per-key count
        redis.start()  # back on the same port: probed again after retry_after
        wait_for_breaker = time.monotonic() + 5
        while breaker.down and time.monotonic() < wait_for_breaker:
            checks(client, clock, key, secret, 1)
        assert not breaker.down
    assert max(durations) < MAX_CHECK_SECONDS
    lines = [r.getMessage() for r in caplog.records if r.name == "twostep.rate_limits"]
    assert len([m for m in lines if "unavailable" in m]) == 1, lines  # one line per state change
    assert len([m for m in lines if "is back" in m]) == 1, lines


def test_hung_redis_never_blocks_verification(
    client: TestClient, ctx: Context, clock: FrozenClock, redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = totp_user(ctx)
    key = apikeys.create(ctx, "Payroll").key
    checks(client, clock, key, secret, 2)
    backend = rate_limits._redis_store(redis.url, ctx.settings.redis_prefix)
    backend.breaker.retry_after = 0.1  # probed many times during the checks below, never by a request
    calls: list[str] = []
    real_hit = backend.primary.hit

    def counted_hit(*args: object) -> rate_limits.Decision:
        calls.append("hit")
        return real_hit(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(backend.primary, "hit", counted_hit)
    redis.freeze()
    durations = checks(client, clock, key, secret, 15)
    redis.thaw()
    assert max(durations) < MAX_CHECK_SECONDS, max(durations)
    # Only the first check met the frozen server (and waited for the timeout); the breaker's probes
    # run in the background, so no later check waited on Redis.
    assert calls == ["hit"], (len(calls), durations)
    wait_for(lambda: not backend.breaker.down, what="the background probe to find Redis back")


def test_a_code_cooldown_started_in_redis_still_holds_when_redis_is_down(
    client: TestClient, ctx: Context, redis: RedisServer
) -> None:
    user_with(ctx, EMAIL, email=CODES)
    assert login_password(client, EMAIL).headers["location"] == "/login/code?sent=1"  # cooldown in Redis
    redis.kill()
    too_soon = press_send(client)
    assert too_soon.status_code == 429 and "Wait 60 seconds" in alerts(too_soon.text)[0]


def test_a_reset_cooldown_started_in_redis_still_holds_when_redis_is_down(
    client: TestClient, ctx: Context, redis: RedisServer, mail: RecordingMail
) -> None:
    accounts.create_user(ctx, EMAIL, "violet staple meadow 42")
    forgot(client, EMAIL)
    assert len([m for m in mail.sent if m.to == EMAIL]) == 1
    redis.freeze()
    forgot(client, EMAIL)
    redis.thaw()
    assert len([m for m in mail.sent if m.to == EMAIL]) == 1


def test_a_cooldown_started_while_redis_was_down_holds_when_it_is_back(
    client: TestClient, ctx: Context, redis: RedisServer, clock: FrozenClock
) -> None:
    user_with(ctx, EMAIL, email=CODES)
    redis.kill()
    assert login_password(client, EMAIL).headers["location"] == "/login/code?sent=1"  # in the database
    redis.start()
    rate_limits._redis_store(redis.url, ctx.settings.redis_prefix).breaker.retry_after = 0
    clock.advance(seconds=5)
    too_soon = press_send(client)
    assert too_soon.status_code == 429 and "Wait 55 seconds" in alerts(too_soon.text)[0]
