"""Rate limits in a real Redis (redis://127.0.0.1:6379/15): the store itself, the app wired with
TWOSTEP_REDIS_URL, a limit spent by another process, and the fallback when Redis is unreachable."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.oob_helpers import press_send, user_with
from tests.support import alerts, login_password
from twostep.domain.clock import FrozenClock
from twostep.services.core import rate_limits
from twostep.services.core.context import Context
from twostep.settings import Settings, load_settings
from twostep.storage.models import RateCounter

REDIS_URL = os.environ.get("TWOSTEP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CODES = "ada.codes@example.org"
NO_DB: Any = None  # the Redis store never touches the database session


@pytest.fixture
def prefix() -> Iterator[str]:
    """A namespace of its own per test, removed afterwards (parallel workers share the server)."""
    name = f"twostep-test:{uuid.uuid4().hex}:"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=name + "*"):
        client.delete(key)
    client.close()


@pytest.fixture
def store(prefix: str) -> Iterator[rate_limits.RedisRateStore]:
    client = redis.Redis.from_url(REDIS_URL)
    assert client.ping(), "Redis must be running on 127.0.0.1:6379 for these tests"
    yield rate_limits.RedisRateStore(client, prefix)
    client.close()


def test_a_fixed_window_counts_in_redis_and_the_next_window_starts_fresh(
    store: rate_limits.RedisRateStore, prefix: str
) -> None:
    start = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
    decisions = [store.hit(NO_DB, "send:user:7", 3, 3600, start + timedelta(minutes=i)) for i in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[-1].retry_after == 3600 - 3 * 60
    assert store.client.get(f"{prefix}rl:send:user:7:{int(start.timestamp())}") == b"4"
    assert 0 < store.client.ttl(f"{prefix}rl:send:user:7:{int(start.timestamp())}") <= 3660
    assert store.hit(NO_DB, "send:user:7", 3, 3600, start + timedelta(hours=1)).allowed


def test_a_cooldown_in_redis_ends_on_time_and_can_be_given_back(store: rate_limits.RedisRateStore) -> None:
    now = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
    first = store.start_cooldown(NO_DB, "code:1:x", 60, now)
    assert first.started
    blocked = store.start_cooldown(NO_DB, "code:1:x", 60, now + timedelta(seconds=20))
    assert (blocked.started, blocked.wait_seconds) == (False, 40)
    store.end_cooldown(NO_DB, "code:1:x", first.until + 1)  # not ours: stays
    assert not store.start_cooldown(NO_DB, "code:1:x", 60, now + timedelta(seconds=21)).started
    store.end_cooldown(NO_DB, "code:1:x", first.until)
    again = store.start_cooldown(NO_DB, "code:1:x", 60, now + timedelta(seconds=22))
    assert again.started
    assert store.start_cooldown(NO_DB, "code:1:x", 60, now + timedelta(seconds=82)).started


@pytest.fixture
def settings(tmp_path: Path, database_url: str, prefix: str) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        service_name="Acme",
        redis_url=REDIS_URL,
        redis_prefix=prefix,
    )


def counters_in_database(ctx: Context) -> int:
    with ctx.db.transaction() as db:
        return int(db.scalar(select(func.count()).select_from(RateCounter)) or 0)


def test_with_redis_configured_send_limits_live_in_redis(
    client: TestClient, ctx: Context, prefix: str, store: rate_limits.RedisRateStore
) -> None:
    user_with(ctx, "ada@example.com", email=CODES)
    assert login_password(client, "ada@example.com").headers["location"] == "/login/code?sent=1"
    too_soon = press_send(client)
    assert too_soon.status_code == 429 and "Wait 60 seconds" in alerts(too_soon.text)[0]
    keys = sorted(k.decode().removeprefix(prefix) for k in store.client.scan_iter(match=prefix + "*"))
    assert [k.split(":")[0] for k in keys] == ["cd", "rl", "rl", "rl"]
    assert any(k.startswith("rl:send:user:") for k in keys) and any(k.startswith("rl:send:dest:") for k in keys)
    # The counters live in Redis only; the cooldown is kept in the database too (it must outlive an outage).
    with ctx.db.transaction() as db:
        assert [k.startswith("cd:") for k in db.scalars(select(RateCounter.key))] == [True]


def test_a_limit_spent_by_another_process_holds_here(
    client: TestClient, ctx: Context, clock: FrozenClock, prefix: str
) -> None:
    user_id = user_with(ctx, "ada@example.com", email=CODES)
    epoch = int(clock.now().timestamp())
    script = (
        "import sys, datetime, redis\n"
        "from twostep.services.core.rate_limits import RedisRateStore\n"
        "store = RedisRateStore(redis.Redis.from_url(sys.argv[1]), sys.argv[2])\n"
        "now = datetime.datetime.fromtimestamp(int(sys.argv[4]), datetime.UTC)\n"
        "for _ in range(5):\n"
        "    assert store.hit(None, sys.argv[3], 5, 3600, now).allowed\n"
    )
    subprocess.run([sys.executable, "-c", script, REDIS_URL, prefix, f"send:user:{user_id}", str(epoch)], check=True)
    assert login_password(client, "ada@example.com").headers["location"] == "/login/code?sent=limited"
    page = client.get("/login/code?sent=limited")
    assert alerts(page.text) == ["Too many codes were sent recently. Try again later, or choose another method."]


def test_unreachable_redis_falls_back_to_the_database_and_the_limits_still_hold(
    client: TestClient, ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/15"})
    user_with(ctx, "ada@example.com", email=CODES)
    with caplog.at_level(logging.WARNING, logger="twostep.rate_limits"):
        assert login_password(client, "ada@example.com").headers["location"] == "/login/code?sent=1"
        assert press_send(client).status_code == 429
    assert counters_in_database(ctx) > 0
    assert "Redis rate-limit store unavailable" in caplog.text
