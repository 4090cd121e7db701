"""Passkey sign-ins through real relying parties in Chromium (issue 16 with issue 15): openid-client 6
(tests/oidc/oidc_rp.mjs) and Apache with mod_auth_openidc (the block docs/oidc.md documents), both
started on loopback by the test. The user has a passkey on the DevTools virtual authenticator; the
application sends the browser to twostep, which signs it in with the passkey alone ("Sign in with a
passkey") or with the password and the passkey as the second step, and back; the application's
page shows the claims (``amr`` names the passkey as RFC 8176 does: ``hwk`` for a key bound to its
device, ``user`` for its own check, ``mfa``). Each application then refreshes its tokens and signs
out through twostep's end-session endpoint, after which twostep's own session is gone too.

twostep is served as http://localhost:<port> and that is the issuer the applications discover:
WebAuthn needs a domain name (not 127.0.0.1) and a secure context (http://localhost is one). The
applications stay on http://127.0.0.1:<port> — another site, as they would be in real life.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import free_port, serve
from tests.browser.passkeys import EMAIL, Authenticators, sign_up_with_passkey, without_autofill
from tests.forward_auth_support import echo_server
from tests.relying_parties import Provider, apache, apache_conf, node_rp, node_rp_addresses
from tests.support import PASSWORD
from twostep.domain.amr import ACR_MULTI_FACTOR
from twostep.domain.clock import FrozenClock
from twostep.services.core.context import Context
from twostep.services.oidc import clients
from twostep.settings import Settings, load_settings

pytestmark = pytest.mark.browser


@pytest.fixture
def clock() -> FrozenClock:
    """Real time: openid-client and mod_auth_openidc compare the ID token's ``iat`` with their clocks."""
    return FrozenClock(datetime.now(UTC))


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, port: int) -> Settings:
    return load_settings(data_dir=tmp_path / "data", database_url=database_url, base_url=f"http://localhost:{port}")


@pytest.fixture
def live_server(app: FastAPI, port: int) -> Iterator[str]:
    """On the port the issuer names, as http://localhost (the relying parties discover it there)."""
    with serve(app, port, host_name="localhost") as base:
        yield base


@pytest.fixture
def passkey_user(page: Page, live_server: str, ctx: Context, keys: Authenticators) -> str:
    """Ada, whose first method is a passkey on this browser's (device-bound) virtual authenticator;
    signed out again. Returns the authenticator's id."""
    platform = keys.add()
    without_autofill(page)  # else /login's autofill request would sign in before any button
    sign_up_with_passkey(page, live_server, ctx)
    return platform


def page_json(page: Page) -> dict[str, Any]:
    shown: dict[str, Any] = json.loads(page.locator("body").inner_text())
    return shown


