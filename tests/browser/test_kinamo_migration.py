"""The Kinamo migration in a real browser: customers imported from the old system (which signed in
with a username) are guided to sign in with their email address, set a new password with a code
sent by email, and must set up two-step verification at that first sign-in. A customer whose old
password hash and authenticator came along signs in with both, unchanged."""

from __future__ import annotations

import csv
from pathlib import Path

import bcrypt
import pytest
from playwright.sync_api import Page, expect

from tests.browser.flows import prove_mailbox
from tests.browser.test_totp_sign_in_flow import oathtool_code
from tests.oob_helpers import reset_code_in
from tests.support import RecordingMail
from twostep.domain.clock import FrozenClock
from twostep.services.admin import importer
from twostep.services.core.context import Context

pytestmark = pytest.mark.browser
NEW_PASSWORD = "copper lantern orchard 7"
OLD_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def import_customers(ctx: Context, tmp_path: Path) -> None:
    path = tmp_path / "kinamo-customers.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "language", "username", "password_hash", "totp_secret"])
        writer.writerow(["klant@example.be", "Klant NV", "en", "KIN-1042", "", ""])
        old_hash = bcrypt.hashpw(b"old kinamo password", bcrypt.gensalt(4)).decode()
        writer.writerow(["trouw@example.be", "Trouw BV", "en", "KIN-2001", old_hash, OLD_SECRET])
    report = importer.import_users(ctx, path)
    assert (report.created, report.refused) == (2, [])


def sign_in_form(page: Page, live_server: str, name: str, password: str) -> None:
    page.goto(live_server + "/login")
    page.get_by_label("Email address").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_imported_customer_moves_from_username_to_email_sets_a_password_and_must_enroll(
    page: Page, live_server: str, ctx: Context, clock: FrozenClock, mail: RecordingMail, tmp_path: Path
) -> None:
    import_customers(ctx, tmp_path)

    # The old habit: the customer number as the user name.
    sign_in_form(page, live_server, "KIN-1042", "old kinamo password")
    expect(page.get_by_role("alert")).to_have_text(
        "Sign in with your email address now; forgot which one? Contact help@acme.test."
    )
    expect(page.get_by_label("Email address")).to_have_attribute("aria-invalid", "true")

    # The email address alone doesn't help: the imported account has no usable password.
    sign_in_form(page, live_server, "klant@example.be", "old kinamo password")
    expect(page.get_by_role("alert")).to_have_text("The email address or password is not correct.")

    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email address").fill("klant@example.be")
    page.get_by_role("button", name="Send the code").click()
    expect(page.get_by_role("status")).to_contain_text("8-character code")
    reset_mail = mail.wait_for("klant@example.be", "reset code")
    page.get_by_label("Security code from the email").fill(reset_code_in(reset_mail.text))
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password was changed")

    sign_in_form(page, live_server, "klant@example.be", NEW_PASSWORD)
    expect(page.get_by_role("heading", name="Set up two-step verification")).to_be_visible()
    page.goto(live_server + "/account")  # no way around it
    expect(page.get_by_role("heading", name="Set up two-step verification")).to_be_visible()
    page.get_by_role("link", name="Authenticator app").click()
    prove_mailbox(page, ctx)  # a second email: see the note on carrying the reset's proof over
    uri = page.locator("img[data-otpauth-uri]").get_attribute("data-otpauth-uri") or ""
    secret = uri.split("secret=", 1)[1].split("&", 1)[0]
    page.get_by_label("Enter the 6-digit code from the app").fill(oathtool_code(secret, clock))
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("status")).to_contain_text("Done!")
    page.get_by_label("I have saved these codes").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
    expect(page.get_by_text("Signed in as klant@example.be")).to_be_visible()


def test_imported_customer_keeps_the_old_password_and_authenticator_entry(
    page: Page, live_server: str, ctx: Context, clock: FrozenClock, tmp_path: Path
) -> None:
    import_customers(ctx, tmp_path)
    sign_in_form(page, live_server, "trouw@example.be", "old kinamo password")
    page.get_by_label("Verification code").fill(oathtool_code(OLD_SECRET, clock))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
    expect(page.locator("tr.method[data-kind=totp]")).to_have_count(1)
