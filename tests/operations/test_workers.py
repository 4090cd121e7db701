"""`twostep serve --workers 2` on PostgreSQL and SQLite: replay protection and throttling hold across processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests import log_capture_plugin
from twostep.app import build_context
from twostep.domain import totp
from twostep.domain.clock import SystemClock
from twostep.services.api import apikeys
from twostep.services.core import accounts
from twostep.services.core.context import Context
from twostep.settings import load_settings
from twostep.storage.database import Database, normalize_url
from twostep.storage.migrate import upgrade
from twostep.storage.models import Base, Factor, Throttle

SECRET_KEY = "workers-test-secret-key-0123456789abcdefghijklmnop"
TWOSTEP = str(Path(sys.executable).with_name("twostep"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    ctx: Context
    key: str
    process: subprocess.Popen[str]
    log_path: Path

    def logs(self) -> list[dict[str, object]]:
        """Complete log lines only (a worker may be writing the last one right now)."""
        lines = self.log_path.read_text().split("\n")[:-1]
        return [json.loads(line) for line in lines if line.startswith("{")]


def start(env: dict[str, str], port: int, workers: int, log_path: Path) -> subprocess.Popen[str]:
    log = log_path.open("w")
    process = subprocess.Popen(
        [TWOSTEP, "serve", "--workers", str(workers), "--port", str(port), "--no-migrate"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )
    deadline = time.monotonic() + 90  # generous: a loaded 2-core machine starts Python slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("server did not come up")


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture(scope="module", params=[pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two worker processes on PostgreSQL, and on SQLite (where writers queue on the file lock and a check
    reads before it takes the write lock: the answer must still be the same)."""
    tmp_path = tmp_path_factory.mktemp("workers")
    if request.param == "postgres":
        database_url: str = request.getfixturevalue("postgres_url")
        engine = create_engine(normalize_url(database_url))
        with engine.begin() as conn:
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
    else:
        database_url = f"sqlite:///{tmp_path / 'twostep.db'}"
        upgrade(database_url)
    postgres_url = database_url
    settings = load_settings(data_dir=tmp_path / "data", database_url=postgres_url, secret_key=SECRET_KEY)
    ctx = build_context(settings, clock=SystemClock(), database=Database(postgres_url))
    accounts.create_user(ctx, "root@example.com", None, admin=True)  # no setup link on the console
    key = apikeys.create(ctx, "workers test").key
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TWOSTEP_", "PROMETHEUS_"))},
        "TWOSTEP_DATABASE_URL": postgres_url,
        "TWOSTEP_DATA_DIR": str(tmp_path / "data"),
        "TWOSTEP_SECRET_KEY": SECRET_KEY,
        "TWOSTEP_LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    log_path = tmp_path / "server.log"
    process = start(env, port, 2, log_path)
    try:
        yield Server(f"http://127.0.0.1:{port}", ctx, key, process, log_path)
    finally:
        stop(process)
        log_capture_plugin.record_external(log_path.read_text())
        ctx.db.dispose()


def totp_user(ctx: Context, email: str) -> str:
    user_id = accounts.create_user(ctx, email, None)
    secret = totp.new_secret()
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        db.add(
            Factor(
                user_id=user_id,
                kind="totp",
                secret_sealed=ctx.sealer.seal(secret, f"user:{user_id}:totp"),
                created_at=now,
                confirmed_at=now,
            )
        )
    return secret


