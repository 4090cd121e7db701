"""My account over HTTP: every change needs a fresh re-authentication (password + a real second
step within 5 minutes; a remembered device never counts), is refused otherwise, and is followed by an
email notice. The only method can't be removed while two-step verification is required."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from tests.support import (
    PASSWORD,
    RecordingMail,
    alerts,
    code_for,
    csrf_of,
    enrolled_user,
    login_password,
    otpauth_uri,
    secret_of,
    submit_code,
)
from twostep.domain.clock import FrozenClock
from twostep.services.core import accounts
from twostep.services.core.context import Context
from twostep.services.factors import recovery
from twostep.storage.models import AuditEvent, Factor, RememberedDevice, User, WebSession

EMAIL = "ada@example.com"
BASE = "http://127.0.0.1:8000"
NEW_PASSWORD = "quiet harbour lantern 77"


def sign_in(client: TestClient, secret: str, clock: FrozenClock, *, remember: bool = False) -> Response:
    clock.advance(seconds=30)  # a fresh TOTP step: each step is accepted once
    login_password(client, EMAIL)
    response = submit_code(client, code_for(secret, clock), remember=remember)
    assert response.status_code == 303 and response.headers["location"] == "/account", alerts(response.text)
    return response


@pytest.fixture
def secret(client: TestClient, ctx: Context, clock: FrozenClock) -> str:
    """Ada, enrolled with an authenticator app and signed in (so re-authenticated just now)."""
    value = enrolled_user(client, ctx, clock, EMAIL)
    sign_in(client, value, clock)
    return value


def reauth(client: TestClient, secret: str, clock: FrozenClock, next_path: str = "/account") -> Response:
    clock.advance(seconds=30)
    page = client.get(f"/account/reauth?next={next_path}")
    assert 'name="password"' in page.text
    step1 = client.post(
        "/account/reauth",
        data={"password": PASSWORD, "next": next_path, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert step1.status_code == 303, alerts(step1.text)
    page = client.get(step1.headers["location"])
    assert 'name="code"' in page.text
    step2 = client.post(
        "/account/reauth/code",
        data={"code": code_for(secret, clock), "next": next_path, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert step2.status_code == 303, alerts(step2.text)
    return step2


def account_csrf(client: TestClient) -> str:
    return csrf_of(client.get("/account").text)


def post(client: TestClient, path: str, **data: str) -> Response:
    data.setdefault("csrf_token", account_csrf(client))
    return client.post(path, data=data, follow_redirects=False)


def factor_ids(ctx: Context) -> list[int]:
    with ctx.db.transaction() as db:
        user = accounts.find_user_by_email(db, EMAIL)
        assert user is not None
        return [f.id for f in accounts.confirmed_methods(db, user.id)]


def count(ctx: Context, model: type, **where: object) -> int:
    with ctx.db.transaction() as db:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(db.scalar(query) or 0)


def user_id(ctx: Context) -> int:
    with ctx.db.transaction() as db:
        user = accounts.find_user_by_email(db, EMAIL)
        assert user is not None
        return user.id


def add_second_authenticator(client: TestClient, clock: FrozenClock) -> None:
    page = client.get("/enroll/totp")
    second = secret_of(otpauth_uri(page.text))
    confirmed = client.post("/enroll/totp", data={"code": code_for(second, clock), "csrf_token": csrf_of(page.text)})
    assert confirmed.status_code == 200, alerts(confirmed.text)


def device_ids(ctx: Context) -> list[int]:
    with ctx.db.transaction() as db:
        return list(db.scalars(select(RememberedDevice.id).order_by(RememberedDevice.id)))


def other_session_ids(ctx: Context, current_cookie: str | None) -> list[str]:
    with ctx.db.transaction() as db:
        current = ctx.digester.digest(current_cookie or "", "session")
        return [
            s.id
            for s in db.scalars(select(WebSession).where(WebSession.stage == "signed_in"))
            if s.id != current
        ]


@pytest.fixture
def new_client(client: TestClient) -> Callable[[], TestClient]:
    return lambda: TestClient(client.app, base_url=BASE)


# --- the re-authentication rules -----------------------------------------------------------------


CHANGES: dict[str, Callable[[TestClient, Context], Response]] = {
    "remove method": lambda c, ctx: post(c, f"/account/methods/{factor_ids(ctx)[0]}/remove"),
    "forget device": lambda c, ctx: post(c, f"/account/devices/{device_ids(ctx)[0]}/revoke"),
    "end a session": lambda c, ctx: post(
        c, f"/account/sessions/{other_session_ids(ctx, c.cookies.get('twostep_session'))[0]}/end"
    ),
    "end other sessions": lambda c, ctx: post(c, "/account/sessions/others/end"),
    "new recovery codes": lambda c, ctx: post(c, "/account/recovery-codes"),
    "change password": lambda c, ctx: post(
        c, "/account/password", current_password=PASSWORD, password=NEW_PASSWORD, password_confirm=NEW_PASSWORD
    ),
}


def state(ctx: Context) -> tuple[object, ...]:
    """Everything a change could touch, to prove a refused change touched nothing."""
    with ctx.db.transaction() as db:
        user = db.scalar(select(User).where(User.email == EMAIL))
        assert user is not None
        return (
            user.password_hash,
            tuple(db.scalars(select(Factor.id).order_by(Factor.id))),
            tuple(db.scalars(select(RememberedDevice.id).order_by(RememberedDevice.id))),
            tuple(db.scalars(select(WebSession.id).where(WebSession.stage == "signed_in").order_by(WebSession.id))),
            tuple(db.scalars(select(AuditEvent.id).where(AuditEvent.event == "authn_token_created"))),
        )


@pytest.fixture
def busy_account(
    client: TestClient, ctx: Context, clock: FrozenClock, secret: str, new_client: Callable[[], TestClient]
) -> str:
    """Ada with two authenticators, a remembered device in another browser and two other sessions."""
    add_second_authenticator(client, clock)
    other = new_client()
    sign_in(other, secret, clock, remember=True)
    sign_in(new_client(), secret, clock)
    assert device_ids(ctx) and len(other_session_ids(ctx, client.cookies.get("twostep_session"))) == 2
    return secret


@pytest.mark.parametrize("change", list(CHANGES))
def test_change_without_fresh_reauthentication_is_refused(
    change: str, client: TestClient, ctx: Context, clock: FrozenClock, busy_account: str, mail: RecordingMail
) -> None:
    clock.advance(minutes=5, seconds=1)
    before, sent = state(ctx), len(mail.sent)
    response = CHANGES[change](client, ctx)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/account/reauth?next=/account")
    assert state(ctx) == before
    assert len(mail.sent) == sent


@pytest.mark.parametrize("change", list(CHANGES))
def test_each_change_after_reauthentication_is_done_and_notified(
    change: str, client: TestClient, ctx: Context, clock: FrozenClock, busy_account: str, mail: RecordingMail
) -> None:
    clock.advance(minutes=6)
    reauth(client, busy_account, clock)
    before, sent = state(ctx), len(mail.sent)
    response = CHANGES[change](client, ctx)
    assert response.status_code in (200, 303), alerts(response.text)
    assert state(ctx) != before
    notices = [m for m in mail.sent[sent:] if m.to == EMAIL]
    assert len(notices) == 1, [m.subject for m in mail.sent[sent:]]
    assert "testclient" in notices[0].text  # the IP it came from
    assert "[Acme]" in notices[0].subject


def test_remembered_device_sign_in_does_not_count_as_reauthentication(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    secret = enrolled_user(client, ctx, clock, EMAIL)
    sign_in(client, secret, clock, remember=True)
    client.post("/logout", data={"csrf_token": account_csrf(client)})
    clock.advance(minutes=10)
    assert login_password(client, EMAIL).headers["location"] == "/account"  # no code asked
    before = state(ctx)
    response = post(client, "/account/recovery-codes")
    assert response.status_code == 303 and response.headers["location"].startswith("/account/reauth")
    assert client.get("/account/password", follow_redirects=False).headers["location"].startswith("/account/reauth")
    reauth_page = client.get("/account/reauth")
    assert 'name="password"' in reauth_page.text and 'name="code"' not in reauth_page.text
    assert state(ctx) == before
    # A password + real second step now does count, on a new session id.
    old_cookie = client.cookies.get("twostep_session")
    reauth(client, secret, clock)
    assert client.cookies.get("twostep_session") != old_cookie
    assert post(client, "/account/recovery-codes").status_code == 200


def test_reauthentication_expires_after_five_minutes(
    client: TestClient, ctx: Context, clock: FrozenClock, secret: str
) -> None:
    clock.advance(minutes=4, seconds=50)
    assert client.get("/account/recovery-codes").status_code == 200
    clock.advance(seconds=20)
    response = client.get("/account/recovery-codes", follow_redirects=False)
    assert response.headers["location"] == "/account/reauth?next=/account/recovery-codes"
    assert post(client, "/account/recovery-codes").status_code == 303


def test_reauthentication_rotates_the_session_and_returns_to_next(
    client: TestClient, ctx: Context, clock: FrozenClock, secret: str
) -> None:
    clock.advance(minutes=6)
    old = client.cookies.get("twostep_session")
    done = reauth(client, secret, clock, "/account/password")
    assert done.headers["location"] == "/account/password"
    assert client.cookies.get("twostep_session") != old
    stale = TestClient(client.app, base_url=BASE, cookies={"twostep_session": old or ""})
    assert stale.get("/account", follow_redirects=False).headers["location"] == "/login"
    assert client.get("/account/password").status_code == 200
    with ctx.db.transaction() as db:
        renewed = db.scalars(select(AuditEvent).where(AuditEvent.event == "session_renewed")).all()
        assert [e.reason for e in renewed] == ["reauth"]


def test_reauthentication_needs_the_password_before_the_code(
    client: TestClient, ctx: Context, clock: FrozenClock, secret: str
) -> None:
    clock.advance(minutes=6)
    page = client.get("/account/reauth")
    code = code_for(secret, clock)
    skipped = client.post(
        "/account/reauth/code", data={"code": code, "csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert skipped.status_code == 303 and skipped.headers["location"] == "/account/reauth?next=/account"
    assert post(client, "/account/recovery-codes").status_code == 303  # still not fresh


def test_reauthentication_refuses_a_wrong_password_and_a_wrong_or_replayed_code(
    client: TestClient, ctx: Context, clock: FrozenClock, secret: str, new_client: Callable[[], TestClient],
    mail: RecordingMail,
) -> None:
    other = new_client()
    sign_in(other, secret, clock)
    clock.advance(minutes=6)
    page = client.get("/account/reauth")
    wrong = client.post("/account/reauth", data={"password": "not my password!", "csrf_token": csrf_of(page.text)})
    assert wrong.status_code == 401
    assert alerts(wrong.text) == ["That is not your current password."]
    assert 'aria-describedby="password-error" aria-invalid="true"' in wrong.text
    client.post("/account/reauth", data={"password": PASSWORD, "csrf_token": csrf_of(page.text)})
    bad = client.post("/account/reauth/code", data={"code": "000000", "csrf_token": csrf_of(page.text)})
    assert bad.status_code == 401
    assert alerts(bad.text) == ["That code didn't work. Check it and try again, or wait for the next code."]
    code = code_for(secret, clock)
    ok = client.post(
        "/account/reauth/code", data={"code": code, "csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert ok.status_code == 303
    # The same code in the other browser, in the same 30 seconds: a replay, refused and reported.
    other_page = other.get("/account/reauth")
    other.post("/account/reauth", data={"password": PASSWORD, "csrf_token": csrf_of(other_page.text)})
    replay = other.post("/account/reauth/code", data={"code": code, "csrf_token": csrf_of(other_page.text)})
    assert replay.status_code == 401
    assert "used twice" in mail.last_to(EMAIL).subject
    assert other.get("/account/recovery-codes", follow_redirects=False).status_code == 303


def test_five_failed_reauthentication_attempts_end_the_session(
    client: TestClient, ctx: Context, clock: FrozenClock, secret: str
) -> None:
    clock.advance(minutes=6)
    page = client.get("/account/reauth")
    token = csrf_of(page.text)
    statuses = []
    for _ in range(5):
        response = client.post(
            "/account/reauth", data={"password": "wrong password again", "csrf_token": token}, follow_redirects=False
        )
        statuses.append(response.status_code)
    assert statuses[:4] == [401, 401, 401, 401]
    assert statuses[4] == 303
    assert client.get("/account", follow_redirects=False).headers["location"] == "/login"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/account/password", "/account/password"),
        ("/enroll/totp", "/enroll/totp"),
        ("https://evil.example/", "/account"),
        ("//evil.example/x", "/account"),
        ("/\\evil.example", "/account"),
        ("javascript:alert(1)", "/account"),
        ("/account/reauth?next=/account", "/account"),
    ],
)
def test_reauthentication_only_returns_to_local_paths(
    raw: str, expected: str, client: TestClient, ctx: Context, clock: FrozenClock, secret: str
) -> None:
    clock.advance(minutes=6)
    done = reauth(client, secret, clock, raw.replace("?", "%3F"))
    assert done.headers["location"] == expected


def test_pending_sign_in_cannot_reach_reauthentication_or_changes(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    enrolled_user(client, ctx, clock, EMAIL)
    login_password(client, EMAIL)
    for path in ["/account/reauth", "/account/password", "/account/recovery-codes", "/account/methods/1/remove"]:
        assert client.get(path, follow_redirects=False).headers["location"] == "/login/code", path
    page = client.get("/login/code")
    response = client.post(
        "/account/reauth", data={"password": PASSWORD, "csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert response.headers["location"] == "/login/code"


def test_adding_a_method_asks_for_reauthentication_first(
    client: TestClient, ctx: Context, clock: FrozenClock, secret: str
) -> None:
    clock.advance(minutes=6)
    response = client.get("/enroll/totp", follow_redirects=False)
    assert response.headers["location"] == "/account/reauth?next=/enroll/totp"
    assert reauth(client, secret, clock, "/enroll/totp").headers["location"] == "/enroll/totp"
    add_second_authenticator(client, clock)
    assert len(factor_ids(ctx)) == 2


# --- methods -------------------------------------------------------------------------------------


def test_the_only_method_cannot_be_removed(
    client: TestClient, ctx: Context, clock: FrozenClock, secret: str, mail: RecordingMail
) -> None:
    [only] = factor_ids(ctx)
    page = client.get(f"/account/methods/{only}/remove")
    assert page.status_code == 200 and "Add another method first" in page.text
    assert "Remove this method" not in page.text
    assert f"/account/methods/{only}/remove" not in client.get("/account").text
    sent = len(mail.sent)
    response = client.post(f"/account/methods/{only}/remove", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 409
    assert alerts(response.text) == [
        "This is your only second-step method. Add another method first, then you can remove this one."
    ]
    assert factor_ids(ctx) == [only]
    assert len(mail.sent) == sent


def test_removing_one_of_two_methods_keeps_the_other_and_forgets_devices(
    client: TestClient, ctx: Context, clock: FrozenClock, busy_account: str, mail: RecordingMail
) -> None:
    first, second = factor_ids(ctx)
    page = client.get(f"/account/methods/{first}/remove")
    assert "Remove this method" in page.text
    response = client.post(
        f"/account/methods/{first}/remove", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert response.headers["location"] == "/account?notice=method_removed"
    assert factor_ids(ctx) == [second]
    assert device_ids(ctx) == []
    assert "A sign-in method was removed" in mail.last_to(EMAIL).subject
    assert "authenticator app" in mail.last_to(EMAIL).text.lower()
    shown = client.get(response.headers["location"])
    assert "The method was removed." in shown.text


def test_someone_elses_items_are_not_found(
    client: TestClient, ctx: Context, clock: FrozenClock, secret: str, new_client: Callable[[], TestClient]
) -> None:
    bob = new_client()
    bob_secret = enrolled_user(bob, ctx, clock, "bob@example.com")
    clock.advance(seconds=30)
    login_password(bob, "bob@example.com")
    submit_code(bob, code_for(bob_secret, clock), remember=True)
    with ctx.db.transaction() as db:
        bob_user = accounts.find_user_by_email(db, "bob@example.com")
        assert bob_user is not None
        bob_factor = accounts.confirmed_methods(db, bob_user.id)[0].id
        bob_device = db.scalars(select(RememberedDevice.id).where(RememberedDevice.user_id == bob_user.id)).one()
        bob_session = db.scalars(select(WebSession.id).where(WebSession.user_id == bob_user.id)).one()
    assert client.get(f"/account/methods/{bob_factor}/remove").status_code == 404
    assert post(client, f"/account/methods/{bob_factor}/remove").status_code == 404
    assert post(client, f"/account/devices/{bob_device}/revoke").status_code == 404
    assert post(client, f"/account/sessions/{bob_session}/end").status_code == 404
    assert post(client, "/account/methods/not-a-number/remove").status_code == 422
    assert bob.get("/account").status_code == 200
    assert count(ctx, RememberedDevice) == 1


def test_changes_need_the_csrf_token(
    client: TestClient, ctx: Context, clock: FrozenClock, busy_account: str
) -> None:
    before = state(ctx)
    for path in [
        f"/account/methods/{factor_ids(ctx)[0]}/remove",
        f"/account/devices/{device_ids(ctx)[0]}/revoke",
        "/account/sessions/others/end",
        "/account/recovery-codes",
        "/account/password",
    ]:
        response = client.post(path, data={"csrf_token": "forged"}, follow_redirects=False)
        assert response.status_code == 400, path
        assert alerts(response.text) == ["The form expired. Please try again."], path
    assert state(ctx) == before


# --- devices, sessions, recovery codes, password -------------------------------------------------


def test_account_page_lists_methods_devices_and_sessions(
    client: TestClient, ctx: Context, clock: FrozenClock, busy_account: str
) -> None:
    html = client.get("/account").text
    assert html.count('class="method"') == 2
    assert "Acme (ada@example.com)" in html
    assert html.count('class="device"') == 1
    assert html.count('class="session"') == 3
    assert "This browser" in html
    assert "You have 10 of 10 recovery codes left." in html
    assert 'href="/enroll"' in html
    assert 'href="/help/two-step-setup.pdf?lang=pl"' in html
    assert busy_account not in html  # never a secret


def test_ending_a_session_signs_that_browser_out(
    client: TestClient, ctx: Context, clock: FrozenClock, secret: str, new_client: Callable[[], TestClient]
) -> None:
    other = new_client()
    sign_in(other, secret, clock)
    [other_id] = other_session_ids(ctx, client.cookies.get("twostep_session"))
    response = post(client, f"/account/sessions/{other_id}/end")
    assert response.headers["location"] == "/account?notice=session_ended"
    assert other.get("/account", follow_redirects=False).headers["location"] == "/login"
    assert client.get("/account").status_code == 200


def test_forgetting_a_device_asks_that_browser_for_the_code_again(
    client: TestClient, ctx: Context, clock: FrozenClock, secret: str, new_client: Callable[[], TestClient]
) -> None:
    other = new_client()
    sign_in(other, secret, clock, remember=True)
    [device] = device_ids(ctx)
    assert post(client, f"/account/devices/{device}/revoke").headers["location"] == "/account?notice=device_revoked"
    other.post("/logout", data={"csrf_token": account_csrf(other)})
    assert login_password(other, EMAIL).headers["location"] == "/login/code"


def test_new_recovery_codes_are_shown_once_and_void_the_old_ones(
    client: TestClient, ctx: Context, clock: FrozenClock, secret: str, mail: RecordingMail
) -> None:
    uid = user_id(ctx)
    with ctx.db.transaction() as db:
        old = recovery.regenerate(ctx, db, uid)
    response = post(client, "/account/recovery-codes")
    assert response.status_code == 200
    shown = [c for c in response.text.split("<code>")[1:]]
    new = [c.split("</code>")[0] for c in shown]
    assert len(new) == 10 and not set(new) & set(old)
    assert response.headers["cache-control"] == "no-store"
    with ctx.db.transaction() as db:
        assert not recovery.consume(ctx, db, uid, old[0])
        assert recovery.consume(ctx, db, uid, new[0])
    assert "New recovery codes were created" in mail.last_to(EMAIL).subject
    assert new[1] not in mail.last_to(EMAIL).text
    assert new[1] not in client.get("/account").text


def test_password_change_checks_the_current_password_and_the_rules(
    client: TestClient, ctx: Context, clock: FrozenClock, secret: str
) -> None:
    def change(current: str, new: str, again: str) -> Response:
        return post(client, "/account/password", current_password=current, password=new, password_confirm=again)

    wrong = change("not the password", NEW_PASSWORD, NEW_PASSWORD)
    assert wrong.status_code == 422
    assert alerts(wrong.text) == ["That is not your current password."]
    assert 'id="current_password" name="current_password" type="password" autocomplete="current-password" ' \
           'required aria-describedby="current_password-error" aria-invalid="true"' in wrong.text
    short = change(PASSWORD, "short", "short")
    assert alerts(short.text) == ["Use at least 12 characters."]
    differ = change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x")
    assert alerts(differ.text) == ["The two passwords are not the same."]
    same = change(PASSWORD, PASSWORD, PASSWORD)
    assert alerts(same.text) == ["Choose a password different from your current one."]
    common = change(PASSWORD, "password1234", "password1234")
    assert common.status_code == 422
    with ctx.db.transaction() as db:
        user = accounts.find_user_by_email(db, EMAIL)
        assert user is not None and ctx.hashing.verify(user.password_hash, PASSWORD)


def test_password_change_signs_out_other_sessions_and_devices(
    client: TestClient, ctx: Context, clock: FrozenClock, secret: str, new_client: Callable[[], TestClient],
    mail: RecordingMail,
) -> None:
    other = new_client()
    sign_in(other, secret, clock, remember=True)
    response = post(
        client, "/account/password", current_password=PASSWORD, password=NEW_PASSWORD, password_confirm=NEW_PASSWORD
    )
    assert response.headers["location"] == "/account?notice=password_changed"
    assert client.get("/account").status_code == 200
    assert other.get("/account", follow_redirects=False).headers["location"] == "/login"
    assert device_ids(ctx) == []
    assert "Your password was changed" in mail.last_to(EMAIL).subject
    assert NEW_PASSWORD not in mail.last_to(EMAIL).text
    assert login_password(other, EMAIL).status_code == 401
    assert login_password(other, EMAIL, NEW_PASSWORD).headers["location"] == "/login/code"


def test_notice_shows_only_known_messages(client: TestClient, ctx: Context, clock: FrozenClock, secret: str) -> None:
    html = client.get("/account?notice=Your+account+is+locked,+call+555").text
    assert "call 555" not in html
    assert 'role="status"' not in html
    assert "Your password was changed." in client.get("/account?notice=password_changed").text


def test_reauth_page_redirects_when_already_fresh(
    client: TestClient, ctx: Context, clock: FrozenClock, secret: str
) -> None:
    response = client.get("/account/reauth?next=/account/password", follow_redirects=False)
    assert response.headers["location"] == "/account/password"


def add_email_method(ctx: Context, address: str = "ada.codes@other.example") -> None:
    """Ada's confirmed email method, stored the way services.oob_enrollment stores one."""
    from twostep.services.enrollment import oob_enrollment

    uid = user_id(ctx)
    with ctx.db.transaction() as db:
        db.add(
            Factor(
                user_id=uid,
                kind="email",
                target_sealed=ctx.sealer.seal(address, oob_enrollment.target_owner(uid, "email")),
                target_digest=oob_enrollment.target_digest(ctx, "email", address),
                label="a•••@other.example",
                created_at=ctx.clock.now(),
                confirmed_at=ctx.clock.now(),
            )
        )


