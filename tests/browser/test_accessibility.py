"""Accessibility in a real browser: axe-core (the npm package, injected into each page) on every page,
in its normal and its error states, failing on any violation; the sign-in done with the keyboard
alone, with a visible focus; and sign-in plus enrollment with JavaScript turned off.

axe is injected as an inline script, which our Content-Security-Policy rightly blocks, so the axe
contexts bypass CSP. The keyboard test keeps CSP on and fails on any CSP violation in the console.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from tests.browser.flows import (
    Auditor,
    axe_source,
    axe_violations,
    password_step,
    prove_mailbox,
    secret_from_page,
    sign_in,
    sign_up_and_enroll,
)
from tests.browser.test_totp_sign_in_flow import oathtool_code
from tests.support import PASSWORD
from twostep.domain.clock import FrozenClock
from twostep.services.core import accounts
from twostep.services.core.context import Context

pytestmark = pytest.mark.browser


@pytest.fixture
def axe_context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900}, bypass_csp=True)
    yield context
    context.close()


@pytest.fixture
def audited(axe_context: BrowserContext) -> Iterator[tuple[Page, Auditor]]:
    page = axe_context.new_page()
    page.set_default_timeout(10_000)
    auditor = Auditor(page)
    yield page, auditor
    auditor.assert_clean()


def test_axe_reports_what_it_should(axe_context: BrowserContext) -> None:
    """The harness itself: a page with an unlabelled input and low-contrast text must fail."""
    page = axe_context.new_page()
    page.set_content(
        '<html lang="en"><head><title>t</title></head><body><main><h1>t</h1>'
        '<input type="text"><p class="x">faint</p></main></body></html>'
    )
    page.add_style_tag(content=".x { color: #bbbbbb; }")
    found = {v["id"] for v in axe_violations(page, axe_source())}
    assert {"label", "color-contrast"} <= found, found


def test_signed_out_and_error_pages_pass_axe(
    audited: tuple[Page, Auditor], live_server: str, ctx: Context
) -> None:
    page, axe = audited
    page.goto(live_server + "/login")
    axe.check("/login")
    page.get_by_label("Email address").fill("nobody@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    axe.check("/login (wrong password)")
    page.get_by_label("Email address").fill("")
    page.get_by_role("button", name="Sign in").click()
    axe.check("/login (empty email)")
    for path in ["/login?lang=pl", "/login?lang=nl", "/login?lang=sv&notice=signed_out"]:
        page.goto(live_server + path)
        axe.check(path)
    page.goto(live_server + "/login?lang=en")
    page.goto(live_server + "/password/forgot")
    axe.check("/password/forgot")
    page.locator("form button[type=submit]").first.click()
    axe.check("/password/forgot (submitted empty)")
    page.goto(live_server + "/password/reset")
    axe.check("/password/reset")
    page.goto(live_server + "/no/such/page")
    axe.check("404")
    page.goto(live_server + "/setup/not-a-valid-link")
    axe.check("/setup (invalid link)")
    link = accounts.issue_setup_link(ctx)
    assert link is not None
    page.goto(live_server + link.removeprefix(ctx.settings.base_url))
    axe.check("/setup")
    page.get_by_label("Email address").fill("admin@example.com")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Repeat the password").fill("different")
    page.get_by_role("button", name="Create account").click()
    axe.check("/setup (errors)")


def test_enrollment_and_sign_in_pages_pass_axe(
    audited: tuple[Page, Auditor], live_server: str, ctx: Context, clock: FrozenClock
) -> None:
    page, axe = audited
    accounts.create_user(ctx, "ada@example.com", PASSWORD)
    password_step(page, live_server, "ada@example.com")
    axe.check("/enroll")
    page.goto(live_server + "/enroll/totp")
    prove_mailbox(page, ctx, axe.check)
    for path in ["/enroll/email", "/enroll/sms"]:
        page.goto(live_server + path)
        axe.check(path)
    page.goto(live_server + "/enroll/totp")
    axe.check("/enroll/totp")
    page.get_by_text("Can't scan the code?").click()
    page.get_by_label("Enter the 6-digit code from the app").fill("000000")
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("alert")).to_be_visible()
    axe.check("/enroll/totp (wrong code, key shown)")
    secret = secret_from_page(page)
    page.get_by_label("Enter the 6-digit code from the app").fill(oathtool_code(secret, clock))
    page.get_by_role("button", name="Activate").click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    axe.check("enrolled confirmation with recovery codes")
    page.get_by_role("button", name="Sign out").click()
    axe.check("/login (signed out)")

    clock.advance(seconds=30)
    password_step(page, live_server, "ada@example.com")
    axe.check("/login/code")
    page.get_by_label("Verification code").fill("000000")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_be_visible()
    axe.check("/login/code (wrong code)")
    page.get_by_role("link", name="Can't get a code?").click()
    axe.check("/login/recover")
    page.get_by_role("textbox", name="Recovery code").fill("AAAA-BBBB-CCCC-DDDD")
    page.locator("form button[type=submit]").first.click()
    axe.check("/login/recover (wrong code)")


def test_account_pages_pass_axe(
    audited: tuple[Page, Auditor], live_server: str, ctx: Context, clock: FrozenClock, browser: Browser
) -> None:
    page, axe = audited
    secret = sign_up_and_enroll(page, live_server, ctx, clock, "ada@example.com")
    page.goto(live_server + "/account")
    axe.check("/account (one method)")
    other = browser.new_context()
    sign_in(other.new_page(), live_server, clock, "ada@example.com", secret, remember=True)
    other.close()
    page.goto(live_server + "/account?notice=device_revoked")
    axe.check("/account (device, two sessions, notice)")
    page.goto(live_server + "/account/password")
    axe.check("/account/password")
    page.get_by_label("Current password").fill("wrong")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_be_visible()
    axe.check("/account/password (errors)")
    page.goto(live_server + "/account/recovery-codes")
    axe.check("/account/recovery-codes")
    page.get_by_role("button", name="Create new codes").click()
    axe.check("/account/recovery-codes (new codes)")
    page.goto(live_server + "/account/methods/1/remove")
    axe.check("/account/methods/…/remove (the only method)")

    clock.advance(minutes=6)
    page.goto(live_server + "/account")
    axe.check("/account (not re-authenticated)")
    page.goto(live_server + "/account/password")
    axe.check("/account/reauth (password)")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_be_visible()
    axe.check("/account/reauth (wrong password)")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    axe.check("/account/reauth (code)")
    page.get_by_label("Verification code").fill("000000")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("alert")).to_be_visible()
    axe.check("/account/reauth (wrong code)")

    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(live_server + "/account")
    axe.check("/account at 375px")


def overflow(page: Page) -> list[str]:
    """Elements sticking out to the right of the viewport (ignoring ones inside a scroll box)."""
    return list(
        page.evaluate(
            """() => {
                const width = document.documentElement.clientWidth;
                const out = [];
                for (const el of document.querySelectorAll('body *')) {
                    if (el.closest('.table-scroll')) continue;
                    if (el.getBoundingClientRect().right > width + 0.5) out.push(el.tagName + '.' + el.className);
                }
                if (document.documentElement.scrollWidth > width) out.push('page scrolls sideways');
                return out;
            }"""
        )
    )


def test_pages_fit_a_phone_screen(
    browser: Browser, live_server: str, ctx: Context, clock: FrozenClock
) -> None:
    """375 px wide (an iPhone SE / mini): nothing scrolls sideways, and axe still finds nothing."""
    context = browser.new_context(locale="en-US", viewport={"width": 375, "height": 740}, bypass_csp=True)
    page = context.new_page()
    axe = Auditor(page)
    wide: dict[str, list[str]] = {}

    def check(name: str) -> None:
        axe.check(name)
        if found := overflow(page):
            wide[name] = found

    page.goto(live_server + "/login?lang=pl")
    check("/login (pl)")
    page.goto(live_server + "/login?lang=en")
    accounts.create_user(ctx, "ada@example.com", PASSWORD)
    password_step(page, live_server, "ada@example.com")
    check("/enroll")
    page.get_by_role("link", name="Authenticator app").click()
    prove_mailbox(page, ctx, check)
    page.get_by_text("Can't scan the code?").click()
    check("/enroll/totp")
    secret = secret_from_page(page)
    page.get_by_label("Enter the 6-digit code from the app").fill(oathtool_code(secret, clock))
    page.get_by_role("button", name="Activate").click()
    check("enrolled")
    page.get_by_role("button", name="Sign out").click()
    clock.advance(seconds=30)
    password_step(page, live_server, "ada@example.com")
    check("/login/code")
    page.get_by_label("Verification code").fill(oathtool_code(secret, clock))
    page.get_by_label("Remember this device for 14 days").check()
    page.get_by_role("button", name="Verify").click()
    for path in ["/account", "/account?lang=pl", "/account/password?lang=en", "/account/recovery-codes"]:
        page.goto(live_server + path)
        check(path)
    page.get_by_role("button", name="Create new codes").click()
    check("new recovery codes")
    clock.advance(minutes=6)
    page.goto(live_server + "/account/reauth")
    check("/account/reauth")
    context.close()
    assert not wide, wide
    axe.assert_clean()


def test_administration_pages_pass_axe(
    audited: tuple[Page, Auditor], live_server: str, ctx: Context, clock: FrozenClock
) -> None:
    page, axe = audited
    sign_up_and_enroll(page, live_server, ctx, clock, "admin@example.com")
    with ctx.db.transaction() as db:
        admin = accounts.find_user_by_email(db, "admin@example.com")
        assert admin is not None
        from twostep.storage.models import UserRole

        db.add(UserRole(user_id=admin.id, role=accounts.ADMIN))
        admin_id = admin.id
    bob_id = accounts.create_user(ctx, "bob@example.com", PASSWORD)
    from twostep.services.oidc import clients

    clients.create(ctx, "Wiki", ["https://wiki.example.org/cb", "http://127.0.0.1:8400/cb"])
    for path in [
        "/admin",
        "/admin?q=bob",
        f"/admin/users/{admin_id}",
        f"/admin/users/{bob_id}",  # with "Mark the email address verified"
        "/admin/audit",
        "/admin/policy",
        "/admin/missing",
        "/admin/roles",
        "/admin/api-keys",
        "/admin/oidc",
        "/api/docs",
    ]:
        page.goto(live_server + path)
        axe.check(path)
    page.goto(live_server + "/admin/oidc")
    page.get_by_label("Test this redirect URI: the address the application sends").fill("https://wiki.example.org/cb/")
    page.get_by_role("button", name="Test this redirect URI").click()
    page.get_by_role("status").filter(has_text="a trailing /").wait_for()
    axe.check("/admin/oidc: a redirect URI tested")


# --- keyboard only -------------------------------------------------------------------------------


def focused(page: Page) -> dict[str, str]:
    return dict(
        page.evaluate(
            """() => {
                const el = document.activeElement;
                const style = getComputedStyle(el);
                return {id: el.id, tag: el.tagName.toLowerCase(), type: el.type || '',
                        outline: style.outlineStyle, width: style.outlineWidth, text: el.textContent.trim()};
            }"""
        )
    )


def tab_to(page: Page, element_id: str, limit: int = 15) -> None:
    """Press Tab until the element has focus, checking the focus ring of everything passed."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        assert now["outline"] != "none" and float(now["width"].removesuffix("px")) >= 2, f"no visible focus: {now}"
        if now["id"] == element_id:
            return
    raise AssertionError(f"#{element_id} not reached with {limit} presses of Tab")


