"""Response headers and cookies (checklist S-04, S-14, S-15, T-04, CR-09): a CSP without inline
script, no framing, no referrer, no caching of sign-in pages, and on https HSTS with Secure
__Host- cookies."""

from __future__ import annotations

import re
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.support import PASSWORD, code_for, csrf_of, enrolled_user, login_password, make_user, submit_code
from twostep.app import create_app
from twostep.domain.clock import FrozenClock
from twostep.services.core.context import Context
from twostep.settings import Settings, load_settings

AUTH_PAGES = ["/login", "/login/code", "/enroll", "/enroll/totp", "/account", "/account/reauth", "/account/password"]


def directives(response: Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {part.split()[0]: part.strip() for part in policy.split(";") if part.strip()}


def test_csp_allows_no_inline_script_and_no_framing(client: TestClient) -> None:
    csp = directives(client.get("/login"))
    assert csp["script-src"] == "script-src 'self'"
    assert csp["style-src"] == "style-src 'self'"
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert csp["object-src"] == "object-src 'none'"
    assert csp["base-uri"] == "base-uri 'none'"
    assert csp["form-action"] == "form-action 'self'"
    assert "unsafe" not in " ".join(csp.values())


def _every_page(client: TestClient, ctx: Context, clock: FrozenClock) -> Iterator[tuple[str, Response]]:
    yield "/login", client.get("/login")
    yield "404", client.get("/no/such/page")
    make_user(ctx, "new@example.com")
    login_password(client, "new@example.com")
    yield "/enroll", client.get("/enroll")
    yield "/enroll/totp", client.get("/enroll/totp")
    client.cookies.clear()
    secret = enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    yield "/login/code", client.get("/login/code")
    submit_code(client, code_for(secret, clock))
    for path in ["/account", "/account/password", "/account/recovery-codes", "/account/methods/1/remove"]:
        yield path, client.get(path)
    clock.advance(minutes=6)
    yield "/account/reauth", client.get("/account/reauth")


def test_pages_have_no_inline_script_or_style_and_send_the_headers(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    for name, response in _every_page(client, ctx, clock):
        html = response.text
        assert response.headers["content-type"].startswith("text/html"), name
        assert not re.search(r"<script(?![^>]*\ssrc=)", html), f"{name}: inline script"
        assert not re.search(r"\son[a-z]+=", html), f"{name}: inline event handler"
        assert " style=" not in html and "<style" not in html, f"{name}: inline style (CSP blocks it)"
        assert "javascript:" not in html, name
        assert response.headers["referrer-policy"] == "no-referrer", name
        assert response.headers["x-frame-options"] == "DENY", name
        assert response.headers["x-content-type-options"] == "nosniff", name
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], name
        assert response.headers["cache-control"] == "no-store", name


def test_auth_pages_are_never_cached_but_static_files_are(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    secret = enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    assert client.get("/login/code").headers["cache-control"] == "no-store"
    submit_code(client, code_for(secret, clock))
    for path in AUTH_PAGES:
        response = client.get(path, follow_redirects=False)
        assert response.headers["cache-control"] == "no-store", path
    assert client.get("/static/style.css").headers.get("cache-control", "") != "no-store"


def test_http_base_url_sends_no_hsts_and_plain_cookie_names(client: TestClient, ctx: Context) -> None:
    make_user(ctx)
    response = login_password(client, "ada@example.com")
    assert "strict-transport-security" not in response.headers
    assert "twostep_session" in response.cookies


@pytest.fixture
def https_client(tmp_path: Path, database_url: str, ctx: Context) -> Iterator[TestClient]:
    settings: Settings = load_settings(
        data_dir=tmp_path / "https-data",
        database_url=database_url,
        service_name="Acme",
        base_url="https://auth.acme.test",
    )
    ctx.settings = settings
    with TestClient(create_app(settings, context=ctx), base_url="https://auth.acme.test") as test_client:
        yield test_client


def _cookies(response: Response) -> dict[str, SimpleCookie]:
    found: dict[str, SimpleCookie] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name in jar:
            found[name] = jar
    return found


def test_https_sends_hsts_and_secure_host_prefixed_cookies(
    https_client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    first = https_client.get("/login?lang=pl")
    assert first.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    make_user(ctx)
    page = https_client.get("/login")
    signed = https_client.post(
        "/login",
        data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert signed.headers["location"] == "/enroll"
    cookies = {**_cookies(first), **_cookies(signed)}
    assert {"__Host-twostep_pre", "__Host-twostep_session", "twostep_lang"} <= set(cookies)
    for name, jar in cookies.items():
        morsel = jar[name]
        assert morsel["secure"], name
        assert morsel["path"] == "/", name
        assert not morsel["domain"], name
        assert morsel["samesite"].lower() == "lax", name
        if name.startswith("__Host-"):
            assert morsel["httponly"], name
    assert "strict-transport-security" in https_client.get("/no/such/page").headers
    assert "strict-transport-security" in https_client.get("/help/two-step-setup.pdf?lang=en").headers
