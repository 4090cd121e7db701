"""Enrolling an authenticator app: same QR after a wrong code, clock-drift hint, expiry, confirmation."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.support import alerts, code_for, csrf_of, login_password, make_user, otpauth_uri, secret_of
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.services.core.context import Context
from twostep.storage.models import Factor


def start(client: TestClient, ctx: Context) -> tuple[str, str]:
    make_user(ctx)
    login_password(client, "ada@example.com")
    page = client.get("/enroll/totp")
    return secret_of(otpauth_uri(page.text)), csrf_of(page.text)


def test_enrollment_page_shows_qr_uri_manual_key_and_app_links(client: TestClient, ctx: Context) -> None:
    make_user(ctx)
    login_password(client, "ada@example.com")
    page = client.get("/enroll/totp")
    uri = otpauth_uri(page.text)
    assert uri.startswith("otpauth://totp/Acme:ada@example.com?secret=")
    assert "issuer=Acme&algorithm=SHA1&digits=6&period=30" in uri
    assert 'src="data:image/png;base64,' in page.text
    assert totp.group_secret(secret_of(uri)) in page.text and 'id="totp-secret"' in page.text
    for store in ["play.google.com", "apps.apple.com", "com.azure.authenticator", "authenticator2"]:
        assert store in page.text
    assert 'autocomplete="one-time-code"' in page.text and 'inputmode="numeric"' in page.text
    assert page.headers["cache-control"] == "no-store"


def test_wrong_code_keeps_the_same_qr_so_no_rescan_is_needed(client: TestClient, ctx: Context,
                                                             clock: FrozenClock) -> None:
    secret, csrf = start(client, ctx)
    wrong = client.post("/enroll/totp", data={"code": "000000", "csrf_token": csrf})
    assert wrong.status_code == 401
    assert secret_of(otpauth_uri(wrong.text)) == secret
    assert client.get("/account", follow_redirects=False).headers["location"] == "/enroll"
    right = client.post("/enroll/totp", data={"code": code_for(secret, clock), "csrf_token": csrf})
    assert right.status_code == 200 and 'role="status"' in right.text


def test_code_from_a_phone_with_a_wrong_clock_explains_the_drift(client: TestClient, ctx: Context,
                                                                 clock: FrozenClock) -> None:
    secret, csrf = start(client, ctx)
    response = client.post("/enroll/totp", data={"code": code_for(secret, clock, offset_steps=4), "csrf_token": csrf})
    assert response.status_code == 401
    assert "about 120 seconds off" in alerts(response.text)[0]


def test_pending_secret_expires_after_ten_minutes(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    secret, csrf = start(client, ctx)
    clock.advance(minutes=10, seconds=1)
    response = client.post("/enroll/totp", data={"code": code_for(secret, clock), "csrf_token": csrf})
    assert response.status_code == 410
    assert secret_of(otpauth_uri(response.text)) != secret


def test_method_is_active_only_after_a_valid_code(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    start(client, ctx)
    with ctx.db.transaction() as db:
        assert db.scalars(select(Factor).where(Factor.confirmed_at.is_not(None))).all() == []
    client.cookies.clear()
    assert login_password(client, "ada@example.com", mailbox=False).headers["location"] == "/enroll"


def test_confirmation_signs_in_and_shows_ten_recovery_codes(client: TestClient, ctx: Context,
                                                            clock: FrozenClock) -> None:
    secret, csrf = start(client, ctx)
    response = client.post("/enroll/totp", data={"code": code_for(secret, clock), "csrf_token": csrf})
    assert response.text.count("<li><code>") == 10
    assert client.get("/account").status_code == 200


def test_enrollment_code_cannot_be_reused_to_sign_in(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    secret, csrf = start(client, ctx)
    code = code_for(secret, clock)
    client.post("/enroll/totp", data={"code": code, "csrf_token": csrf})
    other = TestClient(client.app, base_url="http://127.0.0.1:8000")
    login_password(other, "ada@example.com")
    page = other.get("/login/code")
    assert other.post("/login/code", data={"code": code, "csrf_token": csrf_of(page.text)},
                      follow_redirects=False).status_code == 401


def test_enrollment_needs_a_session(client: TestClient) -> None:
    assert client.get("/enroll/totp", follow_redirects=False).headers["location"] == "/login"
    assert client.post("/enroll/totp", data={"code": "1"}, follow_redirects=False).headers["location"] == "/login"
