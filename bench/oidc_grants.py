"""OpenID Connect token endpoint throughput: authorization-code exchanges and refresh-token grants per
second, and per second of server CPU (the per-core figure to hold against Keycloak's published sizing
of about 120 refresh-token grants per second per vCPU).

    PYTHONPATH=src .venv/bin/python bench/oidc_grants.py [--seconds 10] [--threads 4] [--database-url URL]
        [--alg RS256|ES256]

It starts `twostep serve --workers 1` on loopback (SQLite in a temporary data directory unless
``--database-url``), registers a confidential client, writes N ready authorization codes (with PKCE
S256) and refresh-token chains straight into the database (``--alg ES256``: after ``rotate-keys
--alg ES256``, so ID tokens are signed with P-256 instead of RSA-2048), then posts to /oauth2/token from
``--threads`` keep-alive connections. Every answer must be 200 with tokens (an error aborts the run).
Server CPU is read from /proc for the server process; the client runs on the same machine.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from twostep.app import build_context  # noqa: E402
from twostep.services.core import accounts  # noqa: E402
from twostep.services.oidc import clients, keys  # noqa: E402
from twostep.services.oidc.provider import CODE_PURPOSE, TOKEN_PURPOSE  # noqa: E402
from twostep.settings import load_settings  # noqa: E402
from twostep.storage.models import OidcAuthorizationCode, OidcToken  # noqa: E402

VERIFIER = secrets.token_urlsafe(48)
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
REDIRECT = "https://rp.example/callback"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed(env: dict[str, str], codes: int, chains: int, alg: str = "RS256") -> tuple[str, str, list[str], list[str]]:
    overrides: dict[str, object] = {"data_dir": Path(env["TWOSTEP_DATA_DIR"]), "base_url": env["TWOSTEP_BASE_URL"]}
    if env.get("TWOSTEP_DATABASE_URL"):
        overrides["database_url"] = env["TWOSTEP_DATABASE_URL"]
    settings = load_settings(**overrides)
    ctx = build_context(settings)
    keys.rotate(ctx, alg)
    created = clients.create(ctx, "bench", [REDIRECT])
    assert created.secret is not None
    user_id = accounts.create_user(ctx, f"bench-{secrets.token_hex(4)}@example.com", "violet staple meadow 42")
    now = ctx.clock.now()
    code_values = [secrets.token_urlsafe(36) for _ in range(codes)]
    refresh_values = [secrets.token_urlsafe(32) for _ in range(chains)]
    with ctx.db.transaction() as db:
        for value in code_values:
            db.add(OidcAuthorizationCode(
                code_digest=ctx.digester.digest(value, CODE_PURPOSE), client_id=created.info.client_id,
                user_id=user_id, redirect_uri=REDIRECT, scope="openid profile email groups", nonce="n",
                code_challenge=CHALLENGE, code_challenge_method="S256", auth_time=int(now.timestamp()),
                amr="pwd otp mfa", acr="https://refeds.org/profile/mfa", email_verified=True,
                created_at=now, expires_at=now + timedelta(hours=2),
            ))
        for value in refresh_values:
            db.add(OidcToken(
                family=secrets.token_hex(16), client_id=created.info.client_id, user_id=user_id,
                scope="openid profile email groups",
                access_digest=ctx.digester.digest(secrets.token_urlsafe(32), TOKEN_PURPOSE),
                refresh_digest=ctx.digester.digest(value, TOKEN_PURPOSE), issued_at=now,
                access_expires_at=now + timedelta(hours=1), refresh_expires_at=now + timedelta(days=1),
                auth_time=int(now.timestamp()), amr="pwd otp mfa", acr="https://refeds.org/profile/mfa",
                email_verified=True,
            ))
    ctx.db.dispose()
    return created.info.client_id, created.secret, code_values, refresh_values


def run(base: str, auth: tuple[str, str], threads: int, seconds: float, work: list[str], kind: str) -> int:
    lock = threading.Lock()
    done = [0]
    failure: list[str] = []
    deadline = time.monotonic() + seconds

    def worker(index: int) -> None:
        with httpx.Client(base_url=base, auth=auth, timeout=30) as http:
            chain = work[index] if kind == "refresh" else ""
            while time.monotonic() < deadline and not failure:
                if kind == "code":
                    with lock:
                        if not work:
                            return
                        code = work.pop()
                    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                            "code_verifier": VERIFIER}
                else:
                    data = {"grant_type": "refresh_token", "refresh_token": chain}
                response = http.post("/oauth2/token", data=data)
                if response.status_code != 200:
                    failure.append(response.text)
                    return
                if kind == "refresh":
                    chain = response.json()["refresh_token"]
                else:
                    assert response.json()["id_token"]
                with lock:
                    done[0] += 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if failure:
        raise SystemExit(f"{kind}: a request failed: {failure[0][:300]}")
    return done[0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--codes", type=int, default=20000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--alg", choices=["RS256", "ES256"], default="RS256")
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
        env |= {"TWOSTEP_DATA_DIR": tmp, "TWOSTEP_BASE_URL": base, "PYTHONPATH": str(ROOT / "src")}
        if args.database_url:
            env["TWOSTEP_DATABASE_URL"] = args.database_url
        twostep = [sys.executable, "-m", "twostep.cli"]
        subprocess.run([*twostep, "migrate"], env=env, check=True, capture_output=True)
        client_id, secret, codes, chains = seed(env, args.codes, args.threads, args.alg)
        server = subprocess.Popen([*twostep, "serve", "--port", str(port), "--no-migrate"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{base}/oauth2/jwks", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            results = []
            for kind, work in (("code", codes), ("refresh", chains)):
                cpu0, wall0 = cpu_seconds(server.pid), time.monotonic()
                count = run(base, (client_id, secret), args.threads, args.seconds, work, kind)
                cpu, wall = cpu_seconds(server.pid) - cpu0, time.monotonic() - wall0
                results.append({
                    "grant": "authorization_code" if kind == "code" else "refresh_token",
                    "database": "postgresql" if args.database_url else "sqlite", "alg": args.alg,
                    "requests": count, "seconds": round(wall, 2), "per_second": round(count / wall, 1),
                    "server_cpu_seconds": round(cpu, 2), "per_cpu_second": round(count / cpu, 1) if cpu else None,
                    "threads": args.threads,
                })
            for row in results:
                print(json.dumps(row))
        finally:
            server.terminate()
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
