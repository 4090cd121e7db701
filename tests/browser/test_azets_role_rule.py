"""The Azets Cozone rule in a real browser: "because you have access to sensitive data, you must set
up two-step verification to keep using the service". An administrator sets the policy (everyone,
with 14 days of grace, but no grace for the sensitive-data role) and gives Anna that role; at her
next sign-in Anna must enroll, while Bertil may choose "Later" during the grace period."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.flows import Auditor
from tests.browser.test_totp_sign_in_flow import oathtool_code
from tests.support import PASSWORD
from twostep.domain.clock import FrozenClock
from twostep.services.admin import importer
from twostep.services.core.context import Context, RequestInfo
from twostep.services.rollout import policy

pytestmark = pytest.mark.browser
ADMIN_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def import_staff(ctx: Context, tmp_path: Path) -> None:
    password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    path = tmp_path / "staff.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "roles", "password_hash", "totp_secret"])
        writer.writerow(["it@example.se", "IT", "admin", password_hash, ADMIN_SECRET])
        writer.writerow(["anna@example.se", "Anna", "", password_hash, ""])
        writer.writerow(["bertil@example.se", "Bertil", "", password_hash, ""])
    assert importer.import_users(ctx, path).created == 3


def password_step(page: Page, live_server: str, email: str) -> None:
    page.goto(live_server + "/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_sensitive_data_role_must_enroll_at_next_sign_in_while_others_may_skip(
    page: Page, live_server: str, ctx: Context, clock: FrozenClock, tmp_path: Path
) -> None:
    import_staff(ctx, tmp_path)

    password_step(page, live_server, "it@example.se")
    page.get_by_label("Verification code").fill(oathtool_code(ADMIN_SECRET, clock))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="My account")).to_be_visible()

    page.goto(live_server + "/admin/policy")
    page.get_by_label("Everyone").check()
    page.get_by_label("Roles that must set it up at their next sign-in, without a grace period").fill("sensitive-data")
    page.get_by_label("Grace period in days").fill("14")
    page.get_by_role("button", name="Save the policy").click()
    expect(page.get_by_role("status")).to_have_text("The policy was saved. It applies from the next sign-in.")

    page.get_by_role("link", name="Roles", exact=True).click()
    page.get_by_label("Email address", exact=True).fill("anna@example.se")
    page.get_by_role("button", name="Show roles").click()  # find the user first, then their roles
    page.get_by_label("Roles", exact=True).fill("sensitive-data")
    page.get_by_role("button", name="Save roles").click()
    expect(page.get_by_role("status")).to_have_text("Roles of anna@example.se: sensitive-data.")
    page.get_by_role("button", name="Sign out").click()

    password_step(page, live_server, "anna@example.se")
    expect(page.get_by_role("heading", name="Set up two-step verification")).to_be_visible()
    expect(page.get_by_role("link", name="Later")).to_have_count(0)
    page.goto(live_server + "/account")
    expect(page.get_by_role("heading", name="Set up two-step verification")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    password_step(page, live_server, "bertil@example.se")
    expect(page.get_by_role("link", name="Set up now")).to_be_visible()
    page.get_by_role("link", name="Later, 14 days left").click()
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    clock.advance(days=14)
    password_step(page, live_server, "bertil@example.se")
    expect(page.get_by_role("heading", name="Set up two-step verification")).to_be_visible()
    expect(page.get_by_role("link", name="Authenticator app")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    password_step(page, live_server, "it@example.se")
    page.get_by_label("Verification code").fill(oathtool_code(ADMIN_SECRET, clock))
    page.get_by_role("button", name="Verify").click()
    page.goto(live_server + "/admin/missing")
    expect(page.locator("#missing tbody tr")).to_have_count(2)
    expect(page.locator('tr[data-status="required_now"]')).to_have_count(2)


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    """axe is injected as an inline script, which our CSP blocks: this context bypasses CSP."""
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900}, bypass_csp=True)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


def test_rollout_pages_have_no_axe_violations(
    axe_page: Page, live_server: str, ctx: Context, clock: FrozenClock, tmp_path: Path
) -> None:
    page = axe_page
    import_staff(ctx, tmp_path)
    policy.save(ctx, {"twofa_grace_days": 14, "twofa_grace_sign_ins": 3}, actor_id=None, request=RequestInfo())
    auditor = Auditor(page)
    password_step(page, live_server, "bertil@example.se")
    expect(page.get_by_role("link", name="Set up now")).to_be_visible()
    auditor.check("reminder")
    page.get_by_role("button", name="Sign out").click()

    password_step(page, live_server, "it@example.se")
    page.get_by_label("Verification code").fill(oathtool_code(ADMIN_SECRET, clock))
    page.get_by_role("button", name="Verify").click()
    page.goto(live_server + "/admin/policy")
    auditor.check("policy")
    page.get_by_label("Grace period in days").fill("-3")
    page.get_by_role("button", name="Save the policy").click()
    expect(page.get_by_role("alert")).to_have_text("Enter a whole number from 0 to 3650.")
    auditor.check("policy with an error")
    page.goto(live_server + "/admin/missing")
    auditor.check("missing")
    page.goto(live_server + "/admin/roles")
    page.get_by_label("Email address", exact=True).fill("nobody@example.se")
    page.get_by_role("button", name="Show roles").click()
    expect(page.get_by_role("alert")).to_have_text("There is no account with this email address.")
    auditor.check("roles with an error")
    auditor.assert_clean()
