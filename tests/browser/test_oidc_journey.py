"""OpenID Connect in a real browser (issue 16): Chromium opens a page that Apache with
mod_auth_openidc protects (the block docs/oidc.md documents), signs in on twostep with password and
authenticator code, and lands back on the page, whose application sees the claims; then signs out
through the application, which ends the twostep session too.

A real browser matters here: it enforces twostep's Content-Security-Policy, whose ``form-action
'self'`` also governs the redirects that follow a form submission — the sign-in's last form leads to
the application, on another origin. An HTTP client (tests/oidc/test_oidc_relying_parties.py) would
not notice if that hop were blocked.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from tests.forward_auth_support import echo_server
from tests.real_servers import free_port
from tests.relying_parties import Provider, apache, apache_conf
from tests.support import PASSWORD, code_for, enrolled_user
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.services.core.context import Context
from twostep.services.oidc import clients
from twostep.settings import Settings, load_settings


@pytest.fixture
def clock() -> FrozenClock:
    """Real time, give or take a minute (at the start of a TOTP step, two steps back: the test moves
    on by two), since mod_auth_openidc and the ID-token hint check compare ``iat`` with real time."""
    step = totp.step_at(datetime.now(UTC)) - 2
    return FrozenClock(datetime.fromtimestamp(step * totp.PERIOD_SECONDS, UTC))


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, port: int) -> Settings:
    return load_settings(data_dir=tmp_path / "data", database_url=database_url, base_url=f"http://127.0.0.1:{port}")


@pytest.fixture
def live_server(app: FastAPI, port: int) -> Iterator[str]:
    """On the port the issuer (``TWOSTEP_BASE_URL``) names: Apache reads the discovery document there."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "live server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


def test_chromium_signs_in_through_apache_mod_auth_openidc_and_signs_out(
    app: FastAPI, ctx: Context, clock: FrozenClock, browser: Browser, live_server: str, tmp_path: Path
) -> None:
    with TestClient(app, base_url=live_server) as client:
        secret = enrolled_user(client, ctx, clock)
    clock.advance(seconds=30)
    apache_port = free_port()
    site = f"http://127.0.0.1:{apache_port}"
    created = clients.create(ctx, "App", [f"{site}/protected/redirect_uri"], post_logout_uris=[f"{site}/"])
    assert created.secret is not None
    provider = Provider(live_server, {})
    root = tmp_path / "apache"
    with echo_server() as upstream, apache(
        root, apache_conf(root, apache_port, provider, (created.info.client_id, created.secret), upstream), apache_port
    ):
        context = browser.new_context(locale="en-US")
        try:
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{site}/protected/reports?month=3")
            page.wait_for_url(f"{live_server}/login?**")
            page.get_by_label("Email address").fill("ada@example.com")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_label("Verification code").fill(code_for(secret, clock))
            page.get_by_role("button", name="Verify").click()
            page.wait_for_url(f"{site}/protected/reports?month=3")
            seen = json.loads(page.locator("body").inner_text())
            assert seen["oidc_claim_email"] == "ada@example.com" and seen["oidc_claim_amr"] == "pwd,otp,mfa"
            assert seen["oidc_claim_acr"] == "https://refeds.org/profile/mfa"
            page.goto(f"{site}/protected/redirect_uri?logout=" + f"{site}/".replace(":", "%3A").replace("/", "%2F"))
            page.wait_for_url(f"{site}/**")
            assert json.loads(page.locator("body").inner_text())["path"] == "/"
            page.goto(f"{live_server}/account")
            assert page.url.startswith(f"{live_server}/login")
        finally:
            context.close()
