#!/usr/bin/env python3
"""One command: twostep ``POST /api/v1/verify`` against privacyIDEA 3.14 ``/validate/check`` and a floor app.

    .venv/bin/python bench/run.py                 # everything (about 15 min the first time, 8-10 min after)
    .venv/bin/python bench/run.py --only twostep-sqlite --duration 10     # one part, shorter runs

Parts (``--only``/``--skip``, comma-separated):
  twostep-sqlite  twostep, 2 workers, SQLite: valid codes at 16 and 32 connections
  twostep-pg      the same on PostgreSQL, on the database of ``--big-users`` accounts (default 1,000,000)
  scale           fixed-size latency runs (2,000 checks, 16 connections) on 1,000 vs ``--big-users`` accounts
  pi              privacyIDEA 3.14 with gunicorn, 2 workers, SQLite, 2,000 TOTP tokens
                  (scripts in ../shared/bench/privacyidea, its own venv; set up once, about 3 min)
  floor           the FastAPI floor app's /verify_rw (pyotp + indexed SQLite read + replay-protecting
                  write), 2 workers, 100,000 users
Accounts are seeded with ``twostep user import`` (CSV: email, totp_secret), never through the web.

Load: ``wrk -t1`` with a Lua script that hands out each pre-generated body once (a reuse would be a
replay) and checks every answer (``"valid": true`` for twostep, ``"value": true`` for the others).
wrk shares the 2 cores with the server, as in the privacyIDEA measurements. Before each run the script
waits until the server is idle and the rest of the machine is quiet, and records how busy it was.
Results: one JSON line per run in bench/results/latest.jsonl, a summary table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import re
import resource
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HERE = REPO / "bench"
PI_DIR = Path(os.environ.get("BENCH_PI_DIR", REPO.parent / "shared" / "bench" / "privacyidea"))
WORK = Path(os.environ.get("BENCH_WORK", "/tmp/twostep-bench"))
VENV = REPO / ".venv" / "bin"
TWOSTEP = str(VENV / "twostep")
PG_ADMIN = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PI_VENV = Path(os.environ.get("VENV", "/tmp/pi-venv"))
FLOOR_VENV = Path(os.environ.get("FLOOR_VENV", "/tmp/floor-venv"))
PI_DATA = Path("/tmp/pi-data")
RESULTS = HERE / "results"
TCK = os.sysconf("SC_CLK_TCK")
PARTS = ("twostep-sqlite", "twostep-pg", "scale", "pi", "floor")
FLOOR_USERS = 400_000  # the floor answers ~9,000/s here: one fresh (user, step) per request for 20 s
RATE_LIMIT = "1000000000"  # the API key's own per-minute limit, raised so it does not cap the benchmark

# --- machine accounting (the same method as ../shared/bench/privacyidea/bench_run.py) -------------------


def proc_table() -> dict[int, tuple[int, int]]:
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            rest = stat[stat.rindex(")") + 2 :].split()
            table[int(entry)] = (int(rest[1]), int(rest[11]) + int(rest[12]))
    return table


def tree(roots: list[int], table: dict[int, tuple[int, int]]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in seen or pid not in table:
            continue
        seen.add(pid)
        stack.extend(children.get(pid, []))
    return seen


def tree_ticks(roots: list[int], table: dict[int, tuple[int, int]] | None = None) -> int:
    table = table or proc_table()
    return sum(table[p][1] for p in tree(roots, table))


def cpu_stat() -> list[int]:
    return [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]


def wait_idle(roots: list[int], max_wait: float = 60) -> float:
    """Until the server tree uses < 10 % of a core for a second (requests left from the last run drained)."""
    start = time.time()
    while time.time() - start < max_wait:
        before = tree_ticks(roots)
        time.sleep(1.0)
        if (tree_ticks(roots) - before) / TCK < 0.10:
            return round(time.time() - start, 1)
    return -1.0


def wait_quiet(roots: list[int], max_wait: float) -> float:
    """Until everything but the server uses < 25 % of one core for 2 s (other jobs on a shared machine)
    and the hypervisor steals < 5 % (a run on 2026-11-22 measured with 30-70 % stolen: half the speed)."""
    start = time.time()
    while time.time() - start < max_wait:
        t0, c0 = proc_table(), cpu_stat()
        time.sleep(2.0)
        t1, c1 = proc_table(), cpu_stat()
        d = [b - a for a, b in zip(c0, c1, strict=True)]
        busy = (sum(d) - d[3] - d[4]) / max(1, sum(d)) * 200
        steal = d[7] / max(1, sum(d)) * 200
        server = (tree_ticks(roots, t1) - tree_ticks(roots, t0)) / TCK / 2 * 100
        if busy - server < 25 and steal < 5:
            return round(time.time() - start, 1)
    return -1.0


# --- codes and bodies ---------------------------------------------------------------------------------------


def seed_bytes(name: str) -> bytes:
    return hashlib.sha256(f"bench-totp-seed:{name}".encode()).digest()[:20]


def totp(key: bytes, step: int) -> str:
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1000000:06d}"


def account(i: int) -> str:
    return f"u{i:07d}"


def write_bodies(path: Path, pairs: list[tuple[int, int]]) -> None:
    """One JSON body per (account index, step), in the given order."""
    with path.open("w") as handle:
        for i, step in pairs:
            name = account(i)
            handle.write(json.dumps({"user": f"{name}@bench.test", "code": totp(seed_bytes(name), step)}) + "\n")


def users_csv(count: int) -> Path:
    path = WORK / f"users-{count}.csv"
    if not path.exists():
        with path.open("w") as handle:
            handle.write("email,totp_secret\n")
            for i in range(count):
                name = account(i)
                handle.write(f"{name}@bench.test,{base64.b32encode(seed_bytes(name)).decode().rstrip('=')}\n")
    return path


# --- one measured run -------------------------------------------------------------------------------------


def measure(
    label: str,
    url: str,
    bodies: Path,
    *,
    conns: int,
    duration: int,
    roots: list[int],
    expect: str,
    content_type: str = "application/json",
    auth: str = "",
    waited: tuple[float, float] = (0.0, 0.0),
) -> dict[str, object]:
    env = dict(
        os.environ,
        BODIES=str(bodies),
        EXPECT=expect,
        CONTENT_TYPE=content_type,
        AUTH=auth,
    )
    command = ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--timeout", "30s", "-s", str(HERE / "verify.lua"), url]
    t0, c0 = proc_table(), cpu_stat()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=duration + 60, check=False)
    wall = time.time() - started
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t1, c1 = proc_table(), cpu_stat()
    match = re.search(r"RESULT (.*)", done.stdout)
    if not match:
        raise SystemExit(f"wrk failed for {label}: {done.stdout}\n{done.stderr}")
    result: dict[str, object] = {k: float(v) for k, v in (kv.split("=") for kv in match.group(1).split())}
    client_cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    if done.stderr.strip():
        result["wrk_stderr"] = done.stderr.strip()[:300]
    return record(result, label, conns, wall, roots, (t0, t1), (c0, c1), client_cpu, waited)


def record(
    result: dict[str, object],
    label: str,
    conns: int,
    wall: float,
    roots: list[int],
    tables: tuple[dict[int, tuple[int, int]], dict[int, tuple[int, int]]],
    cpu: tuple[list[int], list[int]],
    client_cpu: float,
    waited: tuple[float, float],
    **extra: object,
) -> dict[str, object]:
    """CPU accounting for one measured run (server tree, load client, the rest of the machine, steal),
    appended to results/latest.jsonl and printed."""
    d = [b - a for a, b in zip(*cpu, strict=True)]
    total = max(1, sum(d))
    server_pct = (tree_ticks(roots, tables[1]) - tree_ticks(roots, tables[0])) / TCK / wall * 100
    client_pct = client_cpu / wall * 100
    busy_pct = (total - d[3] - d[4]) / total * 200
    requests = float(result.get("answered") or result["requests"])  # type: ignore[arg-type]
    errors = float(result["unexpected"]) + float(result["non200"]) + float(result["socket_errors"])  # type: ignore[arg-type]
    result.update(
        label=label,
        conns=conns,
        wall_s=round(wall, 2),
        server_cpu_pct=round(server_pct, 1),
        server_cpu_ms_per_request=round(server_pct / 100 * wall / max(1.0, requests) * 1000, 3),
        wrk_cpu_pct=round(client_pct, 1),
        machine_busy_pct_of_200=round(busy_pct, 1),
        other_cpu_pct=round(busy_pct - server_pct - client_pct, 1),
        steal_pct=round(d[7] / total * 200, 1),
        idle_wait_s=waited[0],
        quiet_wait_s=waited[1],
        error_rate=round(errors / requests, 4) if requests else 1.0,
        **extra,
        when=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / "latest.jsonl").open("a") as handle:
        handle.write(json.dumps(result) + "\n")
    print(show(result), flush=True)
    return result


def show(r: dict[str, object]) -> str:
    return (
        f"{r['label']:<26} c={r['conns']:<3} {float(r['rps']):8.1f} req/s  p50 {float(r['p50_ms']):7.2f}  "  # type: ignore[arg-type]
        f"p99 {float(r['p99_ms']):7.2f} ms  ok {int(r['expected'])}/{int(r.get('answered') or r['requests'])}  "  # type: ignore[arg-type]
        f"err {r['error_rate']}  srv {r['server_cpu_pct']}%  wrk {r['wrk_cpu_pct']}%  other {r['other_cpu_pct']}%  "
        f"steal {r['steal_pct']}%"
    )


async def _closed_loop(
    host: str, port: int, path: str, auth: str, bodies: list[bytes], conns: int
) -> dict[str, object]:
    """Exactly ``len(bodies)`` POSTs over ``conns`` keep-alive connections; per-request latency."""
    queue = list(reversed(bodies))
    latencies: list[float] = []
    counts = {"expected": 0, "unexpected": 0, "non200": 0, "socket_errors": 0}

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while queue:
                body = queue.pop()
                head = (
                    f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {auth}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode()
                started = time.perf_counter()
                writer.write(head + body)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                answer = await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if b" 200 " not in status_line:
                    counts["non200"] += 1
                elif b'"valid":true' in answer:
                    counts["expected"] += 1
                else:
                    counts["unexpected"] += 1
        except (OSError, asyncio.IncompleteReadError):
            counts["socket_errors"] += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conns)))
    wall = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000, 2) if ordered else 0.0

    return {
        "requests": float(len(latencies)),
        "answered": float(len(latencies)),
        "duration_s": round(wall, 2),
        "rps": round(len(latencies) / wall, 1),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "max_ms": round(ordered[-1] * 1000, 2) if ordered else 0.0,
        "mean_ms": round(statistics.mean(ordered) * 1000, 2) if ordered else 0.0,
        **{k: float(v) for k, v in counts.items()},
        "bodies_exhausted": 0.0,
    }


def measure_fixed(
    label: str, url: str, bodies: Path, *, conns: int, roots: list[int], auth: str, waited: tuple[float, float]
) -> dict[str, object]:
    """A fixed number of checks from an asyncio client in this process (wrk has no request count):
    for comparing latencies; the client's own CPU is reported in the wrk column."""
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]
    payload = [line.encode() for line in bodies.read_text().splitlines() if line]
    t0, c0 = proc_table(), cpu_stat()
    s0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.time()
    result = asyncio.run(_closed_loop(host, int(port), path, auth, payload, conns))
    wall = time.time() - started
    s1 = resource.getrusage(resource.RUSAGE_SELF)
    t1, c1 = proc_table(), cpu_stat()
    client_cpu = (s1.ru_utime + s1.ru_stime) - (s0.ru_utime + s0.ru_stime)
    extra = {"client": "asyncio (bench/run.py)"}
    return record(result, label, conns, wall, roots, (t0, t1), (c0, c1), client_cpu, waited, **extra)


