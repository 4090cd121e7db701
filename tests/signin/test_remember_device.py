"""Remember this device: skips only the second step, only for its own user, until it expires or a
credential changes (checklist D-01..D-05)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.support import RecordingMail, code_for, enrolled_user, login_password, sign_out, submit_code
from twostep.domain.clock import FrozenClock
from twostep.services.core import accounts
from twostep.services.core.context import Context
from twostep.storage.models import RememberedDevice


def remember(client: TestClient, ctx: Context, clock: FrozenClock, email: str = "ada@example.com") -> str:
    secret = enrolled_user(client, ctx, clock, email)
    login_password(client, email)
    assert submit_code(client, code_for(secret, clock), remember=True).status_code == 303
    sign_out(client)
    return secret


def test_remembered_device_skips_only_the_code(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    remember(client, ctx, clock)
    assert login_password(client, "ada@example.com").headers["location"] == "/account"
    sign_out(client)
    assert login_password(client, "ada@example.com", "wrong password here").status_code == 401


def test_device_cookie_is_random_httponly_and_stored_hashed(client: TestClient, ctx: Context,
                                                            clock: FrozenClock) -> None:
    secret = enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    response = submit_code(client, code_for(secret, clock), remember=True)
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith("twostep_device="))
    token = header.split(";")[0].split("=", 1)[1]
    assert len(token) >= 43 and "HttpOnly" in header and "Max-Age=1209600" in header and "SameSite=lax" in header
    with ctx.db.transaction() as db:
        stored = db.scalar(select(RememberedDevice.token_digest))
    assert stored and token not in stored


def test_device_remembered_for_one_user_does_not_skip_for_another(client: TestClient, ctx: Context,
                                                                  clock: FrozenClock) -> None:
    remember(client, ctx, clock, "mallory@example.com")
    enrolled_user(client, ctx, clock, "ada@example.com")
    assert login_password(client, "ada@example.com").headers["location"] == "/login/code"


def test_remembered_device_expires_after_14_days(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    remember(client, ctx, clock)
    clock.advance(days=14, seconds=1)
    assert login_password(client, "ada@example.com").headers["location"] == "/login/code"


def test_new_remembered_device_is_notified(client: TestClient, ctx: Context, clock: FrozenClock,
                                          mail: RecordingMail) -> None:
    remember(client, ctx, clock)
    assert "new device" in mail.last_to("ada@example.com").subject


def test_revoked_devices_no_longer_skip_the_code(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    remember(client, ctx, clock)
    with ctx.db.transaction() as db:
        user = accounts.find_user_by_email(db, "ada@example.com")
        assert user is not None
        accounts.revoke_remembered_devices(db, user.id)
    assert login_password(client, "ada@example.com").headers["location"] == "/login/code"


def test_expiry_is_enforced_by_the_server_not_the_cookie(client: TestClient, ctx: Context,
                                                         clock: FrozenClock) -> None:
    remember(client, ctx, clock)
    with ctx.db.transaction() as db:
        db.execute(update(RememberedDevice).values(expires_at=clock.now()))
    assert login_password(client, "ada@example.com").headers["location"] == "/login/code"


def test_remember_option_is_hidden_when_configured_off(client: TestClient, ctx: Context,
                                                       clock: FrozenClock) -> None:
    ctx.settings = ctx.settings.model_copy(update={"remember_device_days": 0})
    secret = enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    assert "remember_device" not in client.get("/login/code").text
    response = submit_code(client, code_for(secret, clock), remember=True)
    assert not any(h.startswith("twostep_device=") for h in response.headers.get_list("set-cookie"))
