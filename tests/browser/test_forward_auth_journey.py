"""Forward-auth in a real browser: Chromium asks nginx, Caddy or Traefik (each with its documented
snippet) for a protected application, signs in with password and authenticator code on twostep, and
lands back on the application, whose upstream sees Remote-User; the parent-domain cookie carries the
sign-in."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from tests.forward_auth_support import binary, caddyfile, echo_server, nginx_conf, traefik_command, traefik_yml
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


@pytest.fixture(params=["nginx", "caddy", "traefik"])
def proxy_port(request: pytest.FixtureRequest, tmp_path: Path, live_server: str) -> Iterator[int]:
    """The proxy in front of twostep and the echoing upstream, from its documented snippet."""
    port = free_port()
    instance = int(live_server.rsplit(":", 1)[1])
    with echo_server() as upstream:
        if request.param == "nginx":
            prefix = tmp_path / "nginx"
            prefix.mkdir()
            (prefix / "nginx.conf").write_text(nginx_conf(prefix, port, [instance], upstream))
            command = [binary("nginx"), "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"]
        elif request.param == "caddy":
            config = tmp_path / "Caddyfile"
            config.write_text(caddyfile(port, [instance], upstream))
            command = [binary("caddy"), "run", "--config", str(config), "--adapter", "caddyfile"]
        else:
            config = tmp_path / "dynamic.yml"  # not traefik.yml: Traefik reads that name as its static configuration
            config.write_text(traefik_yml([instance], upstream))
            command = traefik_command(config, port)
        env = os.environ | {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        try:
            deadline = time.monotonic() + 30
            with httpx.Client(proxy=f"http://127.0.0.1:{port}", timeout=1) as probe:
                while True:
                    assert process.poll() is None, process.stderr.read() if process.stderr else ""
                    assert time.monotonic() < deadline, f"{request.param} did not come up"
                    try:
                        if probe.get("http://auth.example.test/healthz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.05)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_chromium_signs_in_through_the_proxy_and_lands_on_the_protected_page(
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
