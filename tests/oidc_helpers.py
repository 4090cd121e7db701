"""Helpers for the OpenID Connect tests: a registered relying party and the browser side of a sign-in."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi.testclient import TestClient
from httpx import Response
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support import PASSWORD, alerts, code_for, csrf_of, otpauth_uri, prove_mailbox, secret_of
from twostep.domain.clock import FrozenClock
from twostep.services.core.context import Context
from twostep.services.oidc import clients

REDIRECT = "https://rp.example/callback"
POST_LOGOUT = "https://rp.example/signed-out"


@dataclass
class Rp:
    client_id: str
    secret: str | None
    redirect_uri: str = REDIRECT

    def basic(self) -> tuple[str, str]:
        assert self.secret is not None
        return (self.client_id, self.secret)


def register(ctx: Context, *, public: bool = False, auth_method: str = "") -> Rp:
    created = clients.create(
        ctx, "Wiki", [REDIRECT], post_logout_uris=[POST_LOGOUT], public=public, auth_method=auth_method
    )
    return Rp(created.info.client_id, created.secret)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(rp: Rp, *, challenge: str | None = None, scope: str = "openid profile email groups",
                  **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "scope": scope,
        "state": "st-" + secrets.token_hex(4),
        "nonce": "n-" + secrets.token_hex(4),
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    return "/oauth2/authorize?" + urlencode(params)


def query_of(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def sign_in_through(client: TestClient, login_location: str, email: str, secret: str | None,
                    clock: FrozenClock) -> Response:
    """From the ``/login?next=...`` redirect: password, then the TOTP code; returns the response that
    leaves the sign-in (a redirect to the resume URL)."""
    page = client.get(login_location)
    assert page.status_code == 200, page.text
    action = re.search(r'<form method="post" action="(/login[^"]*)"', page.text)
    assert action, "the login page has no form"
    response = client.post(  # where the browser posts: the form's action carries the continue target
        unescape(action.group(1)), data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    if response.headers["location"].startswith("/login/code"):
        assert secret is not None
        code_page = client.get("/login/code")
        response = client.post(
            "/login/code", data={"code": code_for(secret, clock), "csrf_token": csrf_of(code_page.text)},
            follow_redirects=False,
        )
    return response


def back_to_client(response: Response) -> str:
    """Where twostep sends the browser back to the application: a 302 (an authorization in a signed-in
    browser), or after a sign-in the page that moves on at once (``Refresh: 0;url=…``), since the
    browser's CSP ``form-action 'self'`` would block a redirect to another origin after the sign-in form."""
    if response.status_code == 302:
        return str(response.headers["location"])
    assert response.status_code == 200, (response.status_code, response.text[:500])
    refresh = response.headers.get("refresh", "")
    assert refresh.startswith("0;url="), refresh
    return refresh.removeprefix("0;url=")


def authorize_to_code(client: TestClient, url: str, email: str, secret: str | None, clock: FrozenClock) -> str:
    """Authorization request → (sign-in if asked) → back to the client; the address with the code."""
    response = client.get(url, follow_redirects=False)
    if response.status_code == 303 and response.headers["location"].startswith("/login"):
        done = sign_in_through(client, response.headers["location"], email, secret, clock)
        assert done.headers["location"].startswith("/oauth2/authorize/resume"), done.headers["location"]
        response = client.get(done.headers["location"], follow_redirects=False)
        assert response.status_code == 200, "after a sign-in, a page: never a cross-origin redirect"
    return back_to_client(response)


def exchange(client: TestClient, rp: Rp, code: str, verifier: str | None = None, *, post: bool = False) -> Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri}
    if verifier:
        data["code_verifier"] = verifier
    if rp.secret is None:
        data["client_id"] = rp.client_id
        return client.post("/oauth2/token", data=data)
    if post:
        data.update(client_id=rp.client_id, client_secret=rp.secret)
        return client.post("/oauth2/token", data=data)
    return client.post("/oauth2/token", data=data, auth=rp.basic())


def refresh(client: TestClient, rp: Rp, refresh_token: str) -> Response:
    return client.post(
        "/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}, auth=rp.basic()
    )


def id_token_claims(client: TestClient, id_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims, the signature checked against the published JWKS."""
    keys = KeySet.import_key_set(client.get("/oauth2/jwks").json())
    token = jwt.decode(id_token, keys)
    return dict(token.header), dict(token.claims)


def enroll_app_and_save_the_codes(client: TestClient, clock: FrozenClock) -> Response:
    """A signed-in user who must (or chose to) enrol: the mailbox check, an authenticator app, then
    "I have saved these codes" under the recovery codes; the answer of that last form (a 303 onward)."""
    prove_mailbox(client)
    clock.advance(seconds=20)
    enroll_page = client.get("/enroll/totp")
    secret = secret_of(otpauth_uri(enroll_page.text))
    form = {"code": code_for(secret, clock), "csrf_token": csrf_of(enroll_page.text)}
    enrolled = client.post("/enroll/totp", data=form)
    onward = re.search(r'<input type="hidden" name="continue_to" value="([^"]+)">', enrolled.text)
    assert enrolled.status_code == 200 and onward, alerts(enrolled.text)
    return client.post(
        "/enroll/done",
        data={"saved": "1", "continue_to": unescape(onward.group(1)), "csrf_token": csrf_of(enrolled.text)},
        follow_redirects=False,
    )
