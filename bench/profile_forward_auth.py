#!/usr/bin/env python3
"""Profile ``GET /api/authz/auth-request`` in one process, without the network: where does a
forward-auth check's CPU go once uvicorn has parsed the request?

    .venv/bin/python bench/profile_forward_auth.py                  # SQLite, 20,000 checks, top 30 by own time
    .venv/bin/python bench/profile_forward_auth.py --database-url postgresql://postgres@127.0.0.1:5432/twostep_prof
    .venv/bin/python bench/profile_forward_auth.py --no-profile     # just the CPU time per check
    .venv/bin/python bench/profile_forward_auth.py --what-if-cached # what an answer cache would save

``--what-if-cached`` compares the check as it is (the session's statement every time) with two
stand-ins for an in-process cache hit: one that still reads one value from the database (a shared
revocation generation) and one that reads nothing (which would not end access at a sign-out at once).

The app is built as ``twostep serve`` builds it (settings from the environment, the access log on and
written to a file), one account signs in with password and TOTP through the pages, then the same
signed-in session is checked again and again with nginx's headers, as bench/forward_auth.py does
through nginx. The figure printed is CPU per check with the profiler off; the profile is a second
pass with cProfile on.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pyotp
from argon2 import PasswordHasher

PASSWORD = "violet staple meadow 42"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
RULES = '[[access_rules]]\nhosts = ["app.example.test"]\nlevel = "two_factor"\n'


async def sign_in(app: Any) -> str:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        page = await client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        await client.post("/login", data={"email": "ada@example.test", "password": PASSWORD, "csrf_token": token})
        page = await client.get("/login/code")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        done = await client.post("/login/code", data={"code": pyotp.TOTP(SECRET).now(), "csrf_token": token})
        assert done.status_code == 303, done.text
        return str(client.cookies["twostep_session"])


async def drive(app: Any, cookie: str, checks: int) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/authz/auth-request",
        "raw_path": b"/api/authz/auth-request",
        "root_path": "",
        "query_string": b"",
        "headers": [  # what the documented nginx snippet sends
            (b"host", b"twostep"),
            (b"x-original-method", b"GET"),
            (b"x-original-url", b"http://app.example.test/"),
            (b"x-forwarded-for", b"127.0.0.1"),
            (b"connection", b"close"),
            (b"user-agent", b"wrk"),
            (b"cookie", f"twostep_session={cookie}".encode()),
            (b"accept", b"text/html"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    ok = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    for _ in range(checks):
        status = 0

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(dict(scope), receive, send)
        ok += status == 200
    return ok


def what_if_cached(app: Any, cookie: str, loop: Any, checks: int) -> None:
    from sqlalchemy import bindparam, select

    from twostep.services import forward_auth
    from twostep.storage.database import FastStatement

    real = forward_auth.find_identity
    ctx = app.state.ctx
    known = real(ctx, cookie)
    generation = FastStatement(select(bindparam("g")))

    def hit_reading_one_value(ctx: Any, token: str | None, memo: Any = None) -> Any:
        ctx.digester.candidates(token, "session")
        with ctx.db.raw_statements() as tx:
            generation.execute(tx, {"g": 1}).fetchall()
        return known

    def hit_reading_nothing(ctx: Any, token: str | None, memo: Any = None) -> Any:
        ctx.digester.candidates(token, "session")
        return known

    variants = {"the check's statement every time": real, "a hit reading one value": hit_reading_one_value,
                "a hit reading nothing": hit_reading_nothing}
    measured: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    try:
        for _ in range(3):
            for name, find in variants.items():
                forward_auth.find_identity = find  # type: ignore[assignment]
                started, cpu = time.perf_counter(), time.process_time()
                assert loop.run_until_complete(drive(app, cookie, checks)) == checks
                measured[name].append((time.process_time() - cpu, time.perf_counter() - started))
    finally:
        forward_auth.find_identity = real
    for name, runs in measured.items():
        cpu_ms = sorted(run[0] for run in runs)[1] / checks * 1000
        wall_ms = sorted(run[1] for run in runs)[1] / checks * 1000
        print(f"{name:36} CPU {cpu_ms:.4f} ms per check, wall {wall_ms:.4f} ms (median of 3)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=20000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--what-if-cached", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="twostep-profile-fa-"))
    (work / "twostep.toml").write_text(RULES)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    env.update(
        TWOSTEP_DATA_DIR=str(work),
        TWOSTEP_CONFIG=str(work / "twostep.toml"),
        TWOSTEP_BASE_URL="http://127.0.0.1:8000",
        TWOSTEP_DATABASE_URL=args.database_url or f"sqlite:///{work}/twostep.sqlite",
    )
    users = work / "users.csv"
    with users.open("w", newline="") as handle:
        csv.writer(handle).writerows(
            [["email", "password_hash", "totp_secret"], ["ada@example.test", PasswordHasher().hash(PASSWORD), SECRET]]
        )
    twostep = [sys.executable, "-m", "twostep.cli"]
    subprocess.run([*twostep, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([*twostep, "user", "import", str(users)], env=env, check=True, capture_output=True)
    os.environ.update(env)

    import logging

    import uvloop

    from twostep.app import create_app
    from twostep.logs import configure_logging
    from twostep.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_format)
    log_file = (work / "server.log").open("a")
    for handler in logging.getLogger("twostep").handlers:  # as a served process: stderr to a file
        handler.setStream(log_file)  # type: ignore[attr-defined]
    app = create_app(settings)
    loop = uvloop.new_event_loop()
    cookie = loop.run_until_complete(sign_in(app))
    loop.run_until_complete(drive(app, cookie, 500))  # warm-up: statements compiled, connection held
    if args.what_if_cached:
        what_if_cached(app, cookie, loop, args.checks)
        return
    started, cpu = time.perf_counter(), time.process_time()
    ok = loop.run_until_complete(drive(app, cookie, args.checks))
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - started
    print(f"{ok}/{args.checks} allowed; CPU {cpu / args.checks * 1000:.4f} ms per check, "
          f"wall {wall / args.checks * 1000:.4f} ms")
    if args.no_profile:
        return
    profiler = cProfile.Profile()
    profiler.enable()
    loop.run_until_complete(drive(app, cookie, args.checks))
    profiler.disable()
    pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
