"""twostep as an OpenID Connect provider (issue 16). Tests named after the OpenID Foundation's Basic
OP, Config OP and RP-Initiated Logout test-plan modules (``oidcc-server`` → ``test_oidcc_server``),
then the behaviours the issue lists. Each runs on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re
from base64 import urlsafe_b64encode
from html import unescape
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import delete

from tests.admin.test_admin import reauthenticate
from tests.oidc_helpers import (
    POST_LOGOUT,
    REDIRECT,
    Rp,
    authorize_to_code,
    authorize_url,
    back_to_client,
    enroll_app_and_save_the_codes,
    exchange,
    id_token_claims,
    pkce,
    query_of,
    refresh,
    register,
)
from tests.support import (
    PASSWORD,
    alerts,
    code_for,
    csrf_of,
    enroll_totp,
    enrolled_user,
    login_password,
    make_user,
    sign_out,
    submit_code,
)
from twostep.domain.amr import ACR_MULTI_FACTOR
from twostep.domain.clock import FrozenClock
from twostep.services.core import accounts, sessions
from twostep.services.core.context import Context
from twostep.services.oidc import keys
from twostep.storage.models import OidcVerifiedEmail, OneTimeCode

EMAIL = "ada@example.com"


def _signed_in_code(client: TestClient, ctx: Context, clock: FrozenClock, **extra: str):  # type: ignore[no-untyped-def]
    rp = register(ctx)
    secret = enrolled_user(client, ctx, clock, EMAIL)
    verifier, challenge = pkce()
    url = authorize_url(rp, challenge=challenge, **extra)
    location = authorize_to_code(client, url, EMAIL, secret, clock)
    return rp, secret, verifier, url, location


def _userinfo_status(client: TestClient, access_token: str) -> int:
    return client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


def test_oidcc_server(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    rp, _, verifier, url, location = _signed_in_code(client, ctx, clock)
    assert location.startswith(REDIRECT + "?")
    params = query_of(location)
    assert params["state"] == query_of(url)["state"]
    response = exchange(client, rp, params["code"], verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["access_token"] and body["refresh_token"]
    assert response.headers["cache-control"] == "no-store"
    header, claims = id_token_claims(client, body["id_token"])
    assert header["alg"] == "RS256" and header["kid"]
    with ctx.db.transaction() as db:
        user = accounts.find_user_by_email(db, EMAIL)
        assert user is not None
        user_id = user.id
    assert claims["iss"] == "http://127.0.0.1:8000" and claims["aud"] == rp.client_id
    assert claims["sub"] == str(user_id) and claims["sub"] != EMAIL
    assert claims["nonce"] == query_of(url)["nonce"]
    assert claims["auth_time"] == int(clock.now().timestamp())
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == ACR_MULTI_FACTOR
    assert claims["email"] == EMAIL and claims["email_verified"] is True
    assert claims["preferred_username"] == EMAIL and claims["groups"] == []
    digest = hashlib.sha256(body["access_token"].encode()).digest()[:16]
    assert claims["at_hash"] == urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_oidcc_discovery_endpoint_verification(client: TestClient) -> None:
    config = client.get("/.well-known/openid-configuration").json()
    assert config["issuer"] == "http://127.0.0.1:8000"
    for name, path in (
        ("authorization_endpoint", "/oauth2/authorize"), ("token_endpoint", "/oauth2/token"),
        ("userinfo_endpoint", "/oauth2/userinfo"), ("jwks_uri", "/oauth2/jwks"),
        ("end_session_endpoint", "/oauth2/logout"), ("revocation_endpoint", "/oauth2/revoke"),
        ("introspection_endpoint", "/oauth2/introspect"),
    ):
        assert config[name] == "http://127.0.0.1:8000" + path
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert {"client_secret_basic", "client_secret_post"} <= set(config["token_endpoint_auth_methods_supported"])
    assert "RS256" in config["id_token_signing_alg_values_supported"]
    jwks = client.get("/oauth2/jwks").json()
    assert jwks["keys"] and all("d" not in key and "p" not in key for key in jwks["keys"])


def test_oidcc_userinfo_get(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    rp, _, verifier, _, location = _signed_in_code(client, ctx, clock)
    token = exchange(client, rp, query_of(location)["code"], verifier).json()["access_token"]
    info = client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert info.status_code == 200
    assert info.json()["email"] == EMAIL and info.json()["email_verified"] is True and info.json()["sub"]
    posted = client.post("/oauth2/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert posted.json() == info.json()
    refused = client.get("/oauth2/userinfo", headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401 and "invalid_token" in refused.headers["www-authenticate"]


def test_oidcc_ensure_registered_redirect_uri(client: TestClient, ctx: Context) -> None:
    rp = register(ctx)
    for wrong in ("https://evil.example/callback", REDIRECT + "/more", REDIRECT.upper(), REDIRECT + "?x=1"):
        rp.redirect_uri = wrong
        response = client.get(authorize_url(rp), follow_redirects=False)
        assert response.status_code == 400 and "location" not in response.headers
        assert any("redirect" in alert.lower() for alert in alerts(response.text)), alerts(response.text)


def test_unknown_client_gets_an_error_page_never_a_redirect(client: TestClient, ctx: Context) -> None:
    rp = register(ctx)
    rp.client_id = "not-a-client"
    response = client.get(authorize_url(rp), follow_redirects=False)
    assert response.status_code == 400 and "location" not in response.headers and alerts(response.text)


def test_oidcc_codereuse(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    rp, _, verifier, _, location = _signed_in_code(client, ctx, clock)
    code = query_of(location)["code"]
    first = exchange(client, rp, code, verifier)
    access = first.json()["access_token"]
    assert client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {access}"}).status_code == 200
    second = exchange(client, rp, code, verifier)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    # RFC 6749 §4.1.2: the tokens issued from the reused code are revoked.
    assert client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {access}"}).status_code == 401
    assert refresh(client, rp, first.json()["refresh_token"]).json()["error"] == "invalid_grant"


def test_code_expires_after_ten_minutes(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    rp, _, verifier, _, location = _signed_in_code(client, ctx, clock)
    clock.advance(minutes=10, seconds=1)
    response = exchange(client, rp, query_of(location)["code"], verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_oidcc_prompt_none_not_logged_in(client: TestClient, ctx: Context) -> None:
    rp = register(ctx)
    url = authorize_url(rp, prompt="none")
    response = client.get(url, follow_redirects=False)
    assert response.status_code == 302
    params = query_of(response.headers["location"])
    assert params["error"] == "login_required" and params["state"] == query_of(url)["state"]


def test_oidcc_prompt_none_logged_in(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    rp, _, _, _, _ = _signed_in_code(client, ctx, clock)
    again = client.get(authorize_url(rp, prompt="none"), follow_redirects=False)
    assert again.status_code == 302 and "code" in query_of(again.headers["location"])


def test_oidcc_prompt_login(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    rp, secret, _, _, _ = _signed_in_code(client, ctx, clock)
    clock.advance(seconds=60)
    url = authorize_url(rp, challenge=pkce()[1], prompt="login")
    first = client.get(url, follow_redirects=False)
    assert first.status_code == 303 and "fresh=1" in first.headers["location"]
    # Signed in, yet the login form is shown: both steps run again.
    assert client.get(first.headers["location"], follow_redirects=False).status_code == 200
    location = authorize_to_code(client, url, EMAIL, secret, clock)
    assert "code" in query_of(location)


def test_oidcc_prompt_login_reruns_the_second_step_on_a_remembered_device(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    from tests.support import code_for, login_password, sign_out, submit_code

    rp = register(ctx)
    secret = enrolled_user(client, ctx, clock, EMAIL)
    login_password(client, EMAIL)
    assert submit_code(client, code_for(secret, clock), remember=True).status_code == 303
    sign_out(client)
    clock.advance(seconds=60)
    verifier, challenge = pkce()
    url = authorize_url(rp, challenge=challenge, prompt="login")
    login_at = client.get(url, follow_redirects=False).headers["location"]
    from tests.oidc_helpers import sign_in_through

    done = sign_in_through(client, login_at, EMAIL, secret, clock)
    location = back_to_client(client.get(done.headers["location"], follow_redirects=False))
    body = exchange(client, rp, query_of(location)["code"], verifier).json()
    assert id_token_claims(client, body["id_token"])[1]["amr"] == ["pwd", "otp", "mfa"]


def test_remembered_device_sign_in_has_no_otp_in_amr(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    from tests.support import code_for, login_password, sign_out, submit_code

    rp = register(ctx)
    secret = enrolled_user(client, ctx, clock, EMAIL)
    login_password(client, EMAIL)
    assert submit_code(client, code_for(secret, clock), remember=True).status_code == 303
    sign_out(client)
    verifier, challenge = pkce()
    location = authorize_to_code(client, authorize_url(rp, challenge=challenge), EMAIL, None, clock)
    claims = id_token_claims(client, exchange(client, rp, query_of(location)["code"], verifier).json()["id_token"])[1]
    assert claims["amr"] == ["pwd"] and claims["acr"] == "https://refeds.org/profile/sfa"


def test_oidcc_max_age_1(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    rp, secret, _, _, _ = _signed_in_code(client, ctx, clock)
    clock.advance(seconds=30)  # older than max_age, and a new TOTP step for the second sign-in
    verifier, challenge = pkce()
    url = authorize_url(rp, challenge=challenge, max_age="1")
    first = client.get(url, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/login?")
    location = authorize_to_code(client, url, EMAIL, secret, clock)
    claims = id_token_claims(client, exchange(client, rp, query_of(location)["code"], verifier).json()["id_token"])[1]
    assert claims["auth_time"] == int(clock.now().timestamp())


def test_oidcc_max_age_10000(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    rp, _, _, _, _ = _signed_in_code(client, ctx, clock)
    clock.advance(seconds=2)
    response = client.get(authorize_url(rp, challenge=pkce()[1], max_age="10000"), follow_redirects=False)
    assert response.status_code == 302 and "code" in query_of(response.headers["location"])


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    rp, _, _, _, _ = _signed_in_code(client, ctx, clock)
    verifier, challenge = pkce()
    response = client.get(authorize_url(rp, challenge=challenge, nonce=""), follow_redirects=False)
    body = exchange(client, rp, query_of(response.headers["location"])["code"], verifier).json()
    assert "nonce" not in id_token_claims(client, body["id_token"])[1]


def test_oidcc_scope_email_claims_only_when_asked(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    rp, _, _, _, _ = _signed_in_code(client, ctx, clock)
    verifier, challenge = pkce()
    response = client.get(authorize_url(rp, challenge=challenge, scope="openid"), follow_redirects=False)
    body = exchange(client, rp, query_of(response.headers["location"])["code"], verifier).json()
    claims = id_token_claims(client, body["id_token"])[1]
    assert "email" not in claims and "groups" not in claims and claims["sub"]


def test_oidcc_refresh_token(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    rp, _, verifier, _, location = _signed_in_code(client, ctx, clock)
    first = exchange(client, rp, query_of(location)["code"], verifier).json()
    rotated = refresh(client, rp, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    info = client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert info.status_code == 200


def test_reused_refresh_token_revokes_the_family(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    rp, _, verifier, _, location = _signed_in_code(client, ctx, clock)
    first = exchange(client, rp, query_of(location)["code"], verifier).json()
    second = refresh(client, rp, first["refresh_token"]).json()
    reused = refresh(client, rp, first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert refresh(client, rp, second["refresh_token"]).json()["error"] == "invalid_grant"
    assert _userinfo_status(client, second["access_token"]) == 401


def test_refresh_token_is_bound_to_its_client(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    rp, _, verifier, _, location = _signed_in_code(client, ctx, clock)
    first = exchange(client, rp, query_of(location)["code"], verifier).json()
    other = register(ctx)
    assert refresh(client, other, first["refresh_token"]).json()["error"] == "invalid_grant"
    assert refresh(client, rp, first["refresh_token"]).status_code == 200


def test_credential_changes_revoke_oidc_tokens(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    """Every credential change and "sign out everywhere" goes through ``sessions.destroy_all``."""
    rp, _, verifier, _, location = _signed_in_code(client, ctx, clock)
    first = exchange(client, rp, query_of(location)["code"], verifier).json()
    with ctx.db.transaction() as db:
        user = accounts.find_user_by_email(db, EMAIL)
        assert user is not None
        sessions.destroy_all(db, user.id)
    assert refresh(client, rp, first["refresh_token"]).json()["error"] == "invalid_grant"
    assert _userinfo_status(client, first["access_token"]) == 401


def test_pkce_plain_is_refused(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    rp, _, _, _, _ = _signed_in_code(client, ctx, clock)
    url = authorize_url(rp, code_challenge="a" * 43, code_challenge_method="plain")
    response = client.get(url, follow_redirects=False)
    assert query_of(response.headers["location"])["error"] == "invalid_request"
    no_method = client.get(authorize_url(rp, code_challenge="a" * 43), follow_redirects=False)
    assert query_of(no_method.headers["location"])["error"] == "invalid_request"


def test_public_client_must_use_pkce(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    _signed_in_code(client, ctx, clock)
    public = register(ctx, public=True)
    response = client.get(authorize_url(public), follow_redirects=False)
    assert query_of(response.headers["location"])["error"] == "invalid_request"
    verifier, challenge = pkce()
    location = client.get(authorize_url(public, challenge=challenge), follow_redirects=False).headers["location"]
    assert exchange(client, public, query_of(location)["code"], "x" * 43).json()["error"] == "invalid_grant"
    location = client.get(authorize_url(public, challenge=challenge), follow_redirects=False).headers["location"]
    assert exchange(client, public, query_of(location)["code"], verifier).status_code == 200


def test_client_secret_post_and_basic_both_accepted(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    rp, _, _, _, _ = _signed_in_code(client, ctx, clock)
    for post in (False, True):
        verifier, challenge = pkce()
        location = client.get(authorize_url(rp, challenge=challenge), follow_redirects=False).headers["location"]
        assert exchange(client, rp, query_of(location)["code"], verifier, post=post).status_code == 200


def test_pinned_auth_method_error_names_used_and_allowed(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    _signed_in_code(client, ctx, clock)
    pinned = register(ctx, auth_method="client_secret_basic")
    verifier, challenge = pkce()
    location = client.get(authorize_url(pinned, challenge=challenge), follow_redirects=False).headers["location"]
    response = exchange(client, pinned, query_of(location)["code"], verifier, post=True)
    assert response.status_code in (400, 401) and response.json()["error"] == "invalid_client"
    description = response.json()["error_description"]
    assert "client_secret_post" in description and "client_secret_basic" in description
    wrong = client.post("/oauth2/token", data={"grant_type": "authorization_code", "code": "x",
                                               "redirect_uri": REDIRECT}, auth=(pinned.client_id, "wrong"))
    assert wrong.json()["error"] == "invalid_client" and "failed" in wrong.json()["error_description"]


def test_email_verified_is_false_without_a_proof(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    rp = register(ctx)
    secret = enrolled_user(client, ctx, clock, EMAIL)
    with ctx.db.transaction() as db:  # as if the mailbox had never been proven by an emailed code
        db.execute(delete(OneTimeCode))
        db.execute(delete(OidcVerifiedEmail))
    verifier, challenge = pkce()
    location = authorize_to_code(client, authorize_url(rp, challenge=challenge), EMAIL, secret, clock)
    claims = id_token_claims(client, exchange(client, rp, query_of(location)["code"], verifier).json()["id_token"])[1]
    assert claims["email_verified"] is False


def test_oidcc_rp_initiated_logout(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    rp, _, verifier, _, location = _signed_in_code(client, ctx, clock)
    id_token = exchange(client, rp, query_of(location)["code"], verifier).json()["id_token"]
    response = client.get(
        "/oauth2/logout",
        params={"id_token_hint": id_token, "post_logout_redirect_uri": POST_LOGOUT, "state": "bye1"},
        follow_redirects=False,
    )
    assert response.status_code == 302 and response.headers["location"] == POST_LOGOUT + "?state=bye1"
    assert client.get("/account", follow_redirects=False).headers["location"].startswith("/login")


def test_oidcc_rp_initiated_logout_bad_post_logout_redirect_uri(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    rp, _, verifier, _, location = _signed_in_code(client, ctx, clock)
    id_token = exchange(client, rp, query_of(location)["code"], verifier).json()["id_token"]
    response = client.get(
        "/oauth2/logout",
        params={"id_token_hint": id_token, "post_logout_redirect_uri": "https://evil.example/", "state": "x"},
        follow_redirects=False,
    )
    assert response.status_code == 200 and "location" not in response.headers
    assert client.get("/account", follow_redirects=False).headers["location"].startswith("/login")


def test_revocation_and_introspection(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    rp, _, verifier, _, location = _signed_in_code(client, ctx, clock)
    body = exchange(client, rp, query_of(location)["code"], verifier).json()
    seen = client.post("/oauth2/introspect", data={"token": body["access_token"]}, auth=rp.basic()).json()
    assert seen["active"] is True and seen["client_id"] == rp.client_id and seen["amr"] == ["pwd", "otp", "mfa"]
    other = register(ctx)
    assert client.post("/oauth2/introspect", data={"token": body["access_token"]}, auth=other.basic()).json() == {
        "active": False
    }
    revoked = client.post("/oauth2/revoke", data={"token": body["refresh_token"]}, auth=rp.basic())
    assert revoked.status_code == 200
    assert client.post("/oauth2/introspect", data={"token": body["access_token"]}, auth=rp.basic()).json() == {
        "active": False
    }
    assert refresh(client, rp, body["refresh_token"]).json()["error"] == "invalid_grant"


def test_rotated_key_stays_published_until_its_tokens_expire(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    old = {key["kid"] for key in client.get("/oauth2/jwks").json()["keys"]}
    new = keys.rotate(ctx)
    published = {key["kid"] for key in client.get("/oauth2/jwks").json()["keys"]}
    assert published == old | {new}
    clock.advance(hours=1, seconds=1)
    assert {key["kid"] for key in client.get("/oauth2/jwks").json()["keys"]} == {new}


def test_ui_locales_picks_the_login_page_language(client: TestClient, ctx: Context) -> None:
    rp = register(ctx)
    response = client.get(authorize_url(rp, challenge=pkce()[1], ui_locales="pl-PL en"), follow_redirects=False)
    assert "lang=pl" in response.headers["location"]
    page = client.get(response.headers["location"])
    assert 'lang="pl"' in page.text


def test_login_next_only_follows_same_origin_paths(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    from tests.oidc_helpers import sign_in_through

    secret = enrolled_user(client, ctx, clock, EMAIL)
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        done = sign_in_through(client, f"/login?next={target}", EMAIL, secret, clock)
        assert done.headers["location"] == "/account", target
        client.cookies.clear()
        clock.advance(seconds=30)


def test_purge_deletes_expired_oidc_rows_only(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    from sqlalchemy import func, select

    from twostep.services.operations import purge
    from twostep.storage.models import OidcAuthorizationCode, OidcPendingRequest, OidcToken

    def counts() -> tuple[int, int, int]:
        with ctx.db.transaction() as db:
            return tuple(  # type: ignore[return-value]
                int(db.scalar(select(func.count()).select_from(model)) or 0)
                for model in (OidcPendingRequest, OidcAuthorizationCode, OidcToken)
            )

    rp, _, verifier, _, location = _signed_in_code(client, ctx, clock)
    exchange(client, rp, query_of(location)["code"], verifier)
    client.cookies.clear()
    client.get(authorize_url(rp, challenge=pkce()[1]), follow_redirects=False)  # waits for a sign-in
    assert counts() == (1, 1, 1)
    purge.purge(ctx)
    assert counts() == (1, 1, 1)
    clock.advance(days=31)
    purge.purge(ctx)
    assert counts() == (0, 0, 0)


def _claims_of(client: TestClient, rp: Rp, location: str, verifier: str) -> dict[str, Any]:
    body = exchange(client, rp, query_of(location)["code"], verifier).json()
    return id_token_claims(client, body["id_token"])[1]


def test_amr_names_the_method_enrolled_during_the_authorization(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    """A user who must enrol first: password, the mailbox check, then the new authenticator's code —
    the sign-in the application gets back used a password and an OTP, as the twostep session says."""
    rp = register(ctx)
    make_user(ctx, EMAIL)
    verifier, challenge = pkce()
    login_at = client.get(authorize_url(rp, challenge=challenge), follow_redirects=False).headers["location"]
    page = client.get(login_at)
    action = re.search(r'<form method="post" action="(/login[^"]*)"', page.text)
    assert action
    password = client.post(unescape(action.group(1)), data={
        "email": EMAIL, "password": PASSWORD, "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert password.headers["location"] == "/enroll"
    # "Continue" under the recovery codes is a form: "I have saved these codes", then onward.
    answer = enroll_app_and_save_the_codes(client, clock)
    while answer.status_code == 303 and answer.headers["location"].startswith("/"):  # via /login/continue
        answer = client.get(answer.headers["location"], follow_redirects=False)
    assert answer.url.path == "/oauth2/authorize/resume", answer.url  # the authorization carries on
    location = back_to_client(answer)
    claims = _claims_of(client, rp, location, verifier)
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == ACR_MULTI_FACTOR
    assert claims["auth_time"] == int(clock.now().timestamp())  # the enrolment's code, not the password


def test_amr_after_reauthentication_on_a_remembered_device_names_the_second_step(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    """Signed in on a remembered device (``pwd`` only), then re-authenticated with password and code
    (for a change in their account): the next authorization says so, with the new ``auth_time``."""
    rp = register(ctx)
    secret = enrolled_user(client, ctx, clock, EMAIL)
    login_password(client, EMAIL)
    assert submit_code(client, code_for(secret, clock), remember=True).status_code == 303
    sign_out(client)
    clock.advance(seconds=60)
    login_password(client, EMAIL)  # the remembered device skips the second step
    verifier, challenge = pkce()
    location = client.get(authorize_url(rp, challenge=challenge), follow_redirects=False).headers["location"]
    assert _claims_of(client, rp, location, verifier)["amr"] == ["pwd"]
    clock.advance(seconds=60)
    reauthenticate(client, secret, clock, "/account")
    verifier, challenge = pkce()
    location = client.get(authorize_url(rp, challenge=challenge, prompt="none"), follow_redirects=False)
    claims = _claims_of(client, rp, location.headers["location"], verifier)
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == ACR_MULTI_FACTOR
    assert claims["auth_time"] == int(clock.now().timestamp())


def test_amr_after_password_only_reauthentication_stays_pwd(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    """An account without any method (allowed by policy) re-authenticates with the password alone:
    no second step is claimed."""
    from twostep.services.core.context import RequestInfo
    from twostep.services.rollout import policy

    policy.save(ctx, {"twofa_required": "optional"}, actor_id=None, request=RequestInfo())
    rp = register(ctx)
    make_user(ctx, EMAIL)
    login_password(client, EMAIL)
    clock.advance(seconds=60)
    page = client.get("/account/reauth?next=/account")
    done = client.post("/account/reauth", data={"password": PASSWORD, "next": "/account",
                                                "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert done.status_code == 303, alerts(done.text)
    verifier, challenge = pkce()
    location = client.get(authorize_url(rp, challenge=challenge), follow_redirects=False).headers["location"]
    claims = _claims_of(client, rp, location, verifier)
    assert claims["amr"] == ["pwd"] and claims["auth_time"] == int(clock.now().timestamp())


def test_email_verified_is_false_for_the_setup_link_administrator(client: TestClient, ctx: Context,
                                                                  clock: FrozenClock) -> None:
    """The setup link stands in for the mailbox check so the first administrator can enrol, but no
    code went to the address: it is not verified."""
    from tests.enrollment.test_first_run import submit_setup

    rp = register(ctx)
    link = accounts.issue_setup_link(ctx)
    assert link
    assert submit_setup(client, link.removeprefix(ctx.settings.base_url)).headers["location"] == "/enroll"
    enroll_totp(client, clock)
    verifier, challenge = pkce()
    location = client.get(authorize_url(rp, challenge=challenge), follow_redirects=False).headers["location"]
    assert _claims_of(client, rp, location, verifier)["email_verified"] is False
