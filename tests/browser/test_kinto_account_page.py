"""The Kinto page in a real browser: "My account → OTP configuration" shows the active token, and the
setup instructions download from there — here in Polish, as the Kinto page itself is written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.flows import sign_in, sign_up_and_enroll
from twostep.domain.clock import FrozenClock
from twostep.i18n import gettext_for
from twostep.services.core.context import Context

pytestmark = pytest.mark.browser


def test_account_page_shows_the_active_method_and_gives_the_instructions_in_polish(
    page: Page, browser: Browser, live_server: str, ctx: Context, clock: FrozenClock, tmp_path: Path
) -> None:
    secret = sign_up_and_enroll(page, live_server, ctx, clock, "jan@example.com")
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server, clock, "jan@example.com", secret)
    expect(page.get_by_role("heading", name="My account", level=1)).to_be_visible()

    # The active token: its type, which account it is in the app, when added and last used.
    methods = page.get_by_role("table", name="Your second-step methods")
    row = methods.locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row.get_by_role("rowheader")).to_have_text("Authenticator app")
    expect(row).to_contain_text(f"{ctx.service_name} (jan@example.com)")
    expect(row).to_contain_text("Mar 2, 2026")
    expect(row).to_contain_text("UTC")
    assert secret not in page.content()

    # The instructions, in Polish, from the same section.
    link = page.get_by_role("link", name="Polski (PDF)")
    expect(link).to_have_attribute("href", "/help/two-step-setup.pdf?lang=pl")
    # Fetched through the page's own request context (same cookies, same browser) rather than opened in
    # Chromium's PDF viewer, whose extension process made headless runs hang now and then under load.
    response = page.request.get(live_server + (link.get_attribute("href") or ""))
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-language"] == "pl"
    body = response.body()
    assert body.startswith(b"%PDF")
    pdf = tmp_path / "instrukcja.pdf"
    pdf.write_bytes(body)
    text = " ".join(
        subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True, timeout=60)
        .stdout.decode("utf-8")
        .split()
    )
    assert gettext_for("pl")("What is two-step verification?") in text
    assert "Google Authenticator" in text and "Microsoft Authenticator" in text

    # Also on the sign-in screens before signing in, as on the Kinto page.
    fresh = browser.new_context(locale="pl-PL")
    anonymous = fresh.new_page()
    anonymous.goto(live_server + "/login")
    expect(anonymous.locator("html")).to_have_attribute("lang", "pl")
    hrefs = anonymous.locator("a[href^='/help/two-step-setup.pdf']").evaluate_all("links => links.map(a => a.href)")
    assert hrefs and all(h.endswith("?lang=pl") for h in hrefs)
    fresh.close()
