#!/usr/bin/env python3
"""Forward-auth cost: nginx in front of a static upstream, (a) without authentication (the floor) and
(b) with twostep's auth_request check and a valid signed-in session, on SQLite and PostgreSQL, at 16
and 32 connections.

    apt-get install -y wrk                                   # once
    .venv/bin/python bench/forward_auth.py                   # 3 interleaved rounds, 8 s per run (about 7 min)
    .venv/bin/python bench/forward_auth.py --rounds 5 --only sqlite --empty --cache
    .venv/bin/python bench/forward_auth.py --only sqlite --profile   # + py-spy flame data of twostep

nginx (1 worker) uses the documented snippet (docs/forward-auth/nginx.conf) with the upstream
replaced by a second nginx server that answers "ok"; twostep runs ``serve --workers 2`` (``--workers``) with its log
(one access line per check) written to a file; wrk -t1 shares the same 2 cores. The setups of one
round run back to back (floor, then forward-auth, …) and the rounds repeat, so a shared machine's
slow minutes hit every setup alike; the table gives medians, and the share is the median of each
round's forward-auth / floor. Every answer must be 200 (a refused check would count as non200).

Optional rows: ``--empty``: the same snippet in front of bench/empty_check.py (a plain ASGI app on the
same uvicorn that answers 200 and reads nothing): the ceiling of any Python check one HTTP hop away.
``--cache [SECONDS]``: the documented opt-in nginx cache of allowed checks (docs/forward-auth/nginx-cache.conf)
with twostep run as TWOSTEP_FORWARD_AUTH_CACHE_SECONDS=SECONDS (default 1): nginx keeps an allowed
answer per session cookie for that long, so a session ended from elsewhere reaches that proxy up to
SECONDS late (the browser that signs out is refused at once: its cookie is gone).
``--before SRC``: the same check served by another source tree on the same database (before/after in
one run: ``git archive COMMIT src | tar -x -C /tmp/before``, then ``--before /tmp/before/src``).

Per run it records CPU ms per request of twostep's processes and of nginx, the rest of the machine's
load and the hypervisor's steal. Results: one JSON line per run in bench/results/forward-auth.jsonl
and a table on stdout.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyotp
from argon2 import PasswordHasher

REPO = Path(__file__).resolve().parents[1]
HERE = REPO / "bench"
sys.path.insert(0, str(HERE))

from run import TCK, cpu_stat, proc_table, tree_ticks  # noqa: E402

WORK = Path(os.environ.get("BENCH_WORK", "/tmp/twostep-bench-forward-auth"))
PG_ADMIN = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "violet staple meadow 42"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
RULES = '[[access_rules]]\nhosts = ["app.example.test"]\nlevel = "two_factor"\n'
FLOOR, CHECK, EMPTY, CACHED = "no auth", "forward-auth", "empty check", "nginx cache (opt-in)"
BEFORE = "forward-auth, before"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait(url: str, **kwargs: object) -> None:
    deadline = time.monotonic() + 180  # a start under other jobs' load can be slow
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1, **kwargs)  # type: ignore[arg-type]
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def database(kind: str) -> str:
    if kind == "sqlite":
        return ""
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS twostep_bench_fa WITH (FORCE)"))
        conn.execute(text("CREATE DATABASE twostep_bench_fa"))
    engine.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + "/twostep_bench_fa"


def site(snippet: str, listen: int, auth: int, name: str, static: int) -> str:
    """A documented snippet listening on ``listen``, its checks going to ``auth``, the application
    being the static upstream; ``name`` keeps each copy's ``upstream`` block apart."""
    text = (REPO / "docs" / "forward-auth" / snippet).read_text()
    replacements = {
        "server 127.0.0.1:9091;": f"server 127.0.0.1:{auth};",
        "listen 80;": f"listen 127.0.0.1:{listen};",
        "server_name app.example.com;": "server_name app.example.test;",
        "server_name auth.example.com;": "server_name auth.example.test;",
        "server 127.0.0.1:8080;": f"server 127.0.0.1:{static};",
        "upstream twostep {": f"upstream {name} {{",
        "http://twostep": f"http://{name}",
        "upstream protected_app {": f"upstream {name}_app {{",
        "http://protected_app": f"http://{name}_app",
    }
    for old, new in replacements.items():
        if old not in text:
            raise SystemExit(f"docs/forward-auth/{snippet} no longer has {old!r}")
        text = text.replace(old, new)
    return text


