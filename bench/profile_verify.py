#!/usr/bin/env python3
"""Profile ``POST /api/v1/verify`` in one process, without the network: where does a check's CPU go?

    .venv/bin/python bench/profile_verify.py                       # SQLite, 4,000 checks, top 30 by own time
    .venv/bin/python bench/profile_verify.py --database-url postgresql://postgres@127.0.0.1:5432/twostep_prof
    .venv/bin/python bench/profile_verify.py --no-profile          # just the CPU time per check

The app is built as ``twostep serve`` builds it (settings from the environment, access and audit
logs on) and called through ASGI with valid codes, one fresh account per check. The figure printed
is CPU per check with the profiler off; the profile is a second pass with cProfile on.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import TWOSTEP, account, seed_bytes, totp, users_csv  # noqa: E402


def prepare(env: dict[str, str], users: int) -> str:
    subprocess.run([TWOSTEP, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run(
        [TWOSTEP, "user", "import", str(users_csv(users)), "--quiet"], env=env, check=True, capture_output=True
    )
    created = subprocess.run(
        [TWOSTEP, "apikey", "create", "profile"], env=env, check=True, capture_output=True, text=True
    )
    return created.stdout.strip()


async def drive(app: Any, key: str, bodies: list[bytes]) -> int:
    ok = 0
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {key}".encode()),
    ]
    for body in bodies:
        sent: list[dict[str, Any]] = []
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                await asyncio.sleep(3600)
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/api/v1/verify",
            "raw_path": b"/api/v1/verify",
            "root_path": "",
            "query_string": b"",
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        await app(scope, receive, send)
        answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        ok += json.loads(answer).get("valid") is True
    return ok


def bodies_for(first: int, count: int) -> list[bytes]:
    step = int(time.time()) // 30
    return [
        json.dumps({"user": f"{account(i)}@bench.test", "code": totp(seed_bytes(account(i)), step)}).encode()
        for i in range(first, first + count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=4000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="twostep-profile-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    env.update(
        TWOSTEP_DATA_DIR=str(work),
        TWOSTEP_DATABASE_URL=args.database_url or f"sqlite:///{work}/twostep.sqlite",
        TWOSTEP_API_RATE_LIMIT_PER_MINUTE="1000000000",
    )
    users = 3 * args.checks
    key = prepare(env, users)
    os.environ.update(env)

    import logging

    import uvloop

    from twostep.app import create_app
    from twostep.logs import configure_logging
    from twostep.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_format)
    log_file = (work / "server.log").open("a")
    for handler in logging.getLogger("twostep").handlers:  # as the benchmark does: stderr to a file
        handler.setStream(log_file)  # type: ignore[attr-defined]
    app = create_app(settings)
    loop = uvloop.new_event_loop()

    warm = bodies_for(0, 200)
    loop.run_until_complete(drive(app, key, warm))
    timed = bodies_for(200, args.checks)
    started, cpu = time.perf_counter(), time.process_time()
    ok = loop.run_until_complete(drive(app, key, timed))
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - started
    per_check = cpu / len(timed) * 1000
    print(f"{ok}/{len(timed)} valid; CPU {per_check:.3f} ms per check, wall {wall / len(timed) * 1000:.3f} ms")
    if args.no_profile:
        return
    profiled = bodies_for(200 + args.checks, args.checks)
    profiler = cProfile.Profile()
    profiler.enable()
    loop.run_until_complete(drive(app, key, profiled))
    profiler.disable()
    pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
