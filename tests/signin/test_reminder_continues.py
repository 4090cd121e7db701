"""The grace-period reminder sits between the password and the application the sign-in came from:
"Later" and "Set up now" (once the method is added) both carry on to that application — here an
OpenID Connect authorization — and a plain sign-in's "Later" goes to My account."""

from __future__ import annotations

import re
from html import unescape

from fastapi.testclient import TestClient

from tests.oidc_helpers import (
    authorize_url,
    back_to_client,
    enroll_app_and_save_the_codes,
    exchange,
    id_token_claims,
    pkce,
    query_of,
    register,
)
from tests.rollout.test_policy import later_text, set_policy
from tests.support import (
    PASSWORD,
    csrf_of,
    login_password,
    make_user,
)
from twostep.domain.clock import FrozenClock
from twostep.services.core.context import Context

EMAIL = "ada@example.com"


def _password_from_an_authorization(client: TestClient, url: str) -> str:
    login_at = client.get(url, follow_redirects=False).headers["location"]
    page = client.get(login_at)
    action = re.search(r'<form method="post" action="(/login[^"]*)"', page.text)
    assert action
    answer = client.post(unescape(action.group(1)), data={
        "email": EMAIL, "password": PASSWORD, "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    return str(answer.headers["location"])


def _follow_to_the_client(client: TestClient, location: str) -> str:
    answer = client.get(location, follow_redirects=False)
    while answer.status_code in (302, 303) and answer.headers["location"].startswith("/"):
        answer = client.get(answer.headers["location"], follow_redirects=False)
    assert answer.url.path == "/oauth2/authorize/resume", answer.url  # the authorization carries on
    return back_to_client(answer)


def test_later_on_the_reminder_goes_back_to_the_application(client: TestClient, ctx: Context) -> None:
    set_policy(ctx, twofa_required="all", twofa_grace_days=7)
    rp = register(ctx)
    make_user(ctx, EMAIL)
    verifier, challenge = pkce()
    assert _password_from_an_authorization(client, authorize_url(rp, challenge=challenge)) == "/reminder"
    reminder = client.get("/reminder")
    later = re.search(r'<a href="([^"]+)" id="later">', reminder.text)
    assert later and later_text(reminder.text) == "Later, 7 days left"
    location = _follow_to_the_client(client, unescape(later.group(1)))
    assert location.startswith(rp.redirect_uri)
    tokens = exchange(client, rp, query_of(location)["code"], verifier).json()
    assert id_token_claims(client, tokens["id_token"])[1]["amr"] == ["pwd"]  # no second step: it says so


def test_set_up_now_on_the_reminder_goes_back_to_the_application_once_enrolled(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    set_policy(ctx, twofa_required="all", twofa_grace_days=7)
    rp = register(ctx)
    make_user(ctx, EMAIL)
    verifier, challenge = pkce()
    assert _password_from_an_authorization(client, authorize_url(rp, challenge=challenge)) == "/reminder"
    assert 'href="/enroll"' in client.get("/reminder").text
    saved = enroll_app_and_save_the_codes(client, clock)
    location = _follow_to_the_client(client, saved.headers["location"])
    assert location.startswith(rp.redirect_uri)
    assert exchange(client, rp, query_of(location)["code"], verifier).status_code == 200


def test_later_after_a_plain_sign_in_goes_to_my_account(client: TestClient, ctx: Context) -> None:
    set_policy(ctx, twofa_required="all", twofa_grace_days=7)
    make_user(ctx, EMAIL)
    assert login_password(client, EMAIL).headers["location"] == "/reminder"
    later = client.get("/login/continue", follow_redirects=False)
    assert later.status_code == 303 and later.headers["location"] == "/account"
