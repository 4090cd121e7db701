"""Forward-auth in a real browser: Chromium asks nginx (the documented auth_request snippet) for a
protected application, signs in with password and authenticator code on twostep, and lands back on
the application, whose upstream sees Remote-User; the parent-domain cookie carries the sign-in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from tests.forward_auth_support import echo_server, nginx_conf
from tests.real_servers import free_port
from tests.support import PASSWORD, code_for, enrolled_user
from twostep.domain.clock import FrozenClock
from twostep.services.core.context import Context
from twostep.settings import Settings, load_settings

RULES = [{"hosts": ["app.example.test"], "level": "two_factor"}]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(data_dir=tmp_path / "data", database_url=database_url, base_url="http://auth.example.test",
                         cookie_domain="example.test", access_rules=RULES)


@pytest.fixture
def proxy_port(tmp_path: Path, live_server: str) -> Iterator[int]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert os.path.exists(nginx), "nginx is not installed: `make test` installs it"
    port = free_port()
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    with echo_server() as upstream:
        (prefix / "nginx.conf").write_text(nginx_conf(prefix, port, [int(live_server.rsplit(":", 1)[1])], upstream))
        process = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                try:
                    httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.05)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_chromium_signs_in_through_nginx_and_lands_on_the_protected_page(
    app: FastAPI, ctx: Context, clock: FrozenClock, browser: Browser, proxy_port: int
) -> None:
    with TestClient(app, base_url="http://auth.example.test") as client:
        secret = enrolled_user(client, ctx, clock)
    clock.advance(seconds=30)
    context = browser.new_context(locale="en-US", proxy={"server": f"http://127.0.0.1:{proxy_port}"})
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto("http://app.example.test/reports?month=3")
        assert page.url.startswith("http://auth.example.test/login?rd=http%3A%2F%2Fapp.example.test%2Freports")
        page.get_by_label("Email address").fill("ada@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_label("Verification code").fill(code_for(secret, clock))
        page.get_by_role("button", name="Verify").click()
        page.wait_for_url("http://app.example.test/reports?month=3")
        seen = json.loads(page.locator("body").inner_text())
        assert seen["remote-user"] == "ada@example.com" and seen["path"] == "/reports?month=3"
        cookies = {c["name"]: c for c in context.cookies()}
        assert cookies["twostep_session"]["domain"] in (".example.test", "example.test")
    finally:
        context.close()