def test_sign_in_with_the_keyboard_alone(browser: Browser, live_server: str, ctx: Context, clock: FrozenClock) -> None:
    context = browser.new_context(locale="en-US", viewport={"width": 1000, "height": 800})
    setup = context.new_page()
    secret = sign_up_and_enroll(setup, live_server, ctx, clock, "ada@example.com")
    setup.close()
    context.clear_cookies()
    page = context.new_page()
    csp_errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            csp_errors.append(message.text)

    page.on("console", on_console)
    page.goto(live_server + "/login")
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "Skip to content"  # the first stop skips the header
    tab_to(page, "email")
    page.keyboard.type("ada@example.com")
    tab_to(page, "password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server}/login/code")
    assert focused(page)["id"] == "code"  # autofocus: type the code straight away
    # "Remember this device" sits just before the field (the code submits itself at its sixth digit).
    page.keyboard.press("Shift+Tab")
    assert focused(page)["id"] == "remember_device"
    page.keyboard.press("Space")
    expect(page.locator("#remember_device")).to_be_checked()
    tab_to(page, "code")
    clock.advance(seconds=30)
    page.keyboard.type(oathtool_code(secret, clock))  # no Enter: the sixth digit submits
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
    assert csp_errors == []
    context.close()


# --- without JavaScript --------------------------------------------------------------------------


def test_sign_in_and_enrollment_work_without_javascript(
    browser: Browser, live_server: str, ctx: Context, clock: FrozenClock
) -> None:
    context = browser.new_context(locale="en-US", java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    link = accounts.issue_setup_link(ctx)
    assert link is not None
    page.goto(live_server + link.removeprefix(ctx.settings.base_url))
    page.get_by_label("Email address").fill("admin@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("link", name="Authenticator app").click()
    page.get_by_text("Can't scan the code?").click()  # <details>: no script needed
    expect(page.locator("#totp-secret")).to_be_visible()
    secret = secret_from_page(page)
    assert page.locator("#totp-secret").inner_text().replace(" ", "") == secret
    page.get_by_label("Enter the 6-digit code from the app").fill(oathtool_code(secret, clock))
    page.get_by_role("button", name="Activate").click()
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
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
    page.get_by_role("navigation", name="Language").get_by_role("link", name="Polski").click()
    expect(page.locator("html")).to_have_attribute("lang", "pl")
    context.close()
