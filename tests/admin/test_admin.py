"""The administration console: who may enter, fresh re-authentication, and each action's rules."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from tests.route_list import flat_routes
from tests.support import (
    PASSWORD,
    RecordingMail,
    alerts,
    code_for,
    csrf_of,
    enroll_totp,
    login_password,
    make_user,
    sign_out,
    submit_code,
)
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.domain.factors import FactorKind
from twostep.services.admin import admin
from twostep.services.core import throttling
from twostep.services.core.context import Context, RequestInfo
from twostep.services.factors import recovery
from twostep.storage.models import (
    ApiKey,
    AuditEvent,
    Factor,
    RecoveryCode,
    RememberedDevice,
    User,
    UserRole,
    WebSession,
)
from twostep.web.admin.admin_gate import AdminRoute

ROOT = "root@example.com"


def new_client(client: TestClient) -> TestClient:
    return TestClient(client.app, base_url="http://127.0.0.1:8000")


def signed_in(client: TestClient, ctx: Context, clock: FrozenClock, email: str, *, is_admin: bool) -> str:
    """A user who just signed in and enrolled an authenticator (so re-authenticated right now)."""
    make_user(ctx, email, admin=is_admin)
    login_password(client, email)
    return enroll_totp(client, clock)


def target_user(ctx: Context, clock: FrozenClock, email: str = "ada@example.com") -> tuple[int, str, list[str]]:
    """A user with an authenticator app and recovery codes, created directly in the database."""
    user_id = make_user(ctx, email)
    secret = totp.new_secret()
    with ctx.db.transaction() as db:
        db.add(
            Factor(
                user_id=user_id,
                kind=FactorKind.TOTP.value,
                label="",
                secret_sealed=ctx.sealer.seal(secret, f"user:{user_id}:totp"),
                created_at=clock.now(),
                confirmed_at=clock.now(),
            )
        )
        codes = recovery.regenerate(ctx, db, user_id)
    return user_id, secret, codes


def act(client: TestClient, user_id: int | str, action: str, **data: str) -> Response:
    page = client.get("/account")
    return client.post(
        f"/admin/users/{user_id}/{action}",
        data={**data, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


def reauthenticate(client: TestClient, secret: str, clock: FrozenClock, target: str = "/admin") -> None:
    clock.advance(seconds=30)
    page = client.get(f"/account/reauth?next={target}")
    client.post("/account/reauth", data={"password": PASSWORD, "next": target, "csrf_token": csrf_of(page.text)})
    page = client.get(f"/account/reauth?next={target}")
    done = client.post(
        "/account/reauth/code",
        data={"code": code_for(secret, clock), "next": target, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == target, alerts(done.text)


def count(ctx: Context, model: type, **where: object) -> int:
    with ctx.db.transaction() as db:
        statement = select(func.count()).select_from(model)
        for name, value in where.items():
            statement = statement.where(getattr(model, name) == value)
        return int(db.scalar(statement) or 0)


def events(ctx: Context, name: str) -> list[AuditEvent]:
    with ctx.db.transaction() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)))


def admin_routes(app: object) -> list[tuple[str, APIRoute]]:
    """Every route the app serves under /admin (included routers flattened)."""
    found = [(path, route) for path, route in flat_routes(app) if path.startswith("/admin")]  # type: ignore[arg-type]
    assert all(isinstance(route, APIRoute) for _, route in found)
    return [(path, route) for path, route in found if isinstance(route, APIRoute)]


def concrete(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


def test_every_admin_route_is_behind_the_one_gate(client: TestClient) -> None:
    routes = admin_routes(client.app)
    assert len(routes) >= 15
    assert [path for path, route in routes if not isinstance(route, AdminRoute)] == []


def test_a_non_admin_gets_403_and_authz_fail_on_every_admin_route_and_object(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    admin_id = make_user(ctx, ROOT, admin=True)
    signed_in(client, ctx, clock, "eve@example.com", is_admin=False)
    token = csrf_of(client.get("/account").text)
    checked = []
    for path, route in admin_routes(client.app):
        for method in sorted(route.methods - {"HEAD"}):
            for value in sorted({str(admin_id), "1", "not-a-number", "-1"} if "{" in path else {""}):
                url = concrete(path, value)
                data = {"csrf_token": token, "reason": "because", "confirm": ROOT, "name": "x", "roles": "admin"}
                before = len(events(ctx, "authz_fail"))
                response = client.request(
                    method, url, data=data if method == "POST" else None, follow_redirects=False
                )
                assert response.status_code == 403, (method, url, response.status_code)
                assert len(events(ctx, "authz_fail")) == before + 1, (method, url)
                checked.append((method, url))
    assert {method for method, _ in checked} == {"GET", "POST"}
    assert any("/api-keys/not-a-number/" in url for _, url in checked)
    assert len(checked) >= 30, checked
    assert count(ctx, UserRole, user_id=admin_id, role="admin") == 1
    assert count(ctx, User) == 2
    assert count(ctx, ApiKey) == 0


def test_an_administrator_changing_api_keys_without_fresh_reauthentication_is_sent_to_reauth(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    secret = signed_in(client, ctx, clock, ROOT, is_admin=True)
    clock.advance(minutes=6)
    page = client.get("/admin/api-keys")
    assert page.status_code == 200  # reading is fine
    for url in ["/admin/api-keys", "/admin/api-keys/1/revoke", "/admin/api-keys/abc/revoke"]:
        refused = client.post(url, data={"name": "CRM", "csrf_token": csrf_of(page.text)}, follow_redirects=False)
        assert refused.status_code == 303, url
        assert refused.headers["location"] == "/account/reauth?next=/admin/api-keys", url
    assert count(ctx, ApiKey) == 0
    reauthenticate(client, secret, clock, "/admin/api-keys")
    page = client.get("/admin/api-keys")  # the session id (and so the CSRF token) was rotated
    created = client.post("/admin/api-keys", data={"name": "CRM", "csrf_token": csrf_of(page.text)})
    assert created.status_code == 200 and count(ctx, ApiKey) == 1


def test_signed_out_and_half_signed_in_visitors_are_sent_to_their_step(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    assert client.get("/admin", follow_redirects=False).headers["location"] == "/login"
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    sign_out(client)
    clock.advance(seconds=30)
    login_password(client, ROOT)
    for path in ["/admin", "/admin/audit", "/admin/users/1"]:
        assert client.get(path, follow_redirects=False).headers["location"] == "/login/code", path


def test_admin_sees_users_and_their_two_step_state_but_never_secrets_or_codes(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    user_id, secret, codes = target_user(ctx, clock)
    make_user(ctx, "bob@example.com")
    with ctx.db.transaction() as db:
        for _ in range(5):
            throttling.record_failure(db, throttling.second_step_key(user_id), clock.now())
    listing = client.get("/admin/users")
    assert listing.status_code == 200
    assert "ada@example.com" in listing.text and "bob@example.com" in listing.text
    assert "Not set up" in listing.text and "Authenticator app" in listing.text
    assert "Mar 2, 2026 9:00\u202fAM UTC" in listing.text  # enrolled at, and throttled until 09:00:30
    assert '<time datetime="2026-03-02T09:00:30+00:00">' in listing.text
    found = client.get("/admin/users?q=ADA")
    assert "ada@example.com" in found.text and "bob@example.com" not in found.text
    assert "No user matches." in client.get("/admin/users?q=%25").text
    detail = client.get(f"/admin/users/{user_id}")
    assert detail.status_code == 200
    assert "Recovery codes left" in detail.text and ">10<" in detail.text
    for page in (listing.text, detail.text):
        assert secret not in page and totp.group_secret(secret) not in page
        assert not any(code in page for code in codes)
    assert client.get("/admin/users/99999").status_code == 404


def test_admin_without_fresh_reauthentication_is_refused(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    admin_secret = signed_in(client, ctx, clock, ROOT, is_admin=True)
    user_id, _, _ = target_user(ctx, clock)
    clock.advance(minutes=6)
    assert client.get(f"/admin/users/{user_id}").status_code == 200  # reading is fine
    for action, data in [
        ("reset-2fa", {"reason": "lost phone"}),
        ("unlock", {}),
        ("sign-out", {}),
        ("grant-admin", {}),
        ("delete", {"confirm": "ada@example.com"}),
    ]:
        refused = act(client, user_id, action, **data)
        assert refused.status_code == 303, action
        assert refused.headers["location"] == f"/account/reauth?next=/admin/users/{user_id}", action
    assert count(ctx, Factor, user_id=user_id) == 1 and count(ctx, User) == 2
    assert count(ctx, UserRole, user_id=user_id) == 0
    reauthenticate(client, admin_secret, clock, f"/admin/users/{user_id}")
    assert act(client, user_id, "reset-2fa", reason="lost phone").status_code == 303
    assert count(ctx, Factor, user_id=user_id) == 0


def test_a_session_from_a_remembered_device_must_reauthenticate_for_the_console(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    secret = signed_in(client, ctx, clock, ROOT, is_admin=True)
    sign_out(client)
    clock.advance(seconds=30)
    login_password(client, ROOT)
    submit_code(client, code_for(secret, clock), remember=True)
    sign_out(client)
    assert login_password(client, ROOT).headers["location"] == "/account"
    refused = client.get("/admin", follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"] == "/account/reauth?next=/admin"
    reauthenticate(client, secret, clock)
    assert client.get("/admin").status_code == 200


def test_reset_needs_a_reason(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    user_id, _, _ = target_user(ctx, clock)
    response = act(client, user_id, "reset-2fa", reason="   ")
    assert response.status_code == 422
    assert alerts(response.text) == ["Write down why you reset two-step verification for this user."]
    assert 'aria-describedby="reason-error reset-help"' in response.text
    assert count(ctx, Factor, user_id=user_id) == 1


def test_reset_removes_methods_codes_devices_and_sessions_and_forces_enrollment(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    user_id, secret, codes = target_user(ctx, clock)
    user = new_client(client)
    login_password(user, "ada@example.com")
    submit_code(user, code_for(secret, clock), remember=True)
    assert count(ctx, RememberedDevice, user_id=user_id) == 1
    response = act(client, user_id, "reset-2fa", reason="Lost phone and codes; identity checked by phone call")
    assert response.status_code == 303 and response.headers["location"] == f"/admin/users/{user_id}?notice=reset"
    page = client.get(response.headers["location"])
    assert "Two-step verification was reset" in page.text and "Not set up." in page.text
    for model in (Factor, RecoveryCode, RememberedDevice, WebSession):
        assert count(ctx, model, user_id=user_id) == 0, model
    assert "reset" in mail.last_to("ada@example.com").subject
    assert user.get("/account", follow_redirects=False).headers["location"] == "/login"
    assert login_password(user, "ada@example.com").headers["location"] == "/enroll"
    [updated] = events(ctx, "user_updated")
    [action] = [e for e in events(ctx, "authz_admin") if '"reset_2fa"' in e.detail]
    for event in (updated, action):
        assert event.user_id == user_id and event.actor_id is not None
        assert event.reason == "Lost phone and codes; identity checked by phone call"
        assert event.ip and event.user_agent
    assert not any(code in (updated.detail + action.detail) for code in codes)


def test_an_admin_cannot_reset_their_own_two_step_verification(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    with ctx.db.transaction() as db:
        own_id = db.scalar(select(User.id).where(User.email == ROOT))
    assert "You can't reset your own two-step verification here" in client.get(f"/admin/users/{own_id}").text
    refused = act(client, str(own_id), "reset-2fa", reason="I want to")
    assert refused.status_code == 422
    assert alerts(refused.text)[0].startswith("You can't reset your own two-step verification here.")
    assert count(ctx, Factor, user_id=own_id) == 1


def test_the_last_admin_can_be_neither_demoted_nor_deleted(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    with ctx.db.transaction() as db:
        own_id = db.scalar(select(User.id).where(User.email == ROOT))
    assert own_id is not None
    refused = act(client, own_id, "revoke-admin")
    assert refused.status_code == 422 and "last administrator" in alerts(refused.text)[0]
    with pytest.raises(admin.AdminError) as error:
        admin.delete_user(ctx, admin.CLI, own_id, ROOT, RequestInfo())
    assert error.value.code == "last_admin"
    with pytest.raises(admin.AdminError) as error:
        admin.set_admin(ctx, admin.CLI, own_id, False, RequestInfo())
    assert error.value.code == "last_admin"
    assert count(ctx, UserRole, user_id=own_id, role="admin") == 1


def test_with_several_admins_one_can_be_demoted_and_then_loses_the_console(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    other = new_client(client)
    signed_in(other, ctx, clock, "second@example.com", is_admin=False)
    with ctx.db.transaction() as db:
        other_id = db.scalar(select(User.id).where(User.email == "second@example.com"))
    assert other.get("/admin").status_code == 403
    granted = act(client, str(other_id), "grant-admin")
    assert granted.headers["location"].endswith("?notice=granted")
    assert "administrator" in mail.last_to("second@example.com").subject
    assert other.get("/admin").status_code == 200
    assert act(client, str(other_id), "grant-admin").headers["location"].endswith("?notice=unchanged")
    assert act(client, str(other_id), "revoke-admin").headers["location"].endswith("?notice=revoked")
    assert other.get("/admin").status_code == 403
    [change] = [e for e in events(ctx, "authz_change") if '"after": []' in e.detail]
    assert change.user_id == other_id and '"before": ["admin"]' in change.detail


def test_unlock_clears_the_throttle(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    user_id, secret, _ = target_user(ctx, clock)
    user = new_client(client)
    for _ in range(5):
        login_password(user, "ada@example.com", "wrong password here")
    assert login_password(user, "ada@example.com").status_code == 429
    page = client.get(f"/admin/users/{user_id}")
    assert "Unlock the account" in page.text
    assert act(client, user_id, "unlock").headers["location"].endswith("?notice=unlocked")
    assert "Unlock the account" not in client.get(f"/admin/users/{user_id}").text
    assert login_password(user, "ada@example.com").headers["location"] == "/login/code"
    assert submit_code(user, code_for(secret, clock)).status_code == 303


def test_sign_out_everywhere_ends_every_session(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    user_id, secret, _ = target_user(ctx, clock)
    user = new_client(client)
    login_password(user, "ada@example.com")
    submit_code(user, code_for(secret, clock), remember=True)
    assert act(client, user_id, "sign-out").headers["location"].endswith("?notice=signed_out")
    assert user.get("/account", follow_redirects=False).headers["location"] == "/login"
    assert count(ctx, WebSession, user_id=user_id) == 0 and count(ctx, RememberedDevice, user_id=user_id) == 0
    [ended] = events(ctx, "session_expired")
    assert ended.user_id == user_id and '"sessions": 1' in ended.detail


def test_delete_needs_the_email_typed_and_purges_the_account_but_not_its_audit_trail(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    user_id, _, _ = target_user(ctx, clock)
    mismatch = act(client, user_id, "delete", confirm="someone@example.com")
    assert mismatch.status_code == 422
    assert alerts(mismatch.text) == ["Type the user's email address exactly to confirm the deletion."]
    assert count(ctx, User, id=user_id) == 1
    deleted = act(client, user_id, "delete", confirm=" ADA@example.com ")
    assert deleted.status_code == 303 and deleted.headers["location"] == "/admin/users?notice=deleted"
    assert "The account was deleted." in client.get(deleted.headers["location"]).text
    for model in (User, Factor, RecoveryCode, UserRole):
        key = "id" if model is User else "user_id"
        assert count(ctx, model, **{key: user_id}) == 0, model
    [gone] = events(ctx, "user_deleted")
    assert gone.user_id == user_id and gone.user_email == "ada@example.com"
    assert client.get(f"/admin/users/{user_id}").status_code == 404


def test_admin_actions_need_the_csrf_token(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    user_id, _, _ = target_user(ctx, clock)
    forged = client.post(f"/admin/users/{user_id}/reset-2fa", data={"reason": "x", "csrf_token": "forged"})
    assert forged.status_code == 400
    assert count(ctx, Factor, user_id=user_id) == 1
