"""The Kinto/Azets flow in a real browser: first admin, scan the QR (zbarimg), code from oathtool,
sign out, sign in with "remember this device", and sign in again without a code."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support import PASSWORD
from twostep.domain.clock import FrozenClock
from twostep.services.core import accounts
from twostep.services.core.context import Context

pytestmark = __import__("pytest").mark.browser


def oathtool_code(secret: str, clock: FrozenClock) -> str:
    moment = clock.now().strftime("%Y-%m-%d %H:%M:%S UTC")
    result = subprocess.run(["oathtool", "--totp", "--base32", "--now", moment, secret],
                            capture_output=True, text=True, check=True)
    return result.stdout.strip()


def decode_qr(page: Page, path: Path) -> str:
    page.locator("img[data-otpauth-uri]").screenshot(path=str(path))
    result = subprocess.run(["zbarimg", "--quiet", "--raw", str(path)], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def test_first_admin_enrolls_by_scanning_and_remembered_device_skips_code(
    page: Page, live_server: str, ctx: Context, clock: FrozenClock, tmp_path: Path
) -> None:
    link = accounts.issue_setup_link(ctx)
    assert link is not None
    page.goto(live_server + link.removeprefix(ctx.settings.base_url))
    page.get_by_label("Email address").fill("admin@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("link", name="Authenticator app").click()

    uri = decode_qr(page, tmp_path / "qr.png")
    assert uri == page.locator("img[data-otpauth-uri]").get_attribute("data-otpauth-uri")
    secret_match = re.search(r"secret=([A-Z2-7]+)", uri)
    assert secret_match
    secret = secret_match.group(1)
    page.get_by_text("Can't scan the code?").click()
    assert page.locator("#totp-secret").inner_text().replace(" ", "") == secret

    page.get_by_label("Enter the 6-digit code from the app").fill("000000")
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("alert")).to_contain_text("didn't work")
    page.get_by_label("Enter the 6-digit code from the app").fill(oathtool_code(secret, clock))
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("status")).to_contain_text("Done!")
    expect(page.locator("#recovery-codes li")).to_have_count(10)

    page.get_by_label("I have saved these codes").check()

    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("signed out")

    clock.advance(seconds=30)
    page.get_by_label("Email address").fill("admin@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Verification code").fill(oathtool_code(secret, clock))
    page.get_by_label("Remember this device for 14 days").check()
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    page.get_by_label("Email address").fill("admin@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
