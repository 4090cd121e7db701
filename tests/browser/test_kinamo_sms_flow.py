"""The Kinamo flow in a real browser: an existing customer sets a new password with a security code
sent by email, signs in, chooses SMS as the second step with a +32 number, receives the code through
the app's SMS sender, and signs in with a texted code."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.flows import prove_mailbox
from tests.oob_helpers import reset_code_in, texted_code
from tests.support import RecordingMail, RecordingSms
from twostep.domain.clock import FrozenClock
from twostep.services.core import accounts
from twostep.services.core.context import Context

pytestmark = pytest.mark.browser
NEW_PASSWORD = "copper lantern orchard 7"
NUMBER = "+32470123456"


def sign_in(page: Page, live_server: str) -> None:
    page.goto(live_server + "/login")
    page.get_by_label("Email address").fill("klant@example.be")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_reset_password_then_choose_sms_and_sign_in_with_a_texted_code(
    page: Page, live_server: str, ctx: Context, clock: FrozenClock, mail: RecordingMail, sms: RecordingSms
) -> None:
    accounts.create_user(ctx, "klant@example.be", "an old password nobody remembers")
    page.goto(live_server + "/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email address").fill("klant@example.be")
    page.get_by_role("button", name="Send the code").click()
    expect(page.get_by_role("status")).to_contain_text("we sent it an email with an 8-character code")
    reset_mail = mail.wait_for("klant@example.be", "reset code")
    page.get_by_label("Security code from the email").fill(reset_code_in(reset_mail.text))
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password was changed")

    sign_in(page, live_server)
    expect(page.get_by_role("heading", name="Set up two-step verification")).to_be_visible()
    page.get_by_role("link", name="Code by text message (SMS)").click()
    prove_mailbox(page, ctx)
    expect(page.locator("#sms-risk")).to_contain_text("less safe than an authenticator app")
    page.get_by_label("Mobile number").fill("+32 470 12 34 56")
    page.get_by_role("button", name="Send the code").click()
    expect(page.get_by_role("status")).to_contain_text("+32 470 12 34 56")  # in full while enrolling
    assert sms.sent[-1].to == NUMBER
    page.get_by_label("Verification code").fill(texted_code(sms, NUMBER))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("status")).to_contain_text("Done!")
    page.get_by_label("I have saved these codes").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    clock.advance(seconds=61)
    sign_in(page, live_server)
    expect(page.locator("#code-help")).to_contain_text("+32 ••• •• •• 56")
    page.get_by_role("button", name="Text me a code").click()
    expect(page.get_by_role("status")).to_contain_text("We sent a 6-digit code by text message to +32 ••• •• •• 56")
    assert page.url == f"{live_server}/login/code?sent=1"  # POST-redirect-GET: no /send in the address bar
    assert sms.sent[-1].text.endswith("is your Acme verification code. It expires in 10 minutes.\n\n@127.0.0.1:8000 #"
                                      + texted_code(sms, NUMBER))
    page.get_by_label("Verification code").fill(texted_code(sms, NUMBER))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
