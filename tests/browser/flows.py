"""Small drivers shared by the browser tests: axe-core, and signing up / in through the real pages."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from tests.browser.test_totp_sign_in_flow import oathtool_code
from tests.support import PASSWORD
from twostep.domain.clock import FrozenClock
from twostep.services.core import accounts
from twostep.services.core.context import Context

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def axe_source() -> str:
    """axe-core from npm (`npm install axe-core@4`, done by .ci/run); a missing copy is a failure."""
    assert AXE.is_file(), f"{AXE} missing: run `npm install --no-audit --no-fund axe-core@4` in the repository"
    return AXE.read_text(encoding="utf-8")


def axe_violations(page: Page, source: str) -> list[dict[str, Any]]:
    """Every axe-core violation on the page as it is now (all rules axe runs by default: WCAG 2.x
    A and AA, including colour contrast, plus best practices)."""
    page.add_script_tag(content=source)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        targets = [json.dumps(node["target"]) for node in v["nodes"][:5]]
        lines.append(f"  {v['id']} ({v['impact']}): {v['help']} -> {', '.join(targets)}")
    return "\n".join(lines)


class Auditor:
    """Runs axe on each page visited and keeps what failed, so one test reports every page at once."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.source = axe_source()
        self.failures: dict[str, str] = {}
        self.checked: list[str] = []

    def check(self, name: str) -> None:
        violations = axe_violations(self.page, self.source)
        self.checked.append(name)
        if violations:
            self.failures[name] = describe(violations)

    def assert_clean(self) -> None:
        report = "\n".join(f"{name}:\n{text}" for name, text in self.failures.items())
        assert not self.failures, f"axe-core violations on {len(self.failures)} page(s):\n{report}"


def secret_from_page(page: Page) -> str:
    uri = page.locator("img[data-otpauth-uri]").get_attribute("data-otpauth-uri") or ""
    match = re.search(r"secret=([A-Z2-7]+)", uri)
    assert match, uri
    return match.group(1)


def sign_up_and_enroll(page: Page, live_server: str, ctx: Context, clock: FrozenClock, email: str) -> str:
    """A new account signs in, sets up the authenticator app and lands on the confirmation; returns the secret."""
    accounts.create_user(ctx, email, PASSWORD)
    password_step(page, live_server, email)
    page.get_by_role("link", name="Authenticator app").click()
    prove_mailbox(page, ctx)
    secret = secret_from_page(page)
    page.get_by_label("Enter the 6-digit code from the app").fill(oathtool_code(secret, clock))
    page.get_by_role("button", name="Activate").click()
    return secret


def prove_mailbox(
    page: Page, ctx: Context, on_page: Callable[[str], None] | None = None, *, required: bool = True
) -> None:
    """On the "confirm it's your email" step (an account's first method): ask for the code, read it
    from the recorded mail, enter it. ``on_page`` is called with a name for each state (axe checks)."""
    if not required and "/enroll/mailbox" not in page.url:
        return
    assert "/enroll/mailbox" in page.url, page.url
    if on_page:
        on_page("/enroll/mailbox")
    page.get_by_role("button", name="Email me a code").click()
    if on_page:
        on_page("/enroll/mailbox (code sent)")
    match = re.search(r"\b(\d{6})\b", ctx.mail.sent[-1].text)  # type: ignore[attr-defined]
    assert match
    page.get_by_label("Code from the email").fill(match.group(1))
    page.get_by_role("button", name="Confirm").click()


def password_step(page: Page, live_server: str, email: str) -> None:
    page.goto(live_server + "/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def sign_in(
    page: Page, live_server: str, clock: FrozenClock, email: str, secret: str, *, remember: bool = False
) -> None:
    clock.advance(seconds=30)
    password_step(page, live_server, email)
    page.get_by_label("Verification code").fill(oathtool_code(secret, clock))
    if remember:
        page.get_by_label("Remember this device for 14 days").check()
    page.get_by_role("button", name="Verify").click()
