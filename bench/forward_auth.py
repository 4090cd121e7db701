#!/usr/bin/env python3
"""Forward-auth cost: nginx in front of a static upstream, (a) without authentication (the floor) and
(b) with twostep's auth_request check and a valid signed-in session, on SQLite and PostgreSQL, at 16
and 32 connections.

    apt-get install -y wrk                                      # once
    .venv/bin/python bench/forward_auth.py                    # everything, 10 s per run (about 2 min)
    .venv/bin/python bench/forward_auth.py --duration 20 --only sqlite

nginx (1 worker) uses the documented snippet (docs/forward-auth/nginx.conf) with the upstream
replaced by a second nginx server that answers "ok"; twostep runs ``serve --workers 2``; wrk -t1
shares the same 2 cores. Every answer must be 200 (a refused check would count as non200).
Results: one JSON line per run in bench/results/forward-auth.jsonl and a table on stdout.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyotp
from argon2 import PasswordHasher

REPO = Path(__file__).resolve().parents[1]
HERE = REPO / "bench"
WORK = Path(os.environ.get("BENCH_WORK", "/tmp/twostep-bench-forward-auth"))
PG_ADMIN = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "violet staple meadow 42"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
RULES = '[[access_rules]]\nhosts = ["app.example.test"]\nlevel = "two_factor"\n'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait(url: str, **kwargs: object) -> None:
    deadline = time.monotonic() + 60
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


def nginx_conf(prefix: Path, plain: int, guarded: int, static: int, twostep: int) -> str:
    site = (REPO / "docs" / "forward-auth" / "nginx.conf").read_text()
    site = site.replace("server 127.0.0.1:9091;", f"server 127.0.0.1:{twostep};")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{guarded};")
    site = site.replace("server_name app.example.com;", "server_name app.example.test;")
    site = site.replace("server_name auth.example.com;", "server_name auth.example.test;")
    site = site.replace("proxy_pass http://127.0.0.1:8080;", "proxy_pass http://static;")
    temp = " ".join(f"{n}_temp_path {prefix}/{n};" for n in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
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
    listen 127.0.0.1:{plain};
    location / {{ proxy_pass http://static; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
{site}
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


def run(kind: str, duration: int) -> list[dict[str, object]]:
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
    twostep = [sys.executable, "-m", "twostep.cli"]
    users = work / "users.csv"
    with users.open("w", newline="") as handle:
        csv.writer(handle).writerows(
            [["email", "password_hash", "totp_secret"], ["ada@example.test", PasswordHasher().hash(PASSWORD), SECRET]]
        )
    subprocess.run([*twostep, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([*twostep, "user", "import", str(users)], env=env, check=True, capture_output=True)
    server = subprocess.Popen([*twostep, "serve", "--no-migrate", "--workers", "2", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    prefix = work / "nginx"
    prefix.mkdir()
    plain, guarded, static = free_port(), free_port(), free_port()
    (prefix / "nginx.conf").write_text(nginx_conf(prefix, plain, guarded, static, port))
    nginx = subprocess.Popen(["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"])
    results: list[dict[str, object]] = []
    try:
        wait(f"http://127.0.0.1:{port}/healthz")
        wait(f"http://127.0.0.1:{plain}/")
        cookie = sign_in(f"http://127.0.0.1:{port}")
        wrk(guarded, 16, 2, cookie)  # warm-up: connections, prepared statements
        for connections in (16, 32):
            for label, target in (("no auth", plain), ("forward-auth", guarded)):
                result = wrk(target, connections, duration, cookie)
                row = {"database": kind, "setup": label, "connections": connections, **result}
                results.append(row)
                print(json.dumps(row), flush=True)
    finally:
        nginx.terminate()
        server.terminate()
        nginx.wait(10)
        server.wait(10)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    for kind in ("sqlite", "postgresql"):
        if args.only in (None, kind):
            rows += run(kind, args.duration)
    (HERE / "results").mkdir(exist_ok=True)
    with (HERE / "results" / "forward-auth.jsonl").open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    print("\n| database | connections | setup | req/s | p50 ms | p99 ms | non-200 | share of no-auth |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        floor = next(r for r in rows if r["database"] == row["database"] and r["connections"] == row["connections"]
                     and r["setup"] == "no auth")
        share = float(row["rps"]) / float(floor["rps"]) * 100  # type: ignore[arg-type]
        print(f"| {row['database']} | {row['connections']} | {row['setup']} | {float(row['rps']):.0f} | "  # type: ignore[arg-type]
              f"{row['p50_ms']} | {row['p99_ms']} | {int(float(row['non200']))} | {share:.0f} % |")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
