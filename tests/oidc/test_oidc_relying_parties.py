"""Real relying parties against a real `twostep serve` on loopback (issue 16): openid-client 6 (Node)
and Apache with mod_auth_openidc (configured with the block docs/oidc.md documents) each sign a user
in with password + TOTP, see the claims, refresh, and log out through the end-session endpoint."""

from __future__ import annotations

import csv
import html
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher

from tests.forward_auth_support import echo_server
from tests.operations.test_behind_nginx import free_port, wait_for
from tests.relying_parties import Provider, apache, apache_conf, node_rp, node_rp_addresses

PASSWORD = "violet staple meadow 42"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
TWOSTEP = [sys.executable, "-m", "twostep.cli"]


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


def register(provider: Provider, rp_base: str, *, redirect: str = "/callback",
             post_logout: str = "/signed-out") -> tuple[str, str]:
    ran = subprocess.run(
        [*TWOSTEP, "oidc", "client", "create", "Test RP", "--redirect-uri", f"{rp_base}{redirect}",
         "--post-logout-uri", f"{rp_base}{post_logout}"],
        env=provider.env, check=True, capture_output=True, text=True, timeout=60,
    )
    fields = dict(line.split(":", 1) for line in ran.stdout.splitlines())
    return fields["client_id"].strip(), fields["client_secret"].strip()


def sign_in(browser: httpx.Client, start: str, provider: Provider, *, remember: bool = False) -> httpx.Response:
    """Follow redirects like a browser; fill twostep's password and code forms when they come
    (``remember``: tick "remember this device" on the code form)."""
    response = browser.get(start)
    for _ in range(20):
        if response.status_code in (302, 303):
            response = browser.get(httpx.URL(str(response.url)).join(response.headers["location"]))
            continue
        if response.headers.get("refresh", "").startswith("0;url="):  # twostep's way back after a sign-in
            response = browser.get(response.headers["refresh"].removeprefix("0;url="))
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
            fields = {"code": pyotp.TOTP(SECRET).now(), "csrf_token": csrf.group(1)}
            if remember:
                fields["remember_device"] = "1"
            response = browser.post(f"{provider.base}/login/code", data=fields)
            continue
        return response
    raise AssertionError("too many redirects")


def test_openid_client_6_signs_in_with_totp_refreshes_and_logs_out(provider: Provider) -> None:
    rp_port = free_port()
    addresses = node_rp_addresses(rp_port)
    client_id, secret = register(provider, addresses.base)
    with node_rp(provider.base, (client_id, secret), rp_port) as rp, \
            httpx.Client(follow_redirects=False, timeout=10) as browser:
        done = sign_in(browser, f"{rp.base}/login", provider)
        assert done.status_code == 200 and done.url.path == "/callback", done.text
        result = done.json()
        claims = result["claims"]
        assert claims["iss"] == provider.base and claims["aud"] == client_id
        assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["name"] == "Ada Lovelace"
        assert claims["groups"] == ["wiki-editors"] and claims["email"] == "ada@example.com"
        assert claims["email_verified"] is False  # imported, never proven by an emailed code
        assert result["userinfo"]["sub"] == claims["sub"] and result["refreshed"] is True
        assert browser.get(f"{provider.base}/account").status_code == 200
        out = sign_in(browser, f"{rp.base}/logout", provider)
        assert out.url.path == "/signed-out" and out.json() == {"signed_out": True}
        assert browser.get(f"{provider.base}/account").headers["location"].startswith("/login")


def test_apache_mod_auth_openidc_signs_in_with_totp_refreshes_and_logs_out(
    provider: Provider, tmp_path: Path
) -> None:
    port = free_port()
    app = f"http://127.0.0.1:{port}"
    client = register(provider, app, redirect="/protected/redirect_uri", post_logout="/")
    with echo_server() as upstream, apache(tmp_path / "apache", apache_conf(
            tmp_path / "apache", port, provider, client, upstream), port), \
            httpx.Client(follow_redirects=False, timeout=10, headers={"Accept": "text/html"}) as browser:
        first = browser.get(f"{app}/protected/page")
        assert first.status_code == 302 and first.headers["location"].startswith(f"{provider.base}/oauth2/authorize?")
        done = sign_in(browser, f"{app}/protected/page?x=1", provider, remember=True)
        assert done.status_code == 200 and done.url == httpx.URL(f"{app}/protected/page?x=1"), done.text[:500]
        seen = done.json()
        assert seen["path"] == "/protected/page?x=1"
        assert seen["oidc_claim_email"] == "ada@example.com" and seen["oidc_claim_name"] == "Ada Lovelace"
        assert seen["oidc_claim_groups"] == "wiki-editors" and seen["oidc_claim_amr"] == "pwd,otp,mfa"
        assert seen["oidc_claim_acr"] == "https://refeds.org/profile/mfa"
        assert seen["oidc_claim_iss"] == provider.base and seen["oidc_claim_aud"] == client[0]
        assert seen["oidc_claim_email_verified"] in ("0", "false")  # imported: never proven by an emailed code
        forged = browser.get(f"{app}/protected/page", headers={"OIDC_CLAIM_phone_number": "+15550100"}).json()
        assert "oidc_claim_phone_number" not in forged  # a claim header sent by the client never gets through
        # Refresh through the module's own endpoint (the current access token proves the request is the user's).
        token = seen["oidc_access_token"]
        refreshed = browser.get(f"{app}/protected/redirect_uri",
                                params={"refresh": f"{app}/protected/after-refresh", "access_token": token})
        assert refreshed.status_code == 302, refreshed.text[:500]
        assert refreshed.headers["location"] == f"{app}/protected/after-refresh"
        after = browser.get(refreshed.headers["location"]).json()
        assert after["oidc_access_token"] != token and after["oidc_claim_email"] == "ada@example.com"
        # Logout: the module's session, then twostep's through the end-session endpoint, back to the app.
        out = browser.get(f"{app}/protected/redirect_uri", params={"logout": f"{app}/"})
        assert out.status_code == 302 and out.headers["location"].startswith(f"{provider.base}/oauth2/logout?")
        back = browser.get(out.headers["location"])
        assert back.status_code == 302 and back.headers["location"].split("?")[0] == f"{app}/"
        assert browser.get(back.headers["location"]).json()["path"].startswith("/")
        assert browser.get(f"{provider.base}/account").headers["location"].startswith("/login")
        again = browser.get(f"{app}/protected/page")
        assert again.status_code == 302 and again.headers["location"].startswith(f"{provider.base}/oauth2/authorize?")
        assert browser.get(again.headers["location"]).headers["location"].startswith("/login")
        # Signed in again on the remembered device: password only, acr sfa — the documented
        # `Require claim acr:https://refeds.org/profile/mfa` turns it away.
        refused = sign_in(browser, f"{app}/protected/page", provider)
        # 401 on the page itself, after the module's callback: signed in there, but not authorized
        # (an anonymous request is redirected to twostep instead, as above).
        assert refused.status_code == 401 and refused.url.path == "/protected/page", refused.text[:300]
        assert browser.get(f"{provider.base}/account").status_code == 200  # twostep itself did sign in
