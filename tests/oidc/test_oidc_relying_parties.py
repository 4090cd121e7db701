"""Real relying parties against a real `twostep serve` on loopback (issue 16): openid-client 6 (Node)
signs a user in with password + TOTP, reads the claims and userinfo, refreshes, and logs out through
the end-session endpoint."""

from __future__ import annotations

import csv
import html
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher

from tests.operations.test_behind_nginx import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "violet staple meadow 42"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
TWOSTEP = [sys.executable, "-m", "twostep.cli"]


@dataclass
class Provider:
    base: str
    env: dict[str, str]


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[Provider]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    env |= {"TWOSTEP_DATA_DIR": str(tmp_path / "data"), "TWOSTEP_BASE_URL": f"http://127.0.0.1:{port}"}
    users = tmp_path / "users.csv"
    with users.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "roles", "password_hash", "totp_secret"])
        writer.writerow(["ada@example.com", "Ada Lovelace", "wiki-editors", PasswordHasher().hash(PASSWORD), SECRET])
    subprocess.run([*TWOSTEP, "migrate"], env=env, check=True, capture_output=True, timeout=60)
    subprocess.run([*TWOSTEP, "user", "import", str(users)], env=env, check=True, capture_output=True, timeout=60)
    server = subprocess.Popen([*TWOSTEP, "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", server)
        yield Provider(f"http://127.0.0.1:{port}", env)
    finally:
        server.terminate()
        server.wait(timeout=30)


def register(provider: Provider, rp_base: str) -> tuple[str, str]:
    ran = subprocess.run(
        [*TWOSTEP, "oidc", "client", "create", "Node RP", "--redirect-uri", f"{rp_base}/callback",
         "--post-logout-uri", f"{rp_base}/signed-out"],
        env=provider.env, check=True, capture_output=True, text=True, timeout=60,
    )
    fields = dict(line.split(":", 1) for line in ran.stdout.splitlines())
    return fields["client_id"].strip(), fields["client_secret"].strip()


def sign_in(browser: httpx.Client, start: str, provider: Provider) -> httpx.Response:
    """Follow redirects like a browser; fill twostep's password and code forms when they come."""
    response = browser.get(start)
    for _ in range(20):
        if response.status_code in (302, 303):
            response = browser.get(httpx.URL(str(response.url)).join(response.headers["location"]))
            continue
        if response.url.path == "/login":
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
            action = re.search(r'<form method="post" action="(/login[^"]*)"', response.text)
            assert csrf and action  # the form's action carries where the sign-in continues
            response = browser.post(f"{provider.base}{html.unescape(action.group(1))}", data={
                "email": "ada@example.com", "password": PASSWORD, "csrf_token": csrf.group(1)})
            continue
        if response.url.path == "/login/code":
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
            assert csrf
            response = browser.post(f"{provider.base}/login/code", data={
                "code": pyotp.TOTP(SECRET).now(), "csrf_token": csrf.group(1)})
            continue
        return response
    raise AssertionError("too many redirects")


def test_openid_client_6_signs_in_with_totp_refreshes_and_logs_out(provider: Provider) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed (the browser tests' axe-core uses it too)"
    assert (ROOT / "node_modules" / "openid-client").exists(), "run `npm ci` (package.json lists openid-client)"
    rp_port = free_port()
    rp_base = f"http://127.0.0.1:{rp_port}"
    client_id, secret = register(provider, rp_base)
    rp = subprocess.Popen(
        [node, str(ROOT / "tests" / "oidc" / "oidc_rp.mjs")],
        env={**os.environ, "ISSUER": provider.base, "CLIENT_ID": client_id, "CLIENT_SECRET": secret,
             "PORT": str(rp_port)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        wait_for(f"{rp_base}/signed-out", rp)
        with httpx.Client(follow_redirects=False, timeout=10) as browser:
            done = sign_in(browser, f"{rp_base}/login", provider)
            assert done.status_code == 200 and done.url.path == "/callback", done.text
            result = done.json()
            claims = result["claims"]
            assert claims["iss"] == provider.base and claims["aud"] == client_id
            assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["name"] == "Ada Lovelace"
            assert claims["groups"] == ["wiki-editors"] and claims["email"] == "ada@example.com"
            assert claims["email_verified"] is False  # imported, never proven by an emailed code
            assert result["userinfo"]["sub"] == claims["sub"] and result["refreshed"] is True
            assert browser.get(f"{provider.base}/account").status_code == 200
            out = sign_in(browser, f"{rp_base}/logout", provider)
            assert out.url.path == "/signed-out" and out.json() == {"signed_out": True}
            assert browser.get(f"{provider.base}/account").headers["location"].startswith("/login")
    finally:
        rp.terminate()
        rp.wait(timeout=30)