def settle(roots: list[int], quiet_wait: float) -> tuple[float, float]:
    return wait_idle(roots), wait_quiet(roots, quiet_wait)


# --- twostep ------------------------------------------------------------------------------------------------


def run(command: list[str], env: dict[str, str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, text=True, capture_output=True, check=True, **kwargs)  # type: ignore[call-overload]


def twostep_env(database_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWOSTEP_", "PROMETHEUS_"))}
    env.update(
        TWOSTEP_DATABASE_URL=database_url,
        TWOSTEP_DATA_DIR=str(data_dir),
        TWOSTEP_API_RATE_LIMIT_PER_MINUTE=RATE_LIMIT,
    )
    return env


def user_count(env: dict[str, str]) -> int:
    listing = subprocess.run(
        [str(VENV / "python"), "-c", COUNT_USERS], env=env, text=True, capture_output=True, check=False
    )
    return int(listing.stdout.strip() or -1) if listing.returncode == 0 else -1


COUNT_USERS = (
    "from sqlalchemy import text\nfrom twostep.settings import load_settings\n"
    "from twostep.storage.database import Database\n"
    "db = Database(load_settings().resolved_database_url)\n"
    "with db.engine.connect() as c: print(c.execute(text('SELECT count(*) FROM users')).scalar())"
)


def seed(env: dict[str, str], count: int, fresh: bool) -> float:
    """Migrate and import ``count`` accounts with an authenticator each; reused when already there."""
    run([TWOSTEP, "migrate"], env)
    if not fresh and user_count(env) == count:
        print(f"  {count} accounts already imported", flush=True)
        return 0.0
    started = time.time()
    csv = users_csv(count)
    done = run([TWOSTEP, "user", "import", str(csv), "--quiet", "--batch-size", "5000"], env, timeout=3600)
    seconds = time.time() - started
    print(f"  imported {count} accounts in {seconds:.0f} s: {done.stdout.strip().splitlines()[0]}", flush=True)
    return seconds


class Twostep:
    """``twostep serve --workers 2`` on one database, started and stopped by PID."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.key = run([TWOSTEP, "apikey", "create", f"bench {time.time():.0f}"], env).stdout.strip()
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [TWOSTEP, "serve", "--workers", "2", "--port", str(port), "--no-migrate"],
            env=env,
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"twostep did not start: see {log}")

    @property
    def pids(self) -> list[int]:
        return [self.process.pid]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def next_fresh_step(last_used: int) -> int:
    """A step after every step already used, with at least 25 s of it left for the run to start in."""
    while True:
        now = time.time()
        step = int(now) // 30
        if step > last_used and now % 30 <= 5:
            return step
        time.sleep(30 - now % 30 + 0.05 if step <= last_used or now % 30 > 5 else 0.2)


def twostep_runs(
    label: str, server: Twostep, roots: list[int], pool: int, args: argparse.Namespace, state: dict[str, int]
) -> list[dict[str, object]]:
    results = []
    for conns in (16, 32):
        waited = settle(roots, args.quiet_wait)
        step = next_fresh_step(state["last_step"])
        state["last_step"] = step
        bodies = WORK / f"{label}-bodies.txt"
        write_bodies(bodies, [(i, step) for i in range(pool)])
        results.append(
            measure(
                label,
                f"{server.url}/api/v1/verify",
                bodies,
                conns=conns,
                duration=args.duration,
                roots=roots,
                expect='"valid":%s*true',
                auth=f"Bearer {server.key}",
                waited=waited,
            )
        )
    return results


def postgres_url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def ensure_database(name: str, fresh: bool) -> str:
    script = (
        "import sys, psycopg\n"
        "c = psycopg.connect(sys.argv[1], autocommit=True)\n"
        "exists = c.execute('SELECT 1 FROM pg_database WHERE datname=%s', (sys.argv[2],)).fetchone()\n"
        "if exists and sys.argv[3] == '1': c.execute(f'DROP DATABASE \"{sys.argv[2]}\" WITH (FORCE)'); exists = None\n"
        "if not exists: c.execute(f'CREATE DATABASE \"{sys.argv[2]}\"')\n"
    )
    subprocess.run([str(VENV / "python"), "-c", script, PG_ADMIN, name, "1" if fresh else "0"], check=True)
    return postgres_url(name)


def postmaster_pid() -> int:
    for candidate in Path("/var/run/postgresql").glob("*.pid"):
        return int(candidate.read_text().split()[0])
    return 0


# --- the parts ------------------------------------------------------------------------------------------------


def part_twostep_sqlite(args: argparse.Namespace, state: dict[str, int]) -> list[dict[str, object]]:
    print("== twostep, SQLite", flush=True)
    data = WORK / "sqlite"
    env = twostep_env(f"sqlite:///{data / 'twostep.db'}", data)
    seed(env, args.users, args.fresh)
    server = Twostep(env, 8101, WORK / "twostep-sqlite.log")
    try:
        return twostep_runs("twostep-sqlite", server, server.pids, args.users, args, state)
    finally:
        server.stop()


def part_twostep_pg(args: argparse.Namespace, state: dict[str, int]) -> list[dict[str, object]]:
    print(f"== twostep, PostgreSQL ({args.big_users} accounts)", flush=True)
    url = ensure_database(f"twostep_bench_{args.big_users}", args.fresh)
    env = twostep_env(url, WORK / f"pg-{args.big_users}")  # one data dir (secret key) per database
    seed(env, args.big_users, args.fresh)
    server = Twostep(env, 8102, WORK / "twostep-pg.log")
    roots = [*server.pids, postmaster_pid()]
    try:
        return twostep_runs("twostep-pg", server, roots, min(args.users, args.big_users), args, state)
    finally:
        server.stop()


def part_scale(args: argparse.Namespace, state: dict[str, int]) -> list[dict[str, object]]:
    """The same 2,000 checks (1,000 accounts × 2 consecutive steps, 16 connections) against a database of
    1,000 accounts and one of N, from an asyncio client that sends exactly that many (wrk cannot)."""
    print(f"== latency with 1,000 vs {args.big_users} accounts (PostgreSQL)", flush=True)
    servers: dict[str, Twostep] = {}
    for count, port in ((1000, 8103), (args.big_users, 8104)):
        url = ensure_database(f"twostep_bench_{count}", args.fresh and count == 1000)
        env = twostep_env(url, WORK / f"pg-{count}")
        seed(env, count, args.fresh and count == 1000)
        servers[f"pg-{count}-users"] = Twostep(env, port, WORK / f"twostep-pg-{count}.log")
    results = []
    try:
        rng = random.Random(8)
        for label, server in servers.items():  # warm up: connection pools, statement caches, index pages
            total = 1000 if label.startswith("pg-1000-") else args.big_users
            for i in rng.sample(range(total), 300):
                with urllib.request.urlopen(
                    urllib.request.Request(
                        f"{server.url}/api/v1/users/{account(i)}@bench.test/methods",
                        headers={"Authorization": f"Bearer {server.key}"},
                    ),
                    timeout=10,
                ) as answer:
                    answer.read()
        for _ in range(args.scale_reps):
            # Both databases in the same pair of steps: codes of steps S and S+1 are both accepted
            # while the clock is in S or S+1, a window of at least 55 s for the two runs.
            step = next_fresh_step(state["last_step"])
            state["last_step"] = step + 1
            for label, server in servers.items():
                roots = [*server.pids, postmaster_pid()]
                waited = settle(roots, min(args.quiet_wait, 10))
                total = 1000 if label.startswith("pg-1000-") else args.big_users
                chosen = rng.sample(range(total), 1000)
                bodies = WORK / f"{label}-bodies.txt"
                write_bodies(bodies, [(i, s) for s in (step, step + 1) for i in chosen])
                results.append(
                    measure_fixed(
                        f"latency-{label}",
                        f"{server.url}/api/v1/verify",
                        bodies,
                        conns=16,
                        roots=roots,
                        auth=f"Bearer {server.key}",
                        waited=waited,
                    )
                )
    finally:
        for server in servers.values():
            server.stop()
    return results


def ensure_venvs(need_pi: bool, need_floor: bool) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    if need_pi and not (PI_VENV / "bin" / "gunicorn").exists():
        print("  creating the privacyIDEA venv (about 40 s)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PI_VENV)], check=True)
        subprocess.run(
            [
                str(PI_VENV / "bin" / "pip"),
                "install",
                "-q",
                "privacyidea==3.14",
                "gunicorn",
                "pyotp",
                "httpx",
                "psycopg2-binary",
            ],
            check=True,
        )
    if need_floor and not (FLOOR_VENV / "bin" / "uvicorn").exists():
        subprocess.run([sys.executable, "-m", "venv", str(FLOOR_VENV)], check=True)
        subprocess.run(
            [str(FLOOR_VENV / "bin" / "pip"), "install", "-q", "fastapi", "uvicorn[standard]", "pyotp"], check=True
        )


def part_pi(args: argparse.Namespace, state: dict[str, int]) -> list[dict[str, object]]:
    print("== privacyIDEA 3.14, SQLite, gunicorn 2 workers", flush=True)
    env = dict(os.environ, VENV=str(PI_VENV))
    marker = PI_DATA / "twostep-bench-enrolled"
    if not marker.exists():
        started = time.time()
        shutil.rmtree(PI_DATA, ignore_errors=True)
        subprocess.run(
            [str(PI_DIR / "setup_pi.sh"), str(PI_DATA), f"sqlite:///{PI_DATA}/privacyidea.sqlite", "2000"],
            env=env,
            check=True,
            capture_output=True,
        )
        subprocess.run([str(PI_DIR / "start_pi.sh"), str(PI_DATA), "2", "5001"], env=env, check=True)
        subprocess.run(
            [str(PI_VENV / "bin" / "python"), "enroll_tokens.py", "http://127.0.0.1:5001", "2000", "4"],
            cwd=PI_DIR,
            env=env,
            check=True,
            capture_output=True,
        )
        marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n"))
        print(f"  set up and enrolled 2,000 tokens in {time.time() - started:.0f} s", flush=True)
    else:
        subprocess.run([str(PI_DIR / "start_pi.sh"), str(PI_DATA), "2", "5001"], env=env, check=True)
    roots = [int((PI_DATA / "gunicorn.pid").read_text())]
    results = []
    try:
        for conns in (16, 32):
            waited = settle(roots, args.quiet_wait)
            bodies = WORK / "pi-bodies.txt"
            subprocess.run(
                [
                    str(PI_VENV / "bin" / "python"),
                    "gen_bodies.py",
                    str(bodies),
                    "2000",
                    "valid",
                    "1",
                    str(WORK / "pi_totp_state"),
                ],
                cwd=PI_DIR,
                check=True,
                capture_output=True,
            )
            results.append(
                measure(
                    "privacyidea-sqlite",
                    "http://127.0.0.1:5001/validate/check",
                    bodies,
                    conns=conns,
                    duration=args.duration,
                    roots=roots,
                    expect='"value":%s*true',
                    content_type="application/x-www-form-urlencoded",
                    waited=waited,
                )
            )
    finally:
        subprocess.run([str(PI_DIR / "stop_pid.sh"), str(PI_DATA / "gunicorn.pid")], check=False, capture_output=True)
    return results


def part_floor(args: argparse.Namespace, state: dict[str, int]) -> list[dict[str, object]]:
    users = FLOOR_USERS
    print(f"== floor app (/verify_rw), uvicorn 2 workers, SQLite, {users} users", flush=True)
    env = dict(
        os.environ, FLOOR_VENV=str(FLOOR_VENV), FLOOR_NUSERS=str(users), FLOOR_DB=str(WORK / f"floor-{users}.sqlite")
    )
    subprocess.run([str(PI_DIR / "start_floor.sh"), "2", "8001"], env=env, check=True, capture_output=True)
    roots = [int(Path("/tmp/floor-data/uvicorn.pid").read_text())]
    results = []
    try:
        for conns in (16, 32):
            waited = settle(roots, args.quiet_wait)
            bodies = WORK / "floor-bodies.txt"
            subprocess.run(
                [
                    str(PI_VENV / "bin" / "python"),
                    "gen_bodies.py",
                    str(bodies),
                    str(users),
                    "valid",
                    "1",
                    str(WORK / "floor_totp_state"),
                ],
                cwd=PI_DIR,
                check=True,
                capture_output=True,
            )
            results.append(
                measure(
                    "floor-verify_rw",
                    "http://127.0.0.1:8001/verify_rw",
                    bodies,
                    conns=conns,
                    duration=args.duration,
                    roots=roots,
                    expect='"value":%s*true',
                    content_type="application/x-www-form-urlencoded",
                    waited=waited,
                )
            )
    finally:
        subprocess.run([str(PI_DIR / "stop_pid.sh"), "/tmp/floor-data/uvicorn.pid"], check=False, capture_output=True)
    return results


# --- summary ------------------------------------------------------------------------------------------------------


def pick(results: list[dict[str, object]], label: str, conns: int) -> dict[str, object] | None:
    return next((r for r in results if r["label"] == label and r["conns"] == conns), None)


def summary(results: list[dict[str, object]]) -> str:
    lines = [
        "| run | conns | req/s | p50 ms | p99 ms | valid answers | errors | server CPU ms/req | other load % "
        "| steal % |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rate = "fixed count" if str(r["label"]).startswith("latency-") else f"{float(r['rps']):.1f}"  # type: ignore[arg-type]
        answered = int(r.get("answered") or r["requests"])  # type: ignore[call-overload]
        lines.append(
            f"| {r['label']} | {r['conns']} | {rate} | {float(r['p50_ms']):.2f} | "  # type: ignore[arg-type]
            f"{float(r['p99_ms']):.2f} | {int(r['expected'])}/{answered} | {r['error_rate']} | "  # type: ignore[arg-type]
            f"{r['server_cpu_ms_per_request']} | {r['other_cpu_pct']} | {r['steal_pct']} |"
        )
    lines.append("")
    disturbed = [r for r in results if float(r["steal_pct"]) >= 5 or float(r["quiet_wait_s"]) < 0]  # type: ignore[arg-type]
    if disturbed:
        names = ", ".join(f"{r['label']} c={r['conns']}" for r in disturbed)
        lines.append(f"- **disturbed** (host stole ≥ 5 % or the machine never got quiet): {names}; run again")
    for conns in (16, 32):
        pi, floor = pick(results, "privacyidea-sqlite", conns), pick(results, "floor-verify_rw", conns)
        for label in ("twostep-sqlite", "twostep-pg"):
            mine = pick(results, label, conns)
            if mine is None:
                continue
            rps = float(mine["rps"])  # type: ignore[arg-type]
            parts = [f"c={conns} {label}: {rps:.0f} req/s, p99 {float(mine['p99_ms']):.1f} ms"]  # type: ignore[arg-type]
            if pi:
                parts.append(f"twostep/privacyIDEA = {rps / float(pi['rps']):.0f}x")  # type: ignore[arg-type]
            if floor:
                parts.append(f"twostep/floor = {rps / float(floor['rps']) * 100:.0f} %")  # type: ignore[arg-type]
            lines.append("- " + "; ".join(parts))
    scale = [r for r in results if str(r["label"]).startswith("latency-")]
    for label in sorted({str(r["label"]) for r in scale}):
        runs = [r for r in scale if r["label"] == label]
        p50 = statistics.median(float(r["p50_ms"]) for r in runs)  # type: ignore[arg-type]
        p99 = statistics.median(float(r["p99_ms"]) for r in runs)  # type: ignore[arg-type]
        lines.append(f"- {label}: median of {len(runs)} runs p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=20, help="seconds per throughput run")
    parser.add_argument("--users", type=int, default=100_000, help="accounts for the SQLite runs (and the run pool)")
    parser.add_argument("--big-users", type=int, default=1_000_000, help="accounts in the large PostgreSQL database")
    parser.add_argument("--scale-reps", type=int, default=3)
    parser.add_argument("--only", default="", help=f"comma-separated parts of {PARTS}")
    parser.add_argument("--skip", default="")
    parser.add_argument("--fresh", action="store_true", help="re-create databases and re-import accounts")
    parser.add_argument("--quiet-wait", type=float, default=120, help="max seconds to wait for a quiet machine")
    args = parser.parse_args()
    chosen = [p for p in PARTS if (not args.only or p in args.only.split(",")) and p not in args.skip.split(",")]
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.jsonl").write_text("")
    ensure_venvs("pi" in chosen or "floor" in chosen, "floor" in chosen)
    state = {"last_step": int(time.time()) // 30}  # steps used by earlier invocations are all in the past
    results: list[dict[str, object]] = []
    functions = {
        "twostep-sqlite": part_twostep_sqlite,
        "twostep-pg": part_twostep_pg,
        "scale": part_scale,
        "pi": part_pi,
        "floor": part_floor,
    }
    for part in chosen:
        results.extend(functions[part](args, state))
    text = summary(results)
    (RESULTS / "latest.md").write_text(text + "\n")
    print("\n" + text)


if __name__ == "__main__":
    main()
