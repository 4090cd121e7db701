"""Forward-auth's return address (``rd``) through a passkey sign-in (issue 17: "After sign-in
(password, second step or passkey) the user lands back on rd"): a passkey alone from
``/login?rd=…``, and a passkey as the second step after the password. twostep runs on https (WebAuthn
needs a secure origin that is not an IP address); the software authenticator answers for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.forward_auth.test_forward_auth import ask, forward_auth_settings, landing
from tests.passkey_support import SoftAuthenticator, register_passkey, sign_in_with_passkey
from tests.support import PASSWORD, csrf_of, login_password, make_user, sign_out
from twostep.services.core.context import Context
from twostep.settings import Settings

AUTH = "https://auth.example.test"
EMAIL = "ada@example.com"
TARGET = "https://app.example.test/wiki/page?x=1"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return forward_auth_settings(tmp_path, database_url, base_url=AUTH)


@pytest.fixture
def browser(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=AUTH, raise_server_exceptions=False, follow_redirects=True) as client:
        yield client


@pytest.fixture
def proxy(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=AUTH, client=("127.0.0.1", 40000), raise_server_exceptions=False,
                    follow_redirects=False) as client:
        yield client


@pytest.fixture
def authenticator(browser: TestClient, ctx: Context) -> SoftAuthenticator:
    """An account whose first method is a passkey on this authenticator, signed out again."""
    passkey = SoftAuthenticator()
    make_user(ctx, EMAIL)
    login_password(browser, EMAIL)
    enrolled = register_passkey(browser, passkey, origin=AUTH)
    assert enrolled.status_code == 200 and "recovery-codes" in enrolled.text, enrolled.text[-400:]
    sign_out(browser)
    return passkey


def session_cookie(browser: TestClient) -> str:
    """The Cookie header a browser sends to a protected host: on https the session cookie is
    ``__Secure-twostep_session``, for the parent domain."""
    [value] = [c.value for c in browser.cookies.jar
               if c.name == "__Secure-twostep_session" and c.domain.lstrip(".") == "example.test"]
    return f"__Secure-twostep_session={value}"


def sign_in_page(proxy: TestClient) -> str:
    """Where forward-auth sends an anonymous browser: ``/login?rd=…&rm=GET`` (path and query)."""
    location = ask(proxy, TARGET).headers["location"]
    parts = urlsplit(location)
    assert parse_qs(parts.query)["rd"] == [TARGET]
    return f"{parts.path}?{parts.query}"


def test_a_passkey_alone_from_the_sign_in_page_lands_back_on_rd(
    proxy: TestClient, browser: TestClient, authenticator: SoftAuthenticator
) -> None:
    page = sign_in_page(proxy)
    assert f'data-next="{TARGET.replace("&", "&amp;")}"' in browser.get(page).text
    done = sign_in_with_passkey(browser, authenticator, page_path=page, origin=AUTH)
    assert done.status_code == 200 and done.json() == {"status": "signed_in", "redirect": "/login/continue"}
    assert landing(browser, browser.get("/login/continue", follow_redirects=False)) == TARGET
    allowed = ask(proxy, TARGET, headers={"Cookie": session_cookie(browser)})
    assert allowed.status_code == 200 and allowed.headers["remote-user"] == EMAIL
    assert "hwk" in allowed.headers["remote-auth-methods"].split(",")


def test_a_passkey_as_the_second_step_lands_back_on_rd(
    proxy: TestClient, browser: TestClient, authenticator: SoftAuthenticator
) -> None:
    page = sign_in_page(proxy)
    form = browser.get(page)
    password = browser.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf_of(form.text),
                                            "rd": TARGET}, follow_redirects=False)
    assert password.headers["location"] == "/login/code"
    done = sign_in_with_passkey(browser, authenticator, purpose="second_step", page_path="/login/code", origin=AUTH)
    assert done.status_code == 200 and done.json() == {"status": "signed_in", "redirect": "/login/continue"}
    assert landing(browser, browser.get("/login/continue", follow_redirects=False)) == TARGET
    allowed = ask(proxy, TARGET, headers={"Cookie": session_cookie(browser)})
    assert allowed.status_code == 200 and allowed.headers["remote-auth-methods"].split(",")[:2] == ["pwd", "hwk"]
