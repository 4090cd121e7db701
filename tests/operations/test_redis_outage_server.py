"""A real `twostep serve` with Redis configured, while its Redis is frozen (SIGSTOP) and then killed:
concurrent `/api/v1/verify` calls all answer 200 with the right verdict, none waits long, and the
worker's event loop keeps answering `/healthz` (issue 12, item 16). The figures are printed (-s)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests import log_capture_plugin
from tests.operations.test_workers import free_port, start, stop, totp_user
from tests.real_servers import redis_server
from twostep.app import build_context
from twostep.domain import totp
from twostep.domain.clock import SystemClock
from twostep.services.api import apikeys
from twostep.services.core import accounts
from twostep.settings import load_settings
from twostep.storage.database import Database
from twostep.storage.migrate import upgrade

SECRET_KEY = "redis-outage-test-secret-key-0123456789abcdefghij"
THREADS = 4
# The first check after Redis hangs waits one short timeout (0.25 s); nothing may come near this, even
# on a loaded machine (before, each check waited 1 s × 4 tries on a frozen Redis).
SLOW = 2.0


def hammer(seconds: float, send: Callable[[httpx.Client], tuple[int, bool]]) -> tuple[list[int], list[float]]:
    """``THREADS`` threads calling ``send`` for ``seconds``: the statuses and each call's duration."""
    statuses: list[int] = []
    durations: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        with httpx.Client(timeout=10) as client:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                status, right = send(client)
                elapsed = time.perf_counter() - started
                with lock:
                    statuses.append(status if right else -status)
                    durations.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses, durations


def test_a_frozen_or_dead_redis_never_stalls_a_real_server(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'twostep.db'}"
    upgrade(database_url)
    settings = load_settings(data_dir=tmp_path / "data", database_url=database_url, secret_key=SECRET_KEY)
    ctx = build_context(settings, clock=SystemClock(), database=Database(database_url))
    accounts.create_user(ctx, "root@example.com", None, admin=True)
    secret = totp_user(ctx, "ada@example.com")
    key = apikeys.create(ctx, "outage test").key
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    port = free_port()
    log_path = tmp_path / "server.log"
    (tmp_path / "metrics").mkdir()
    url = f"http://127.0.0.1:{port}"

    def wrong_code(client: httpx.Client) -> tuple[int, bool]:
        body = json.dumps({"user": "nobody@example.com", "code": "123456"})
        answer = client.post(f"{url}/api/v1/verify", content=body, headers=headers)
        return answer.status_code, answer.status_code == 200 and answer.json() == {"valid": False}

    def right_code_once() -> None:
        code = totp.code_at_step(secret, totp.step_at(ctx.clock.now()))
        body = json.dumps({"user": "ada@example.com", "code": code})
        answer = httpx.post(f"{url}/api/v1/verify", content=body, headers=headers, timeout=10)
        assert answer.status_code == 200 and answer.json()["valid"] in (True, False), log_path.read_text()[-3000:]

    with redis_server(tmp_path) as redis:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TWOSTEP_", "PROMETHEUS_"))},
            "TWOSTEP_DATABASE_URL": database_url,
            "TWOSTEP_DATA_DIR": str(tmp_path / "data"),
            "TWOSTEP_SECRET_KEY": SECRET_KEY,
            "TWOSTEP_LOG_FORMAT": "json",
            "TWOSTEP_REDIS_URL": redis.url,
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        }
        process = start(env, port, 1, log_path)
        try:
            phases = {}
            right_code_once()
            phases["redis up"] = hammer(1.0, wrong_code)
            redis.freeze()
            health: list[float] = []
            stop_probe = threading.Event()

            def probe_health() -> None:
                with httpx.Client(timeout=10) as client:
                    while not stop_probe.is_set():
                        started = time.perf_counter()
                        assert client.get(f"{url}/healthz").status_code == 200
                        health.append(time.perf_counter() - started)
                        time.sleep(0.01)

            prober = threading.Thread(target=probe_health)
            prober.start()
            phases["redis frozen"] = hammer(2.0, wrong_code)
            stop_probe.set()
            prober.join()
            right_code_once()
            redis.kill()
            phases["redis dead"] = hammer(1.0, wrong_code)
            right_code_once()
        finally:
            stop(process)
            log_capture_plugin.record_external(log_path.read_text())
            ctx.db.dispose()
    for name, (statuses, durations) in phases.items():
        ordered = sorted(durations)
        print(
            f"\n{name}: {len(statuses)} checks, {len(statuses) / (1.0 if name != 'redis frozen' else 2.0):.0f}/s, "
            f"p50 {ordered[len(ordered) // 2] * 1000:.1f} ms, max {ordered[-1] * 1000:.0f} ms"
        )
        assert statuses and set(statuses) == {200}, (name, sorted(set(statuses)))
        assert ordered[-1] < SLOW, (name, ordered[-1])
    print(f"healthz while frozen: {len(health)} probes, max {max(health) * 1000:.0f} ms")
    assert max(health) < SLOW
    logs = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    unavailable = [e for e in logs if "Redis rate-limit store unavailable" in str(e.get("message", ""))]
    assert len(unavailable) == 1, unavailable  # one line per state change, not one per request
    assert not [e for e in logs if e.get("level") in ("ERROR", "CRITICAL")]