def nginx_conf(prefix: Path, ports: dict[str, int], static: int, twostep: int, empty: int, before: int = 0) -> str:
    temp = " ".join(f"{n}_temp_path {prefix}/{n};" for n in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    sites = [site("nginx.conf", ports[CHECK], twostep, "twostep", static)]
    if EMPTY in ports:
        sites.append(site("nginx.conf", ports[EMPTY], empty, "empty", static))
    if BEFORE in ports:
        sites.append(site("nginx.conf", ports[BEFORE], before, "before", static))
    if CACHED in ports:
        cache = site("nginx-cache.conf", ports[CACHED], twostep, "twostep_cached", static)
        sites.append(cache.replace("/run/twostep-authz-cache", f"{prefix}/cache"))
    joined = "\n".join(sites)
    return f"""worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  {temp}
  upstream static {{ server 127.0.0.1:{static}; keepalive 16; }}
  server {{ listen 127.0.0.1:{static}; location / {{ return 200 "ok\\n"; }} }}
  server {{
    listen 127.0.0.1:{ports[FLOOR]};
    location / {{ proxy_pass http://static; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
{joined}
}}
"""


def sign_in(base: str) -> str:
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        client.post("/login", data={"email": "ada@example.test", "password": PASSWORD, "csrf_token": token})
        page = client.get("/login/code")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        done = client.post("/login/code", data={"code": pyotp.TOTP(SECRET).now(), "csrf_token": token})
        assert done.status_code == 303, done.text
        for cookie in client.cookies.jar:
            if cookie.name == "twostep_session":
                return str(cookie.value)
    raise SystemExit("no session cookie")


def wrk(port: int, connections: int, duration: int, cookie: str) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", str(HERE / "forward_auth.lua"),
         "-H", "Host: app.example.test", "-H", f"Cookie: twostep_session={cookie}", "-H", "Accept: text/html",
         f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=True,
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT"))
    return {k: float(v) for k, v in (item.split("=") for item in line.split()[1:])}


def measured(port: int, connections: int, duration: int, cookie: str, roots: dict[str, list[int]]) -> dict[str, float]:
    """One wrk run with CPU accounting: ms of CPU per answered request for each process tree in
    ``roots``, wrk's own share, the rest of the machine (% of one core) and steal."""
    t0, c0 = proc_table(), cpu_stat()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = wrk(port, connections, duration, cookie)
    wall = time.monotonic() - started
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t1, c1 = proc_table(), cpu_stat()
    answered = max(1.0, result["answered"])
    ours = 0.0
    for name, pids in roots.items():
        seconds = (tree_ticks(pids, t1) - tree_ticks(pids, t0)) / TCK
        ours += seconds
        result[f"{name}_cpu_ms_per_req"] = round(seconds / answered * 1000, 4)
    wrk_seconds = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    delta = [b - a for a, b in zip(c0, c1, strict=True)]
    total = max(1, sum(delta))
    busy = (total - delta[3] - delta[4]) / total * 200
    result["wrk_cpu_pct"] = round(wrk_seconds / wall * 100, 1)
    result["other_cpu_pct"] = round(busy - (ours + wrk_seconds) / wall * 100, 1)
    result["steal_pct"] = round(delta[7] / total * 200, 1)
    return result


def backends() -> list[int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        pids = [int(row[0]) for row in conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = 'twostep_bench_fa'"))]
    engine.dispose()
    return pids


def profile(pid: int, port: int, duration: int, cookie: str, out: Path) -> None:
    """py-spy's samples of every twostep process during one forward-auth run, and the functions that
    took most of them (own samples, and samples with the function anywhere on the stack)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    recorder = subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--subprocesses", "--rate", "250", "--duration", str(duration),
         "--format", "raw", "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(1)
    wrk(port, 16, duration, cookie)
    recorder.wait(60)
    own: collections.Counter[str] = collections.Counter()
    anywhere: collections.Counter[str] = collections.Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")
                  if not f.startswith(("process ", "thread "))]
        if not frames or "Condition.wait" in frames[-1]:  # the idle thread pool, not work
            continue
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            anywhere[frame] += int(count)
    print(f"\nprofile: {out} ({total} samples of busy twostep threads)")
    for title, counter in (("own", own), ("anywhere on the stack", anywhere)):
        print(f"-- {title}")
        for frame, count in counter.most_common(25):
            print(f"{count / max(1, total) * 100:5.1f} %  {frame}")


def run(kind: str, args: argparse.Namespace) -> list[dict[str, object]]:
    work = WORK / kind
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "twostep.toml").write_text(RULES)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    port = free_port()
    env |= {"TWOSTEP_DATA_DIR": str(work / "data"), "TWOSTEP_CONFIG": str(work / "twostep.toml"),
            "TWOSTEP_BASE_URL": f"http://127.0.0.1:{port}", "TWOSTEP_LOG_FORMAT": "text"}
    url = database(kind)
    if url:
        env["TWOSTEP_DATABASE_URL"] = url
    if args.cache:  # only nginx-cache.conf keeps answers; the plain snippet's (b) still checks every request
        env["TWOSTEP_FORWARD_AUTH_CACHE_SECONDS"] = str(args.cache)
    twostep = [sys.executable, "-m", "twostep.cli"]
    users = work / "users.csv"
    with users.open("w", newline="") as handle:
        csv.writer(handle).writerows(
            [["email", "password_hash", "totp_secret"], ["ada@example.test", PasswordHasher().hash(PASSWORD), SECRET]]
        )
    subprocess.run([*twostep, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([*twostep, "user", "import", str(users)], env=env, check=True, capture_output=True)
    log = (work / "twostep.log").open("w")
    server = subprocess.Popen([*twostep, "serve", "--no-migrate", "--workers", str(args.workers), "--port", str(port)],
                              env=env, stdout=log, stderr=log)
    processes = [server]
    before = free_port()
    if args.before:  # the same database and secret key, served by another source tree
        processes.append(subprocess.Popen(
            [*twostep, "serve", "--no-migrate", "--workers", str(args.workers), "--port", str(before)],
            env=env | {"PYTHONPATH": os.pathsep.join([args.before, env.get("PYTHONPATH", "")])},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    empty = free_port()
    if args.empty:
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--workers", str(args.workers), "--no-access-log",
             "--log-level", "warning", "--port", str(empty), "--app-dir", str(HERE), "empty_check:app"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    setups = [FLOOR, CHECK] + ([BEFORE] if args.before else []) + ([EMPTY] if args.empty else []) + (
        [CACHED] if args.cache else [])
    ports = {setup: free_port() for setup in setups}
    static = free_port()
    prefix = work / "nginx"
    prefix.mkdir()
    (prefix / "nginx.conf").write_text(nginx_conf(prefix, ports, static, port, empty, before))
    nginx = subprocess.Popen(["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"])
    roots = {"twostep": [server.pid], "nginx": [nginx.pid]}
    if args.before:
        roots["before"] = [processes[1].pid]
    if args.empty:
        roots["empty"] = [processes[-1].pid]
    results: list[dict[str, object]] = []
    try:
        wait(f"http://127.0.0.1:{port}/healthz")
        wait(f"http://127.0.0.1:{ports[FLOOR]}/")
        if args.empty:
            wait(f"http://127.0.0.1:{empty}/")
        if args.before:
            wait(f"http://127.0.0.1:{before}/healthz")
        cookie = sign_in(f"http://127.0.0.1:{port}")
        for setup in setups[1:]:
            wrk(ports[setup], 16, 2, cookie)  # warm-up: connections, prepared statements
        if url:  # PostgreSQL's server processes for twostep's connections: their CPU counts too
            roots["postgres"] = backends()
        for connections in (16, 32):
            for round_ in range(1, args.rounds + 1):
                for setup in setups:
                    result = measured(ports[setup], connections, args.duration, cookie, roots)
                    row = {"database": kind, "setup": setup, "connections": connections, "round": round_, **result,
                           "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                    results.append(row)
                    print(json.dumps(row), flush=True)
        if args.profile:
            profile(server.pid, ports[CHECK], args.duration, cookie, work / "profile.txt")
    finally:
        for process in (nginx, *processes):
            process.terminate()
        for process in (nginx, *processes):
            try:
                process.wait(60)  # a loaded machine can take a while
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
    return results


def summary(rows: list[dict[str, object]]) -> list[str]:
    """Medians per (database, connections, setup); share = median over rounds of setup / floor."""
    lines = [
        "| database | conns | setup | req/s | share of no auth | p50 ms | p99 ms | check CPU ms/req "
        "| PostgreSQL CPU ms/req | nginx CPU ms/req | other load % | steal % | non-200 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[object, object, object], list[dict[str, object]]] = {}
    for row in rows:
        groups.setdefault((row["database"], row["connections"], row["setup"]), []).append(row)

    def median(items: list[dict[str, object]], key: str) -> float:
        return statistics.median(float(item.get(key, 0.0)) for item in items)  # type: ignore[arg-type]

    for (kind, connections, setup), items in groups.items():
        floors = {r["round"]: float(r["rps"]) for r in groups[(kind, connections, FLOOR)]}  # type: ignore[arg-type]
        share = statistics.median(float(r["rps"]) / floors[r["round"]] for r in items)  # type: ignore[arg-type]
        non200 = sum(int(float(r["non200"])) for r in items)  # type: ignore[arg-type]
        server = {CHECK: "twostep", CACHED: "twostep", EMPTY: "empty", BEFORE: "before"}.get(str(setup))
        check = f"{median(items, server + '_cpu_ms_per_req'):.3f}" if server else "–"
        postgres = f"{median(items, 'postgres_cpu_ms_per_req'):.3f}" if kind == "postgresql" and server else "–"
        lines.append(
            f"| {kind} | {connections} | {setup} | {median(items, 'rps'):,.0f} | {share * 100:.0f} % "
            f"| {median(items, 'p50_ms'):.2f} | {median(items, 'p99_ms'):.2f} | {check} | {postgres} "
            f"| {median(items, 'nginx_cpu_ms_per_req'):.3f} | {median(items, 'other_cpu_pct'):.0f} "
            f"| {median(items, 'steal_pct'):.0f} | {non200} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=8, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per connection count")
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--empty", action="store_true", help="add the empty-check ceiling row")
    parser.add_argument("--cache", type=int, nargs="?", const=1, default=0, metavar="SECONDS",
                        help="add the opt-in nginx cache row, twostep letting nginx keep answers SECONDS (1)")
    parser.add_argument("--profile", action="store_true", help="py-spy profile of one more forward-auth run")
    parser.add_argument("--workers", type=int, default=2, help="twostep serve --workers")
    parser.add_argument("--summarize", metavar="FILE", help="print the table of a run's saved output and stop")
    parser.add_argument("--before", metavar="SRC", help="add a row served by another source tree (its src/), "
                        "e.g. an earlier commit's: git archive COMMIT src | tar -x -C /tmp/before")
    args = parser.parse_args()
    if args.summarize:  # the table again, from the JSON lines a run printed
        rows = [json.loads(line) for line in Path(args.summarize).read_text().splitlines() if line.startswith("{")]
        print("\n".join(summary(rows)))
        return
    rows: list[dict[str, object]] = []
    for kind in ("sqlite", "postgresql"):
        if args.only in (None, kind):
            rows += run(kind, args)
    (HERE / "results").mkdir(exist_ok=True)
    with (HERE / "results" / "forward-auth.jsonl").open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    print("\n" + "\n".join(summary(rows)))


if __name__ == "__main__":
    main()
