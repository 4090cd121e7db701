"""The Kintone flow in a real browser: enable two-step verification with codes to a separate email
address (the sign-in address is refused, with the reason), receive the code, enter it, then sign in
again with a code mailed to that address."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.flows import prove_mailbox
from tests.oob_helpers import mailed_code
from tests.support import PASSWORD, RecordingMail
from twostep.domain.clock import FrozenClock
from twostep.services.core import accounts
from twostep.services.core.context import Context

pytestmark = pytest.mark.browser
CODES = "ada.codes@example.org"


def sign_in(page: Page, live_server: str) -> None:
    page.goto(live_server + "/login")
    page.get_by_label("Email address").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_codes_by_email_to_a_separate_address(
    page: Page, live_server: str, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    accounts.create_user(ctx, "ada@example.com", PASSWORD)
    sign_in(page, live_server)
    page.get_by_role("link", name="Code by email to a separate address").click()
    prove_mailbox(page, ctx)
    expect(page.get_by_role("heading", name="Get sign-in codes by email")).to_be_visible()

    page.get_by_label("Email address for your codes").fill("ada@example.com")
    page.get_by_role("button", name="Send the code").click()
    expect(page.get_by_role("alert")).to_contain_text("Use a different address from the one you sign in with")
    assert [m.to for m in mail.sent] == ["ada@example.com"]  # only the mailbox check

    page.get_by_label("Email address for your codes").fill(CODES)
    page.get_by_role("button", name="Send the code").click()
    expect(page.get_by_role("status")).to_contain_text("We sent a 6-digit code to ada.codes@example.org")
    assert mail.last_to(CODES).subject == "[Acme] Verification code"
    page.get_by_label("Verification code").fill(mailed_code(mail, CODES))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status")).to_contain_text("Done!")
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.get_by_label("I have saved these codes").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    clock.advance(seconds=61)
    sign_in(page, live_server)
    expect(page.get_by_role("status")).to_contain_text("We sent a 6-digit code to a••••••••@example.org")
    page.get_by_label("Verification code").fill(mailed_code(mail, CODES))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
