"""The ScanSnap flow in a real browser: the phone is lost, "Can't get a code?" → a recovery code →
"I lost my phone" → the new phone is enrolled (QR read with zbarimg, codes from oathtool) → the next
sign-in works with the new phone only."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.flows import prove_mailbox
from tests.support import PASSWORD
from twostep.domain.clock import FrozenClock
from twostep.services.core import accounts
from twostep.services.core.context import Context

pytestmark = __import__("pytest").mark.browser


def oathtool_code(secret: str, clock: FrozenClock) -> str:
    moment = clock.now().strftime("%Y-%m-%d %H:%M:%S UTC")
    result = subprocess.run(
        ["oathtool", "--totp", "--base32", "--now", moment, secret], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def scan_qr(page: Page, path: Path) -> str:
    page.locator("img[data-otpauth-uri]").screenshot(path=str(path))
    result = subprocess.run(["zbarimg", "--quiet", "--raw", str(path)], capture_output=True, text=True, check=True)
    match = re.search(r"secret=([A-Z2-7]+)", result.stdout)
    assert match, result.stdout
    return match.group(1)


def sign_in_with_password(page: Page, live_server: str) -> None:
    page.goto(live_server + "/login")
    page.get_by_label("Email address").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def enroll_phone(page: Page, ctx: Context, clock: FrozenClock, qr_file: Path) -> tuple[str, list[str]]:
    page.get_by_role("link", name="Authenticator app").click()
    prove_mailbox(page, ctx, required=False)  # asked before the first method, not after "lost phone"
    secret = scan_qr(page, qr_file)
    page.get_by_label("Enter the 6-digit code from the app").fill(oathtool_code(secret, clock))
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("status")).to_contain_text("Done!")
    codes = [text.strip() for text in page.locator("#recovery-codes li").all_inner_texts()]
    assert len(codes) == 10
    return secret, codes


def test_lost_phone_recovery_code_new_phone_then_sign_in_with_the_new_phone(
    page: Page, live_server: str, ctx: Context, clock: FrozenClock, tmp_path: Path
) -> None:
    accounts.create_user(ctx, "ada@example.com", PASSWORD)
    sign_in_with_password(page, live_server)
    old_secret, old_codes = enroll_phone(page, ctx, clock, tmp_path / "old.png")
    page.get_by_label("I have saved these codes").check()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Sign out").click()

    # The phone is gone: the code page offers "Can't get a code?".
    clock.advance(seconds=30)
    sign_in_with_password(page, live_server)
    page.get_by_role("link", name="Can't get a code?").click()
    expect(page.get_by_role("heading", name="Can't get a code?")).to_be_visible()
    expect(page.locator("#contact")).to_contain_text("help@acme.test")
    page.get_by_label("Recovery code", exact=True).fill("ZZZZ-ZZZZ-ZZZZ-ZZZZ")
    page.get_by_role("button", name="Sign in with the recovery code").click()
    expect(page.get_by_role("alert")).to_contain_text("didn't work")
    page.get_by_label("Recovery code", exact=True).fill(old_codes[0].lower())
    page.get_by_role("button", name="Sign in with the recovery code").click()
    expect(page.get_by_role("status")).to_contain_text("You signed in with a recovery code")
    expect(page.locator("#codes-left")).to_have_text("Recovery codes left: 9")

    # "I lost my phone": the old authenticator goes, the new one must be set up before anything else.
    expect(page.get_by_label("Authenticator app")).to_be_checked()
    page.get_by_role("button", name="I lost my phone: remove it and set up a new one").click()
    expect(page.get_by_role("heading", name="Set up your authenticator app")).to_be_visible()  # the new phone, at once
    expect(page.get_by_role("status")).to_contain_text("Your old phone was removed")
    page.goto(live_server + "/account")
    expect(page.get_by_role("heading", name="Set up two-step verification")).to_be_visible()
    clock.advance(seconds=30)
    new_secret, new_codes = enroll_phone(page, ctx, clock, tmp_path / "new.png")
    assert new_secret != old_secret and not set(new_codes) & set(old_codes)
    page.get_by_label("I have saved these codes").check()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Sign out").click()

    # Next sign-in: the old phone's code is refused, the new phone's code works.
    clock.advance(seconds=30)
    sign_in_with_password(page, live_server)
    page.get_by_label("Verification code").fill(oathtool_code(old_secret, clock))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_contain_text("didn't work")
    page.get_by_label("Verification code").fill(oathtool_code(new_secret, clock))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
