"""Which language a page is in: ?lang= (the switcher on every page) → the account's saved preference
→ the switcher's cookie → Accept-Language → the configured default."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.support import PASSWORD, code_for, csrf_of, enrolled_user, login_password, submit_code
from twostep.domain.clock import FrozenClock
from twostep.i18n import gettext_for
from twostep.services.core import accounts
from twostep.services.core.context import Context
from twostep.web.core.pages import resolve_language

BASE = "http://127.0.0.1:8000"


def language_of(html: str) -> str:
    match = re.search(r'<html lang="([a-z]+)">', html)
    assert match, "page has no lang attribute"
    return match.group(1)


def saved_language(ctx: Context, email: str = "ada@example.com") -> str | None:
    with ctx.db.transaction() as db:
        user = accounts.find_user_by_email(db, email)
        assert user is not None
        return user.language


def set_saved_language(ctx: Context, language: str, email: str = "ada@example.com") -> None:
    from twostep.services.signin import views

    with ctx.db.transaction() as db:
        user = accounts.find_user_by_email(db, email)
        assert user is not None
        user_id = user.id
    views.save_language(ctx, user_id, language)


def sign_in(client: TestClient, secret: str, clock: FrozenClock) -> None:
    clock.advance(seconds=30)
    login_password(client, "ada@example.com")
    assert submit_code(client, code_for(secret, clock)).headers["location"] == "/account"


# --- the rule itself, without HTTP ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("chosen", "saved", "cookie", "accept", "pending", "expected"),
    [
        ("pl", "nl", "sv", "sv", False, "pl"),  # the switcher wins over everything
        ("", "nl", "sv", "pl", False, "nl"),  # then the saved preference
        ("", None, "sv", "pl", False, "sv"),  # then the cookie
        ("", None, "", "pl-PL,en;q=0.5", False, "pl"),  # then Accept-Language
        ("", None, "", "de-DE, fr;q=0.9", False, "en"),  # then the default
        ("", "nl", "sv", "pl", True, "sv"),  # a pending sign-in keeps this browser's choice
        ("", "nl", "", "pl", True, "nl"),  # ... and otherwise uses the preference
        ("xx", None, "bogus", "en;q=0.1, sv;q=0.8", False, "sv"),  # unknown values are ignored
    ],
)
def test_language_rule(chosen: str, saved: str | None, cookie: str, accept: str, pending: bool, expected: str) -> None:
    language = resolve_language(
        chosen=chosen, saved=saved, cookie=cookie, accept_language=accept, default="en", pending=pending
    )
    assert language == expected


# --- over HTTP -----------------------------------------------------------------------------------


def test_accept_language_is_used_when_nothing_was_chosen(client: TestClient) -> None:
    assert language_of(client.get("/login", headers={"Accept-Language": "sv-SE,sv;q=0.9,en;q=0.5"}).text) == "sv"
    assert language_of(client.get("/login", headers={"Accept-Language": "en;q=0.2, nl;q=0.9"}).text) == "nl"
    assert language_of(client.get("/login", headers={"Accept-Language": "de, fr"}).text) == "en"


def test_the_page_text_is_in_the_chosen_language(client: TestClient) -> None:
    for language in ["en", "pl", "nl", "sv"]:
        html = client.get(f"/login?lang={language}").text
        assert language_of(html) == language
        assert f"<h1>{gettext_for(language)('Sign in')}</h1>" in html


def test_switcher_choice_is_remembered_in_a_cookie_and_beats_accept_language(client: TestClient) -> None:
    response = client.get("/login?lang=pl", headers={"Accept-Language": "sv"})
    assert language_of(response.text) == "pl"
    assert "twostep_lang=pl" in response.headers["set-cookie"]
    assert language_of(client.get("/login", headers={"Accept-Language": "sv"}).text) == "pl"
    assert language_of(client.get("/login?lang=xx", headers={"Accept-Language": "sv"}).text) == "pl"


def test_switcher_is_on_every_page_and_keeps_the_other_parameters(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    html = client.get("/login?notice=signed_out").text
    for code in ["en", "pl", "nl", "sv"]:
        assert f'href="/login?notice=signed_out&amp;lang={code}"' in html
    secret = enrolled_user(client, ctx, clock)
    sign_in(client, secret, clock)
    clock.advance(minutes=6)
    reauth = client.get("/account/reauth?next=/enroll/totp").text
    assert 'href="/account/reauth?next=%2Fenroll%2Ftotp&amp;lang=nl"' in reauth
    assert 'aria-current="true">English<' in reauth
    assert client.get("/nowhere?lang=sv").text.count('hreflang="sv"') >= 1  # error pages too


def test_saved_preference_beats_the_cookie_and_accept_language(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    secret = enrolled_user(client, ctx, clock)
    set_saved_language(ctx, "nl")
    client.get("/login?lang=sv")
    sign_in(client, secret, clock)
    assert language_of(client.get("/account", headers={"Accept-Language": "pl"}).text) == "nl"


def test_choosing_a_language_when_signed_in_saves_it_on_the_account(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    secret = enrolled_user(client, ctx, clock)
    sign_in(client, secret, clock)
    assert language_of(client.get("/account?lang=sv").text) == "sv"
    assert saved_language(ctx) == "sv"
    elsewhere = TestClient(client.app, base_url=BASE, headers={"Accept-Language": "pl"})
    sign_in(elsewhere, secret, clock)
    assert language_of(elsewhere.get("/account").text) == "sv"


def test_a_pending_sign_in_does_not_change_the_saved_preference(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    enrolled_user(client, ctx, clock)
    set_saved_language(ctx, "nl")
    login_password(client, "ada@example.com")
    assert language_of(client.get("/login/code").text) == "nl"
    assert language_of(client.get("/login/code?lang=pl").text) == "pl"
    assert language_of(client.get("/login/code").text) == "pl"  # the choice sticks on this browser
    assert saved_language(ctx) == "nl"  # but the password alone changed nothing on the account


def test_language_chosen_while_enrolling_is_saved(client: TestClient, ctx: Context) -> None:
    accounts.create_user(ctx, "new@example.com", PASSWORD)
    assert login_password(client, "new@example.com").headers["location"] == "/enroll"
    assert language_of(client.get("/enroll?lang=pl").text) == "pl"
    assert saved_language(ctx, "new@example.com") == "pl"


def test_emails_follow_the_saved_language(client: TestClient, ctx: Context, clock: FrozenClock, mail) -> None:  # type: ignore[no-untyped-def]
    secret = enrolled_user(client, ctx, clock)
    sign_in(client, secret, clock)
    client.get("/account?lang=pl")
    page = client.get("/account/recovery-codes")
    client.post("/account/recovery-codes", data={"csrf_token": csrf_of(page.text)})
    subject = gettext_for("pl")("New recovery codes were created")
    assert mail.last_to("ada@example.com").subject == f"[Acme] {subject}"