def test_reauthentication_with_an_emailed_code(
    client: TestClient, ctx: Context, clock: FrozenClock, secret: str, mail: RecordingMail
) -> None:
    add_email_method(ctx)
    clock.advance(minutes=6)
    page = client.get("/account/reauth?next=/account/password&method=email")
    assert 'name="password"' in page.text
    sent_before = len(mail.sent)
    step1 = client.post(
        "/account/reauth",
        data={"password": PASSWORD, "next": "/account/password", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert step1.headers["location"] == "/account/reauth?next=/account/password&sent=1"
    [message] = mail.sent[sent_before:]
    assert message.to == "ada.codes@other.example"
    code = next(line.strip() for line in message.text.splitlines() if line.strip().isdigit())
    page = client.get(step1.headers["location"])
    assert "We sent you a code." in page.text and "a•••@other.example" in page.text
    assert 'action="/account/reauth/send"' in page.text
    again = client.post("/account/reauth/send", data={"next": "/account/password", "csrf_token": csrf_of(page.text)})
    assert again.status_code == 429  # the resend cooldown of sent codes applies here too
    done = client.post(
        "/account/reauth/code",
        data={"code": code, "next": "/account/password", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert done.headers["location"] == "/account/password"
    assert client.get("/account/password").status_code == 200


def test_no_code_is_sent_before_the_password_step(
    client: TestClient, ctx: Context, clock: FrozenClock, secret: str, mail: RecordingMail
) -> None:
    add_email_method(ctx)
    clock.advance(minutes=6)
    page = client.get("/account/reauth?method=email")
    sent_before = len(mail.sent)
    response = client.post("/account/reauth/send", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert response.headers["location"] == "/account/reauth?next=/account"
    assert len(mail.sent) == sent_before


def test_reauthentication_does_not_extend_the_twelve_hour_limit(
    client: TestClient, ctx: Context, clock: FrozenClock, secret: str
) -> None:
    for minute in range(20, 12 * 60, 20):
        clock.advance(minutes=20)
        if minute % 120 == 0:
            reauth(client, secret, clock)
        assert client.get("/account").status_code == 200, minute
    clock.advance(minutes=25)
    assert client.get("/account", follow_redirects=False).headers["location"] == "/login"