def signed_out_of_twostep(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/account")
    expect(page).to_have_url(re.compile(re.escape(f"{live_server}/login")))
    expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_visible()


def test_a_passkey_alone_signs_in_to_openid_client_which_refreshes_and_signs_out_through_twostep(
    page: Page, live_server: str, ctx: Context, keys: Authenticators, passkey_user: str
) -> None:
    rp_port = free_port()
    addresses = node_rp_addresses(rp_port)
    created = clients.create(ctx, "Node app", [addresses.redirect_uri], post_logout_uris=[addresses.post_logout_uri])
    assert created.secret is not None
    with node_rp(live_server, (created.info.client_id, created.secret), rp_port) as rp:
        page.goto(f"{rp.base}/login")
        page.wait_for_url(f"{live_server}/login?**")
        page.get_by_role("button", name="Sign in with a passkey").click()
        page.wait_for_url(f"{rp.redirect_uri}?**")
        shown = page_json(page)
        claims = shown["claims"]
        assert claims["iss"] == live_server and claims["aud"] == created.info.client_id
        assert claims["amr"] == ["hwk", "user", "mfa"] and claims["acr"] == ACR_MULTI_FACTOR
        assert claims["email"] == EMAIL and claims["email_verified"] is True  # proven by the emailed code
        assert shown["userinfo"]["sub"] == claims["sub"]
        assert shown["refreshed"] is True  # a new access token and a rotated refresh token
        assert keys.credentials(passkey_user)[0]["signCount"] >= 1  # the passkey did sign
        page.goto(f"{rp.base}/logout")
        page.wait_for_url(f"{rp.post_logout_uri}?**")
        assert page_json(page) == {"signed_out": True}  # back with the state the application sent
    signed_out_of_twostep(page, live_server)


def test_password_and_a_passkey_as_the_second_step_sign_in_to_openid_client(
    page: Page, live_server: str, ctx: Context, passkey_user: str
) -> None:
    rp_port = free_port()
    addresses = node_rp_addresses(rp_port)
    created = clients.create(ctx, "Node app", [addresses.redirect_uri], post_logout_uris=[addresses.post_logout_uri])
    assert created.secret is not None
    with node_rp(live_server, (created.info.client_id, created.secret), rp_port) as rp:
        page.goto(f"{rp.base}/login")
        page.wait_for_url(f"{live_server}/login?**")
        page.get_by_label("Email address").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(f"{live_server}/login/code")
        page.get_by_role("button", name="Use your passkey").click()
        page.wait_for_url(f"{rp.redirect_uri}?**")
        claims = page_json(page)["claims"]
        assert claims["amr"] == ["pwd", "hwk", "user", "mfa"] and claims["acr"] == ACR_MULTI_FACTOR
        assert claims["email"] == EMAIL
        page.goto(f"{rp.base}/logout")
        page.wait_for_url(f"{rp.post_logout_uri}?**")
    signed_out_of_twostep(page, live_server)


def test_a_passkey_picked_from_autofill_signs_in_to_openid_client_with_nothing_clicked(
    browser: Browser, live_server: str, ctx: Context, keys: Authenticators, passkey_user: str
) -> None:
    """Conditional mediation on the /login the application sent the browser to: the virtual
    authenticator answers it at once (as a person picks the passkey in the email field's autofill),
    and the sign-in goes on to the application. Another browser, holding a copy of the passkey, so
    that nothing else could have signed it in."""
    [passkey] = keys.credentials(passkey_user)
    rp_port = free_port()
    addresses = node_rp_addresses(rp_port)
    created = clients.create(ctx, "Node app", [addresses.redirect_uri], post_logout_uris=[addresses.post_logout_uri])
    assert created.secret is not None
    context = browser.new_context(locale="en-US")
    try:
        other = context.new_page()
        other.set_default_timeout(10_000)
        other_keys = Authenticators(other)
        other_keys.cdp.send("WebAuthn.addCredential", {"authenticatorId": other_keys.add(), "credential": passkey})
        with node_rp(live_server, (created.info.client_id, created.secret), rp_port) as rp:
            other.goto(f"{rp.base}/login")
            other.wait_for_url(f"{rp.redirect_uri}?**")
            claims = page_json(other)["claims"]
            assert claims["amr"] == ["hwk", "user", "mfa"] and claims["email"] == EMAIL
    finally:
        context.close()


def test_a_passkey_alone_signs_in_through_apache_mod_auth_openidc_which_refreshes_and_signs_out_through_twostep(
    page: Page, live_server: str, ctx: Context, passkey_user: str, tmp_path: Path
) -> None:
    apache_port = free_port()
    site = f"http://127.0.0.1:{apache_port}"
    created = clients.create(ctx, "App", [f"{site}/protected/redirect_uri"], post_logout_uris=[f"{site}/"])
    assert created.secret is not None
    root = tmp_path / "apache"
    client = (created.info.client_id, created.secret)
    with echo_server() as upstream, apache(root, apache_conf(root, apache_port, Provider(live_server, {}), client,
                                                             upstream), apache_port):
        page.goto(f"{site}/protected/reports?month=3")
        page.wait_for_url(f"{live_server}/login?**")
        page.get_by_role("button", name="Sign in with a passkey").click()
        page.wait_for_url(f"{site}/protected/reports?month=3")
        seen = page_json(page)
        assert seen["oidc_claim_amr"] == "hwk,user,mfa"
        assert seen["oidc_claim_acr"] == ACR_MULTI_FACTOR  # the documented `Require claim acr:…/mfa` let it in
        assert seen["oidc_claim_email"] == EMAIL and seen["oidc_claim_iss"] == live_server
        # Refresh through the module's redirect URI: a refresh-token grant at twostep, a new access token.
        token = seen["oidc_access_token"]
        after = f"{site}/protected/after-refresh"
        page.goto(f"{site}/protected/redirect_uri?refresh={quote(after, safe='')}&access_token={quote(token)}")
        page.wait_for_url(after)
        refreshed = page_json(page)
        assert refreshed["oidc_access_token"] != token and refreshed["oidc_claim_amr"] == "hwk,user,mfa"
        # Logout: the module's session, then twostep's through /oauth2/logout, back to the application.
        page.goto(f"{site}/protected/redirect_uri?logout={quote(site + '/', safe='')}")
        page.wait_for_url(f"{site}/**")
        assert page_json(page)["path"].split("?")[0] == "/"
        signed_out_of_twostep(page, live_server)
        page.goto(f"{site}/protected/reports")  # the module's session is gone as well: to twostep again
        page.wait_for_url(f"{live_server}/login?**")


def test_apache_mod_auth_openidc_refreshes_on_its_own_before_the_access_token_expires(
    page: Page, live_server: str, ctx: Context, passkey_user: str, tmp_path: Path
) -> None:
    """``OIDCRefreshAccessTokenBeforeExpiry`` longer than twostep's access tokens live (an hour): the
    module finds every token about to expire and refreshes it at each request, as it would near the
    end of a real token's life; ``logout_on_error`` would send the browser back to twostep if a
    refresh failed (a refresh token refused as reused, say)."""
    apache_port = free_port()
    site = f"http://127.0.0.1:{apache_port}"
    created = clients.create(ctx, "App", [f"{site}/protected/redirect_uri"], post_logout_uris=[f"{site}/"])
    assert created.secret is not None
    root = tmp_path / "apache"
    client = (created.info.client_id, created.secret)
    refresh = "OIDCRefreshAccessTokenBeforeExpiry 3700 logout_on_error\n"
    with echo_server() as upstream, apache(root, apache_conf(root, apache_port, Provider(live_server, {}), client,
                                                             upstream, extra=refresh), apache_port):
        page.goto(f"{site}/protected/reports")
        page.wait_for_url(f"{live_server}/login?**")
        page.get_by_role("button", name="Sign in with a passkey").click()
        page.wait_for_url(f"{site}/protected/reports")
        tokens = [page_json(page)["oidc_access_token"]]
        for visit in range(2):
            page.goto(f"{site}/protected/reports?visit={visit}")
            seen = page_json(page)
            assert seen["path"] == f"/protected/reports?visit={visit}"  # still signed in: every refresh worked
            assert seen["oidc_claim_amr"] == "hwk,user,mfa"
            tokens.append(seen["oidc_access_token"])
        assert len(set(tokens)) == 3