def current_code(secret: str) -> str:
    now = int(time.time())
    if now % 30 >= 28:  # don't race the step boundary
        time.sleep(30 - now % 30 + 0.2)
    return totp.code_at_step(secret, int(time.time()) // 30)


def burst(server: Server, body: dict[str, str], count: int) -> list[httpx.Response]:
    """``count`` requests released at once, each on its own connection (so the kernel spreads them)."""
    barrier = threading.Barrier(count)
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def one() -> None:
        with httpx.Client(base_url=server.url, timeout=20) as client:
            barrier.wait()
            response = client.post("/api/v1/verify", json=body, headers={"Authorization": f"Bearer {server.key}"})
        with lock:
            results.append(response)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def worker_pids(server: Server) -> set[object]:
    return {
        e["pid"] for e in server.logs() if e.get("logger") == "twostep.access" and e.get("route") == "/api/v1/verify"
    }


def test_the_same_code_sent_concurrently_to_two_workers_is_accepted_once(server: Server) -> None:
    rounds = 0
    while rounds < 6 and (rounds < 2 or len(worker_pids(server)) < 2):
        rounds += 1
        secret = totp_user(server.ctx, f"user{rounds}@example.com")
        results = burst(server, {"user": f"user{rounds}@example.com", "code": current_code(secret)}, 16)
        accepted = [r for r in results if r.status_code == 200 and r.json() == {"valid": True}]
        refused = [r for r in results if r.status_code == 200 and r.json() == {"valid": False}]
        throttled = [r for r in results if r.status_code == 429]  # each replay counts as a wrong guess
        assert (len(accepted), len(refused) + len(throttled)) == (1, 15), [r.text for r in results]
    assert len(worker_pids(server)) == 2, "both worker processes answered verifications"
    metrics = httpx.get(f"{server.url}/metrics").text
    valid = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("twostep_verifications_total{") and 'outcome="valid"' in line
    )
    assert valid == rounds, "the multiprocess /metrics adds up every worker"


def test_throttling_holds_across_workers(server: Server) -> None:
    secret = totp_user(server.ctx, "eve@example.com")
    code = current_code(secret)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    statuses = []
    for _ in range(6):  # a new connection per request: the kernel hands them to either worker
        with httpx.Client(base_url=server.url, timeout=20) as client:
            response = client.post(
                "/api/v1/verify",
                json={"user": "eve@example.com", "code": wrong},
                headers={"Authorization": f"Bearer {server.key}"},
            )
            statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 200, 429, 429]
    with httpx.Client(base_url=server.url, timeout=20) as client:
        blocked = client.post(
            "/api/v1/verify",
            json={"user": "eve@example.com", "code": code},
            headers={"Authorization": f"Bearer {server.key}"},
        )
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    with server.ctx.db.transaction() as db:
        row = db.get(Throttle, f"2fa:{accounts.find_user_by_email(db, 'eve@example.com').id}")  # type: ignore[union-attr]
        assert row is not None and row.failures == 5


def worker_processes(server: Server) -> set[int]:
    """The server's worker processes (children started by multiprocessing's spawn)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == server.process.pid and b"spawn_main" in command:
            found.add(int(entry.name))
    return found


def test_keep_alive_connections_are_spread_over_both_workers(server: Server) -> None:
    """Each worker listens on its own SO_REUSEPORT socket, so long-lived connections (a load balancer's,
    a benchmark's) cannot all pile up on one worker while the other idles."""
    before = len(server.logs())
    clients = [httpx.Client(base_url=server.url, timeout=20) for _ in range(16)]
    try:
        for _ in range(3):
            for client in clients:
                assert client.get("/healthz").status_code == 200
    finally:
        for client in clients:
            client.close()
    deadline = time.monotonic() + 10  # each access line is written just after its response is sent
    served: list[object] = []
    while time.monotonic() < deadline:
        served = [e["pid"] for e in server.logs()[before:] if e.get("route") == "/healthz"]
        if len(served) >= 48:
            break
        time.sleep(0.05)
    assert len(served) == 48
    per_worker = sorted(served.count(pid) for pid in set(served))
    assert len(per_worker) == 2 and per_worker[0] >= 3, per_worker


def test_a_worker_that_dies_is_started_again(server: Server) -> None:
    workers = worker_processes(server)
    assert len(workers) == 2
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = worker_processes(server)
        if len(now) == 2 and victim not in now:
            break
        time.sleep(0.2)
    assert len(worker_processes(server)) == 2 and victim not in worker_processes(server)
    for _ in range(16):  # new connections land on either socket; both have a live worker again
        assert httpx.get(f"{server.url}/readyz", timeout=20).status_code == 200
