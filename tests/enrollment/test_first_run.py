"""First run: the one-time setup link creates the first administrator, who must then enroll."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support import PASSWORD, alerts, csrf_of
from twostep.services.core import accounts
from twostep.services.core.context import Context


def submit_setup(client: TestClient, path: str, password: str = PASSWORD, confirm: str | None = None):  # type: ignore[no-untyped-def]
    page = client.get(path)
    return client.post(path, data={"email": "root@example.com", "password": password,
                                   "password_confirm": confirm if confirm is not None else password,
                                   "csrf_token": csrf_of(page.text)}, follow_redirects=False)


def test_setup_link_creates_first_admin_who_goes_to_enrollment(client: TestClient, ctx: Context) -> None:
    link = accounts.issue_setup_link(ctx)
    assert link
    response = submit_setup(client, link.removeprefix(ctx.settings.base_url))
    assert response.status_code == 303 and response.headers["location"] == "/enroll"
    assert client.get("/account", follow_redirects=False).headers["location"] == "/enroll"
    assert accounts.admin_exists(ctx)


def test_setup_link_works_only_once(client: TestClient, ctx: Context) -> None:
    link = accounts.issue_setup_link(ctx)
    assert link
    path = link.removeprefix(ctx.settings.base_url)
    submit_setup(client, path)
    other = TestClient(client.app, base_url="http://127.0.0.1:8000")
    assert other.get(path).status_code == 404
    assert accounts.issue_setup_link(ctx) is None


def test_setup_refuses_weak_or_mismatched_passwords_next_to_the_field(client: TestClient, ctx: Context) -> None:
    link = accounts.issue_setup_link(ctx)
    assert link
    path = link.removeprefix(ctx.settings.base_url)
    weak = submit_setup(client, path, password="password1234")
    assert weak.status_code == 422
    assert alerts(weak.text) == ["This password is too common and easy to guess. Choose another one."]
    assert 'aria-describedby="password-error password-help"' in weak.text
    mismatch = submit_setup(client, path, confirm="something else entirely")
    assert alerts(mismatch.text) == ["The two passwords are not the same."]
    assert not accounts.admin_exists(ctx)


def test_unknown_setup_token_is_refused(client: TestClient) -> None:
    assert client.get("/setup/not-a-real-token").status_code == 404


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["database"] == "ok"
