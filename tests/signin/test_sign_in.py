"""The sign-in state machine over HTTP: password step, second step, throttling, replay, sessions."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.support import (
    PASSWORD,
    RecordingMail,
    alerts,
    code_for,
    csrf_of,
    enrolled_user,
    login_password,
    make_user,
    submit_code,
)
from twostep.domain.clock import FrozenClock
from twostep.services.core.context import Context
from twostep.storage.models import Factor, User, WebSession


def test_password_alone_leads_to_code_page_not_to_account(client: TestClient, ctx: Context,
                                                          clock: FrozenClock) -> None:
    enrolled_user(client, ctx, clock)
    response = login_password(client, "ada@example.com")
    assert response.status_code == 303 and response.headers["location"] == "/login/code"
    for path in ["/account", "/enroll", "/enroll/totp", "/"]:
        page = client.get(path, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login/code", path


def test_pending_sign_in_cannot_enroll_its_own_factor(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    response = client.post("/enroll/totp", data={"code": "123456", "csrf_token": "x"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login/code"


def test_wrong_password_and_unknown_email_get_the_same_answer(client: TestClient, ctx: Context) -> None:
    make_user(ctx)
    wrong = login_password(client, "ada@example.com", "not the right password")
    unknown = login_password(client, "nobody@example.com", "not the right password")
    assert wrong.status_code == unknown.status_code == 401
    assert alerts(wrong.text) == alerts(unknown.text) == ["The email address or password is not correct."]


def test_email_is_case_insensitive_at_sign_in(client: TestClient, ctx: Context) -> None:
    make_user(ctx, "Ada@Example.com")
    response = login_password(client, "  ADA@example.COM ")
    assert response.status_code == 303


def test_account_without_method_must_enroll_before_anything_else(client: TestClient, ctx: Context) -> None:
    make_user(ctx)
    response = login_password(client, "ada@example.com")
    assert response.headers["location"] == "/enroll"
    assert client.get("/account", follow_redirects=False).headers["location"] == "/enroll"
    assert client.get("/enroll/totp").status_code == 200


def test_valid_code_signs_in(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    secret = enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    response = submit_code(client, code_for(secret, clock))
    assert response.status_code == 303 and response.headers["location"] == "/account"
    assert client.get("/account").status_code == 200


def test_code_with_spaces_is_accepted(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    secret = enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    code = code_for(secret, clock)
    assert submit_code(client, f" {code[:3]} {code[3:]} ").status_code == 303


def test_codes_from_neighbouring_steps_are_accepted_but_not_two_steps_away(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    secret = enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    assert submit_code(client, code_for(secret, clock, offset_steps=2)).status_code == 401
    assert submit_code(client, code_for(secret, clock, offset_steps=-2)).status_code == 401
    assert submit_code(client, code_for(secret, clock, offset_steps=1)).status_code == 303


def test_replayed_code_is_refused_and_owner_is_notified(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    secret = enrolled_user(client, ctx, clock)
    code = code_for(secret, clock)
    login_password(client, "ada@example.com")
    assert submit_code(client, code).status_code == 303
    other = TestClient(client.app, base_url="http://127.0.0.1:8000")
    login_password(other, "ada@example.com")
    replay = submit_code(other, code)
    assert replay.status_code == 401
    assert alerts(replay.text) == ["That code didn't work. Check it and try again, or wait for the next code."]
    assert "used twice" in mail.last_to("ada@example.com").subject


def test_older_code_is_refused_once_a_newer_one_was_used(client: TestClient, ctx: Context,
                                                         clock: FrozenClock) -> None:
    secret = enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    assert submit_code(client, code_for(secret, clock, offset_steps=1)).status_code == 303
    other = TestClient(client.app, base_url="http://127.0.0.1:8000")
    login_password(other, "ada@example.com")
    assert submit_code(other, code_for(secret, clock)).status_code == 401


def test_five_wrong_codes_end_the_pending_sign_in(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    secret = enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    for _ in range(4):
        assert submit_code(client, "000000").status_code in (401, 429)
    fifth = submit_code(client, "000000")
    assert fifth.status_code == 303 and fifth.headers["location"] == "/login?notice=restart"
    assert client.get("/login/code", follow_redirects=False).headers["location"] == "/login"
    clock.advance(hours=2)
    login_password(client, "ada@example.com")
    assert submit_code(client, code_for(secret, clock)).status_code == 303


def test_consecutive_failures_across_sign_ins_add_a_visible_delay(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    secret = enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    for _ in range(4):
        submit_code(client, "000000")
    login_password(client, "ada@example.com")
    blocked = submit_code(client, "000000")
    assert blocked.status_code == 429
    assert alerts(blocked.text) == ["Too many attempts. Wait 30 seconds, then try again."]
    right_but_blocked = submit_code(client, code_for(secret, clock))
    assert right_but_blocked.status_code == 429
    clock.advance(seconds=31)
    assert submit_code(client, code_for(secret, clock)).status_code == 303


def test_new_sign_in_does_not_reset_the_failure_count(client: TestClient, ctx: Context,
                                                      clock: FrozenClock) -> None:
    enrolled_user(client, ctx, clock)
    for _ in range(2):
        login_password(client, "ada@example.com")
        submit_code(client, "000000")
        submit_code(client, "000000")
    login_password(client, "ada@example.com")
    assert submit_code(client, "000000").status_code == 429


def test_wrong_passwords_are_throttled_per_account_not_per_ip(client: TestClient, ctx: Context) -> None:
    make_user(ctx)
    for index in range(4):
        other = TestClient(client.app, base_url="http://127.0.0.1:8000",
                           headers={"X-Forwarded-For": f"10.0.0.{index}"})
        assert login_password(other, "ada@example.com", "wrong password here").status_code == 401
    fifth = login_password(client, "ada@example.com", "wrong password here")
    assert fifth.status_code == 429
    assert login_password(client, "ada@example.com", PASSWORD).status_code == 429


def test_unknown_email_is_throttled_exactly_like_a_known_one(client: TestClient, ctx: Context) -> None:
    make_user(ctx)
    statuses = {}
    for email in ["ada@example.com", "ghost@example.com"]:
        statuses[email] = [login_password(client, email, "wrong password here").status_code for _ in range(6)]
    assert statuses["ada@example.com"] == statuses["ghost@example.com"] == [401, 401, 401, 401, 429, 429]


def test_pending_sign_in_expires_after_ten_minutes(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    secret = enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    clock.advance(minutes=10, seconds=1)
    response = submit_code(client, code_for(secret, clock))
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert client.get("/account", follow_redirects=False).headers["location"] == "/login"


def test_session_id_changes_at_every_step(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    secret = enrolled_user(client, ctx, clock)
    client.cookies.set("twostep_session", "planted-by-attacker", domain="127.0.0.1", path="/")
    login_password(client, "ada@example.com")
    pending = client.cookies.get("twostep_session")
    assert pending and pending != "planted-by-attacker"
    submit_code(client, code_for(secret, clock))
    signed_in = client.cookies.get("twostep_session")
    assert signed_in and signed_in != pending
    stale = TestClient(client.app, base_url="http://127.0.0.1:8000", cookies={"twostep_session": pending})
    assert stale.get("/account", follow_redirects=False).headers["location"] == "/login"


def test_logout_deletes_the_server_side_session(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    secret = enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    submit_code(client, code_for(secret, clock))
    token = client.cookies.get("twostep_session")
    page = client.get("/account")
    client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    replay = TestClient(client.app, base_url="http://127.0.0.1:8000", cookies={"twostep_session": token or ""})
    assert replay.get("/account", follow_redirects=False).headers["location"] == "/login"
    with ctx.db.transaction() as db:
        assert db.scalars(select(WebSession).where(WebSession.stage == "signed_in")).all() == []


def test_session_ends_after_30_minutes_idle(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    secret = enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    submit_code(client, code_for(secret, clock))
    clock.advance(minutes=29)
    assert client.get("/account").status_code == 200
    clock.advance(minutes=29)
    assert client.get("/account").status_code == 200
    clock.advance(minutes=31)
    assert client.get("/account", follow_redirects=False).status_code == 303


def test_session_ends_after_12_hours_even_when_active(client: TestClient, ctx: Context,
                                                      clock: FrozenClock) -> None:
    secret = enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    submit_code(client, code_for(secret, clock))
    for _ in range(36):
        clock.advance(minutes=20)
        client.get("/account")
    assert client.get("/account", follow_redirects=False).status_code == 303


def test_forms_without_csrf_token_are_refused(client: TestClient, ctx: Context) -> None:
    make_user(ctx)
    response = client.post("/login", data={"email": "ada@example.com", "password": PASSWORD},
                           follow_redirects=False)
    assert response.status_code == 400
    assert "twostep_session" not in response.cookies


def test_legacy_username_gets_email_sign_in_guidance(client: TestClient, ctx: Context) -> None:
    response = login_password(client, "customer-1234", "whatever password")
    assert response.status_code == 422
    assert alerts(response.text) == ["Sign in with your email address now; forgot which one? Contact help@acme.test."]


def test_password_hash_is_upgraded_when_parameters_rise(client: TestClient, ctx: Context) -> None:
    from twostep.domain.passwords import PasswordHashing

    make_user(ctx)
    ctx.hashing = PasswordHashing(time_cost=3)
    login_password(client, "ada@example.com")
    with ctx.db.transaction() as db:
        stored = db.scalar(select(User.password_hash))
    assert stored is not None and ",t=3," in stored


def test_totp_secret_is_encrypted_at_rest(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    secret = enrolled_user(client, ctx, clock)
    with ctx.db.transaction() as db:
        sealed = db.scalar(select(Factor.secret_sealed))
    assert sealed is not None and secret.encode() not in sealed
