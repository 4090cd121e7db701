"""OpenID Connect sign-ins with a passkey (issue 16 with issue 15): passwordless, as the second step,
and enrolled during the authorization — the application gets back to its page with an ``amr`` that
names the passkey as RFC 8176 does (``hwk`` bound to a device, ``swk`` synced, ``user`` for the
authenticator's own check). Real WebAuthn responses from tests.passkey_support; SQLite and PostgreSQL."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.factors.test_passkeys import EMAIL, passkey_user
from tests.oidc_helpers import Rp, authorize_url, back_to_client, exchange, id_token_claims, pkce, query_of, register
from tests.passkey_support import (
    BASE_URL,
    SoftAuthenticator,
    ceremony,
    options_for,
    register_passkey,
    sign_in_with_passkey,
)
from tests.support import PASSWORD, csrf_of, make_user, prove_mailbox
from twostep.domain.amr import ACR_MULTI_FACTOR
from twostep.services.core.context import Context
from twostep.settings import Settings, load_settings


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Passkeys need a domain name (never an IP address): the base URL is http://localhost:8000."""
    return load_settings(data_dir=tmp_path / "data", database_url=database_url, base_url=BASE_URL)


def _claims(client: TestClient, rp: Rp, location: str, verifier: str) -> dict[str, Any]:
    body = exchange(client, rp, query_of(location)["code"], verifier).json()
    return id_token_claims(client, body["id_token"])[1]


def _password(client: TestClient, login_at: str) -> str:
    """The login form, as the browser posts it (its action carries where the sign-in continues)."""
    page = client.get(login_at)
    action = re.search(r'<form method="post" action="(/login[^"]*)"', page.text)
    assert action
    done = client.post(unescape(action.group(1)), data={"email": EMAIL, "password": PASSWORD,
                                                       "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    location: str = done.headers["location"]
    return location


def test_a_passkey_alone_signs_in_to_the_application(client: TestClient, ctx: Context) -> None:
    authenticator = SoftAuthenticator()
    passkey_user(client, ctx, authenticator)
    rp = register(ctx)
    verifier, challenge = pkce()
    login_at = client.get(authorize_url(rp, challenge=challenge), follow_redirects=False).headers["location"]
    resume = parse_qs(urlsplit(login_at).query)["next"][0]
    csrf = csrf_of(client.get(login_at).text)
    credential = authenticator.get(options_for(client, "sign_in", csrf))
    done = ceremony(client, "/webauthn/authenticate/verify",
                    {"purpose": "sign_in", "credential": credential, "next": resume}, csrf)
    assert done.status_code == 200 and done.json()["redirect"] == resume, done.text
    claims = _claims(client, rp, back_to_client(client.get(resume, follow_redirects=False)), verifier)
    assert claims["amr"] == ["hwk", "user", "mfa"] and claims["acr"] == ACR_MULTI_FACTOR


def test_a_synced_passkey_as_the_second_step_is_a_software_key(client: TestClient, ctx: Context) -> None:
    authenticator = SoftAuthenticator(synced=True)
    passkey_user(client, ctx, authenticator)
    rp = register(ctx)
    verifier, challenge = pkce()
    login_at = client.get(authorize_url(rp, challenge=challenge), follow_redirects=False).headers["location"]
    assert _password(client, login_at) == "/login/code"
    done = sign_in_with_passkey(client, authenticator, purpose="second_step", page_path="/login/code")
    resume = done.json()["redirect"]
    assert resume.startswith("/oauth2/authorize/resume?"), done.text
    claims = _claims(client, rp, back_to_client(client.get(resume, follow_redirects=False)), verifier)
    assert claims["amr"] == ["pwd", "swk", "user", "mfa"] and claims["acr"] == ACR_MULTI_FACTOR


def test_a_passkey_enrolled_during_the_authorization_is_named_in_amr(client: TestClient, ctx: Context) -> None:
    """The first method, bound right after the password: the session's second step is that passkey
    (a synced one: ``swk``), as the sign-in's own second step would be."""
    make_user(ctx, EMAIL)
    rp = register(ctx)
    verifier, challenge = pkce()
    login_at = client.get(authorize_url(rp, challenge=challenge), follow_redirects=False).headers["location"]
    assert _password(client, login_at) == "/enroll"
    prove_mailbox(client, "/enroll/passkey")
    enrolled = register_passkey(client, SoftAuthenticator(synced=True), "Phone")
    # "Continue" under the recovery codes is a form: "I have saved these codes", then onward.
    onward = re.search(r'<input type="hidden" name="continue_to" value="([^"]+)">', enrolled.text)
    assert enrolled.status_code == 200 and onward, enrolled.text[-800:]
    answer = client.post(
        "/enroll/done",
        data={"saved": "1", "continue_to": unescape(onward.group(1)), "csrf_token": csrf_of(enrolled.text)},
        follow_redirects=False,
    )
    while answer.status_code == 303 and answer.headers["location"].startswith("/"):  # via /login/continue
        answer = client.get(answer.headers["location"], follow_redirects=False)
    assert answer.url.path == "/oauth2/authorize/resume", answer.url
    claims = _claims(client, rp, back_to_client(answer), verifier)
    assert claims["amr"] == ["pwd", "swk", "user", "mfa"] and claims["acr"] == ACR_MULTI_FACTOR
