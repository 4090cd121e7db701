"""The rollout policy over HTTP: who must enroll (everyone, by role, optional), the grace period by
days and by sign-ins with its reminder, forced enrollment after it, and the admin pages."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.support import (
    alerts,
    code_for,
    csrf_of,
    enroll_totp,
    login_password,
    make_user,
    sign_out,
    submit_code,
)
from twostep.domain.clock import FrozenClock
from twostep.services.admin import roles
from twostep.services.core import accounts
from twostep.services.core.context import Context, RequestInfo
from twostep.services.rollout import policy
from twostep.storage.models import AuditEvent, User


def set_policy(ctx: Context, **values: Any) -> None:
    policy.save(ctx, values, actor_id=None, request=RequestInfo())


def later_text(html: str) -> str:
    match = re.search(r'id="later">([^<]*)<', html)
    assert match, "no Later link"
    return match.group(1).strip()


def admin_client(app: FastAPI, ctx: Context, clock: FrozenClock) -> TestClient:
    """A second browser: an administrator signed in with password and authenticator just now."""
    browser = TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False)
    make_user(ctx, "root@example.com", admin=True)
    login_password(browser, "root@example.com")
    enroll_totp(browser, clock)
    return browser


# --- who must enroll ----------------------------------------------------------------------------


def test_required_for_everyone_without_grace_forces_enrollment_at_first_sign_in(
    client: TestClient, ctx: Context
) -> None:
    set_policy(ctx, twofa_required="all", twofa_grace_days=0, twofa_grace_sign_ins=0)
    make_user(ctx)
    response = login_password(client, "ada@example.com")
    assert response.headers["location"] == "/enroll"
    assert client.get("/account", follow_redirects=False).headers["location"] == "/enroll"
    assert client.get("/reminder", follow_redirects=False).headers["location"] == "/enroll"


def test_optional_policy_lets_an_account_without_method_in_with_the_password(client: TestClient, ctx: Context) -> None:
    set_policy(ctx, twofa_required="optional")
    make_user(ctx)
    response = login_password(client, "ada@example.com")
    assert response.status_code == 303 and response.headers["location"] == "/account"
    assert client.get("/account").status_code == 200
    assert client.get("/reminder", follow_redirects=False).headers["location"] == "/account"


def test_required_by_role_forces_holders_and_lets_the_others_in(client: TestClient, ctx: Context) -> None:
    set_policy(ctx, twofa_required="roles", twofa_required_roles="sensitive-data")
    accounts.create_user(ctx, "ada@example.com", "violet staple meadow 42", roles=["sensitive-data"])
    make_user(ctx, "bob@example.com")
    assert login_password(client, "ada@example.com").headers["location"] == "/enroll"
    sign_out_pending(client)
    assert login_password(client, "bob@example.com").headers["location"] == "/account"


def sign_out_pending(client: TestClient) -> None:
    client.cookies.clear()


def test_an_account_with_a_method_always_gets_the_second_step(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    set_policy(ctx, twofa_required="optional")
    make_user(ctx)
    login_password(client, "ada@example.com")
    client.get("/enroll")
    secret = enroll_totp(client, clock)
    sign_out(client)
    clock.advance(seconds=30)
    assert login_password(client, "ada@example.com").headers["location"] == "/login/code"
    assert submit_code(client, code_for(secret, clock)).headers["location"] == "/account"


# --- grace period -------------------------------------------------------------------------------


def test_grace_by_days_reminds_until_the_deadline_then_forces(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    set_policy(ctx, twofa_required="all", twofa_grace_days=7)
    make_user(ctx)
    response = login_password(client, "ada@example.com")
    assert response.headers["location"] == "/reminder"
    page = client.get("/reminder")
    assert later_text(page.text) == "Later, 7 days left"
    assert "Set up now" in page.text and "until 2026-03-09" in page.text
    assert client.get("/account").status_code == 200  # "Later" works
    sign_out(client)

    clock.advance(days=3)
    login_password(client, "ada@example.com")
    assert later_text(client.get("/reminder").text) == "Later, 4 days left"
    sign_out(client)

    clock.advance(days=4)
    response = login_password(client, "ada@example.com")
    assert response.headers["location"] == "/enroll"
    assert client.get("/account", follow_redirects=False).headers["location"] == "/enroll"


def test_grace_by_sign_ins_counts_each_sign_in_then_forces(client: TestClient, ctx: Context) -> None:
    set_policy(ctx, twofa_required="all", twofa_grace_sign_ins=2)
    make_user(ctx)
    assert login_password(client, "ada@example.com").headers["location"] == "/reminder"
    first = client.get("/reminder").text
    assert "You can skip it at 1 more sign-in." in first and later_text(first) == "Later"
    sign_out(client)
    assert login_password(client, "ada@example.com").headers["location"] == "/reminder"
    assert "This is the last time you can skip it" in client.get("/reminder").text
    sign_out(client)
    assert login_password(client, "ada@example.com").headers["location"] == "/enroll"


def test_whichever_grace_limit_comes_first_ends_it(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    set_policy(ctx, twofa_grace_days=30, twofa_grace_sign_ins=1)
    make_user(ctx)
    assert login_password(client, "ada@example.com").headers["location"] == "/reminder"
    sign_out(client)
    clock.advance(days=1)
    assert login_password(client, "ada@example.com").headers["location"] == "/enroll"


def test_wrong_password_does_not_use_up_the_grace_period(client: TestClient, ctx: Context) -> None:
    set_policy(ctx, twofa_grace_sign_ins=1)
    make_user(ctx)
    for _ in range(3):
        assert login_password(client, "ada@example.com", "not the password at all").status_code == 401
    assert login_password(client, "ada@example.com").headers["location"] == "/reminder"


def test_immediate_role_gets_no_grace_while_the_others_may_skip(client: TestClient, ctx: Context) -> None:
    set_policy(ctx, twofa_required="all", twofa_grace_days=30, twofa_immediate_roles="sensitive-data")
    accounts.create_user(ctx, "ada@example.com", "violet staple meadow 42", roles=["sensitive-data"])
    make_user(ctx, "bob@example.com")
    assert login_password(client, "ada@example.com").headers["location"] == "/enroll"
    sign_out_pending(client)
    assert login_password(client, "bob@example.com").headers["location"] == "/reminder"


def test_role_given_during_the_grace_period_forces_enrollment_at_the_next_sign_in(
    client: TestClient, ctx: Context
) -> None:
    set_policy(ctx, twofa_grace_days=30, twofa_immediate_roles="sensitive-data")
    make_user(ctx)
    assert login_password(client, "ada@example.com").headers["location"] == "/reminder"
    sign_out(client)
    roles.set_roles(ctx, "ada@example.com", ["sensitive-data"])
    assert login_password(client, "ada@example.com").headers["location"] == "/enroll"


def test_admin_reset_forces_enrollment_despite_the_grace_period(client: TestClient, ctx: Context) -> None:
    set_policy(ctx, twofa_grace_days=30)
    make_user(ctx)
    with ctx.db.transaction() as db:
        user = db.scalar(select(User).where(User.email == "ada@example.com"))
        assert user is not None
        user.must_enroll = True
    assert login_password(client, "ada@example.com").headers["location"] == "/enroll"


def test_set_up_now_from_the_reminder_enrolls_the_app(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    set_policy(ctx, twofa_grace_days=14)
    make_user(ctx)
    login_password(client, "ada@example.com")
    assert 'href="/enroll"' in client.get("/reminder").text
    assert client.get("/enroll").status_code == 200
    secret = enroll_totp(client, clock)
    assert client.get("/reminder", follow_redirects=False).headers["location"] == "/account"
    sign_out(client)
    clock.advance(seconds=30)
    assert login_password(client, "ada@example.com").headers["location"] == "/login/code"
    assert submit_code(client, code_for(secret, clock)).headers["location"] == "/account"


# --- the policy follows the administrator -------------------------------------------------------


def test_non_admin_gets_403_on_every_rollout_page(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    make_user(ctx)
    login_password(client, "ada@example.com")
    enroll_totp(client, clock)
    for path in ["/admin/policy", "/admin/missing", "/admin/missing.csv", "/admin/roles"]:
        assert client.get(path).status_code == 403, path
    token = csrf_of(client.get("/account").text)
    response = client.post("/admin/policy", data={"csrf_token": token, "twofa_required": "optional"})
    assert response.status_code == 403
    with ctx.db.transaction() as db:
        assert db.scalar(select(AuditEvent).where(AuditEvent.event == "authz_fail")) is not None


def test_admin_on_a_password_only_session_must_reauthenticate(client: TestClient, ctx: Context) -> None:
    set_policy(ctx, twofa_required="optional")
    make_user(ctx, "root@example.com", admin=True)
    login_password(client, "root@example.com")
    response = client.get("/admin/policy", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/account/reauth?next=/admin/policy")


def policy_form(page_html: str, **changes: Any) -> dict[str, Any]:
    """The form as the page shows it (checked boxes, current values), with some fields changed."""
    data: dict[str, Any] = {"csrf_token": csrf_of(page_html)}
    for name, value in re.findall(r'<input id="([a-z_]+)" name="\1" type="text"[^>]*value="([^"]*)"', page_html):
        data[name] = value
    for name in re.findall(r'name="(password_[a-z_]+)" type="checkbox" value="1" checked', page_html):
        data[name] = "1"
    checked = re.search(r'name="twofa_required" value="([a-z]+)" checked', page_html)
    data["twofa_required"] = checked.group(1) if checked else "all"
    data["twofa_allowed_methods"] = re.findall(r'name="twofa_allowed_methods" value="([a-z]+)" checked', page_html)
    data.update(changes)
    return data


def test_admin_saves_the_policy_and_the_next_sign_in_follows_it(
    app: FastAPI, client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    admin = admin_client(app, ctx, clock)
    page = admin.get("/admin/policy")
    assert page.status_code == 200
    form = policy_form(
        page.text,
        twofa_required="roles",
        twofa_required_roles="Sensitive-Data, finance",
        twofa_grace_days="10",
        remember_device_days="7",
        twofa_allowed_methods=["totp", "sms"],
    )
    saved = admin.post("/admin/policy", data=form)
    assert saved.status_code == 200 and "The policy was saved" in saved.text
    assert 'value="finance,sensitive-data"' in saved.text and "changed here" in saved.text
    assert ctx.settings.remember_device_days == 7

    make_user(ctx, "bob@example.com")
    assert login_password(client, "bob@example.com").headers["location"] == "/account"
    assert "Code by email" not in client.get("/enroll").text
    with ctx.db.transaction() as db:
        event = db.scalar(select(AuditEvent).where(AuditEvent.event == "policy_changed"))
        assert event is not None and "twofa_required_roles" in event.detail


def test_policy_form_refuses_bad_values_next_to_the_field(app: FastAPI, ctx: Context, clock: FrozenClock) -> None:
    admin = admin_client(app, ctx, clock)
    page = admin.get("/admin/policy")
    form = policy_form(
        page.text,
        twofa_grace_days="-1",
        password_min_length="7",
        twofa_required="roles",
        twofa_required_roles="",
        twofa_immediate_roles="Bad Role!",
    )
    response = admin.post("/admin/policy", data=form)
    assert response.status_code == 422
    assert 'aria-describedby="twofa_grace_days-error twofa_grace_days-hint"' in response.text
    assert "Enter a whole number from 0 to 3650." in alerts(response.text)
    assert "Enter a whole number from 8 to 128." in alerts(response.text)
    assert any(a.endswith("Not valid: Bad Role!") for a in alerts(response.text))
    assert "Name at least one role, or require two-step verification for everyone." in alerts(response.text)
    assert policy.policy_view(ctx).overridden == frozenset()


def test_policy_form_without_csrf_token_changes_nothing(app: FastAPI, ctx: Context, clock: FrozenClock) -> None:
    admin = admin_client(app, ctx, clock)
    form = policy_form(admin.get("/admin/policy").text, twofa_required="optional")
    form["csrf_token"] = "forged"
    assert admin.post("/admin/policy", data=form).status_code == 400
    assert policy.policy_view(ctx).values["twofa_required"] == "all"


def test_policy_changes_need_a_recent_second_step(app: FastAPI, ctx: Context, clock: FrozenClock) -> None:
    admin = admin_client(app, ctx, clock)
    clock.advance(minutes=6)
    form = policy_form(admin.get("/admin/policy").text, twofa_required="optional")
    response = admin.post("/admin/policy", data=form, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/account/reauth")
    assert policy.policy_view(ctx).values["twofa_required"] == "all"


def test_password_rules_from_the_policy_apply_to_new_passwords(app: FastAPI, ctx: Context, clock: FrozenClock) -> None:
    admin = admin_client(app, ctx, clock)
    form = policy_form(admin.get("/admin/policy").text, password_require_upper="1", password_min_length="16")
    assert admin.post("/admin/policy", data=form).status_code == 200
    for password, problem in [("violet meadow", "too_short"), ("violet staple meadow 42", "needs_upper")]:
        try:
            accounts.create_user(ctx, "new@example.com", password)
        except accounts.AccountError as error:
            assert error.code == problem
        else:
            raise AssertionError(f"{password!r} was accepted")
    assert accounts.create_user(ctx, "new@example.com", "Violet staple meadow 42")


def test_reset_returns_to_the_configuration(app: FastAPI, client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    admin = admin_client(app, ctx, clock)
    form = policy_form(admin.get("/admin/policy").text, twofa_required="optional", remember_device_days="3")
    admin.post("/admin/policy", data=form)
    assert ctx.settings.remember_device_days == 3
    page = admin.get("/admin/policy")
    assert admin.post("/admin/policy/reset", data={"csrf_token": csrf_of(page.text)}).status_code == 200
    assert ctx.settings.remember_device_days == 14
    make_user(ctx, "bob@example.com")
    assert login_password(client, "bob@example.com").headers["location"] == "/enroll"


# --- who is missing, roles ----------------------------------------------------------------------


def test_missing_report_lists_accounts_without_a_method_with_their_status(
    app: FastAPI, client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    admin = admin_client(app, ctx, clock)
    set_policy(ctx, twofa_grace_days=10, twofa_immediate_roles="sensitive-data")
    make_user(ctx, "ada@example.com")
    accounts.create_user(ctx, "=cmd@example.com", "violet staple meadow 42", roles=["sensitive-data"])
    make_user(ctx, "bob@example.com")
    login_password(client, "bob@example.com")  # starts Bob's grace period
    page = admin.get("/admin/missing")
    assert page.status_code == 200
    assert "root@example.com" not in page.text  # enrolled
    statuses = dict(re.findall(r'<tr data-status="([a-z_]+)">\s*<td><a href="/admin/users/\d+">([^<]+)<', page.text))
    assert statuses == {
        "grace_not_started": "ada@example.com",
        "required_now": "=cmd@example.com",
        "grace": "bob@example.com",
    }
    assert "Grace period until 2026-03-12" in page.text

    export = admin.get("/admin/missing.csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert export.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["email"] for r in rows] == ["'=cmd@example.com", "ada@example.com", "bob@example.com"]
    assert rows[0]["status"] == "required_now" and rows[0]["roles"] == "sensitive-data"
    assert rows[2]["status"] == "grace" and rows[2]["deadline"] == "2026-03-12"

    only_required = list(csv.DictReader(io.StringIO(admin.get("/admin/missing.csv?required=1").text)))
    assert len(only_required) == 3  # "all": everyone must, some later
    set_policy(ctx, twofa_required="optional")
    only_required = list(csv.DictReader(io.StringIO(admin.get("/admin/missing.csv?required=1").text)))
    assert [r["email"] for r in only_required] == ["'=cmd@example.com"]


def test_admin_assigns_roles_and_the_role_rule_applies(
    app: FastAPI, client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    admin = admin_client(app, ctx, clock)
    set_policy(ctx, twofa_required="roles", twofa_required_roles="sensitive-data")
    make_user(ctx)
    page = admin.get("/admin/roles?email=ada@example.com")
    response = admin.post(
        "/admin/roles",
        data={"csrf_token": csrf_of(page.text), "email": "ada@example.com", "roles": "sensitive-data, finance"},
    )
    assert response.status_code == 200
    assert "Roles of ada@example.com: finance, sensitive-data." in response.text
    assert roles.roles_of_email(ctx, "ada@example.com") == ["finance", "sensitive-data"]
    assert login_password(client, "ada@example.com").headers["location"] == "/enroll"


def test_roles_page_refuses_bad_input_next_to_the_field(app: FastAPI, ctx: Context, clock: FrozenClock) -> None:
    admin = admin_client(app, ctx, clock)
    make_user(ctx)
    token = csrf_of(admin.get("/admin/roles").text)
    cases = [
        ({"email": "nobody@example.com", "roles": "staff"}, "There is no account with this email address."),
        ({"email": "ada@example.com", "roles": "Staff Team!"}, "Not valid: Staff Team!"),
        ({"email": "ada@example.com", "roles": "admin"}, "Administrator rights are granted and revoked"),
        ({"email": "root@example.com", "roles": ""}, "Administrator rights are granted and revoked"),
    ]
    for data, expected in cases:
        response = admin.post("/admin/roles", data={"csrf_token": token, **data})
        assert response.status_code == 422, data
        assert any(expected in a for a in alerts(response.text)), (data, alerts(response.text))
    assert roles.roles_of_email(ctx, "ada@example.com") == []
    assert roles.roles_of_email(ctx, "root@example.com") == ["admin"]


def test_the_last_administrator_cannot_lose_the_role(ctx: Context) -> None:
    make_user(ctx, "root@example.com", admin=True)
    try:
        roles.set_roles(ctx, "root@example.com", ["staff"])
    except roles.RoleError as error:
        assert error.code == "last_admin"
    else:
        raise AssertionError("the last admin lost the role")
    make_user(ctx, "second@example.com", admin=True)
    assert roles.set_roles(ctx, "root@example.com", ["staff"]) == (["admin"], ["staff"])
