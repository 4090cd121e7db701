"""Issue 18: every user journey in Chromium, at 1280 px and at 390 px, with JavaScript on and off.

Each journey is driven from the keyboard only (fields typed into, links and buttons activated with
Enter or Space, never a mouse click), and on every page state it visits: axe-core finds nothing, and
nothing scrolls sideways (``scrollWidth <= clientWidth``, and no element sticks out). The pages each
journey takes are counted, and the counts are the ones docs/users.md promises:

- first sign-in → enrolled: at most 3 pages after the password;
- lost phone → back in with a new phone: at most 4 pages after the password;
- password reset → signed in: at most 3 pages.

With JavaScript a code field submits itself at the sixth digit typed; without it, Enter submits.
``TWOSTEP_SCREENSHOTS=<directory>`` also saves each main page (1280 and 390 px, JavaScript on) there:
that is how docs/screenshots/ is made (see docs/users.md).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.flows import Auditor
from tests.browser.test_accessibility import overflow
from tests.browser.test_totp_sign_in_flow import oathtool_code
from tests.oob_helpers import add_factor
from tests.support import PASSWORD, RecordingMail
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.services.core import accounts
from twostep.services.core.context import Context
from twostep.services.factors import recovery
from twostep.storage.models import Factor

pytestmark = pytest.mark.browser

WIDTHS = {1280: 860, 390: 844}  # width -> height (a laptop; an iPhone 12-15)
SHOTS = os.environ.get("TWOSTEP_SCREENSHOTS", "")
EMAIL = "ada@example.com"


class Journey:
    """One journey in one browser: counts the pages it goes through (committed navigations) and
    checks every page state it is shown."""

    def __init__(self, page: Page, width: int, javascript: bool, copy: Page | None = None) -> None:
        self.page = page
        self.width = width
        self.javascript = javascript
        self.axe = Auditor(page)
        self.copy = copy  # without JavaScript: a scripted page that axe checks copies of the DOM in
        self.copy_axe = Auditor(copy) if copy is not None else self.axe
        self.wide: dict[str, list[str]] = {}
        self.navigations = 0
        page.on("framenavigated", lambda frame: self._navigated(frame == page.main_frame))

    def _navigated(self, main: bool) -> None:
        if main:
            self.navigations += 1

    def state(self, name: str, shot: str = "") -> None:
        """Check the page as it is now; ``shot``: save it as docs/screenshots/<shot>-<width>.png."""
        self.page.wait_for_load_state()
        label = f"{name} @{self.width}px{'' if self.javascript else ' no-JS'}"
        if self.javascript:
            self.axe.check(label)
        else:  # axe needs a running page: it checks a copy of this very DOM, its script left out
            assert self.copy is not None
            origin = re.match(r"https?://[^/]+", self.page.url)
            assert origin
            if not self.copy.url.startswith(origin.group(0)):
                self.copy.goto(origin.group(0) + "/login")
            html = re.sub(r"<script[^>]*>.*?</script>", "", self.page.content(), flags=re.S)
            self.copy.set_content(html, wait_until="load")
            self.copy_axe.check(label)
        if found := overflow(self.page):
            self.wide[label] = found
        if shot and SHOTS and self.javascript:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            target = Path(SHOTS) / f"{shot}-{self.width}.png"
            image = Image.open(io.BytesIO(self.page.screenshot()))
            image.quantize(colors=64).save(target, optimize=True)  # small: a 64-colour palette

    def type_code(self, code: str, field: str = "#code") -> None:
        """Type a code into a code field from the keyboard: with JavaScript it submits itself at the
        last digit; without, Enter submits the form."""
        self.page.locator(field).focus()
        with self.page.expect_navigation():
            self.page.keyboard.type(code, delay=20)
            if not self.javascript:
                self.page.keyboard.press("Enter")

    def submit_short(self, code: str) -> None:
        """A code too short to submit itself: Enter sends it (a detour, not a page of the journey)."""
        self.page.locator("#code").focus()
        self.page.keyboard.type(code)
        with self.page.expect_navigation():
            self.page.keyboard.press("Enter")
        self.navigations -= 1

    def activate(self, name: str, role: str = "link") -> None:
        """Enter on a link or button (focused the way Tab would reach it), never a click."""
        target = self.page.get_by_role(role, name=name)  # type: ignore[arg-type]
        target.focus()
        with self.page.expect_navigation():
            self.page.keyboard.press("Enter")

    def fill(self, label: str, text: str, *, exact: bool = False) -> None:
        self.page.get_by_label(label, exact=exact).focus()
        self.page.keyboard.type(text)

    def finish(self) -> None:
        self.axe.assert_clean()
        self.copy_axe.assert_clean()
        assert not self.wide, f"pages wider than the screen: {self.wide}"


def _name(param: tuple[int, bool]) -> str:
    return f"{param[0]}px-{'js' if param[1] else 'nojs'}"


@pytest.fixture(params=[(w, js) for w in WIDTHS for js in (True, False)], ids=_name)
def journey(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Journey]:
    width, javascript = request.param
    context: BrowserContext = browser.new_context(
        locale="en-US",
        viewport={"width": width, "height": WIDTHS[width]},
        bypass_csp=True,  # axe is injected as an inline script (tests/browser/test_accessibility.py)
        java_script_enabled=javascript,
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    copy_context = None
    if not javascript:
        copy_context = browser.new_context(
            locale="en-US", viewport={"width": width, "height": WIDTHS[width]}, bypass_csp=True
        )
    flow = Journey(page, width, javascript, copy_context.new_page() if copy_context else None)
    yield flow
    context.close()
    if copy_context:
        copy_context.close()
    flow.finish()


def mailed_code(mail: RecordingMail, address: str = EMAIL) -> str:
    match = re.search(r"\b(\d{6})\b", mail.last_to(address).text)
    assert match
    return match.group(1)


def password_step(flow: Journey, live_server: str, *, shot: str = "") -> None:
    flow.page.goto(live_server + "/login")
    flow.state("/login", shot)
    flow.fill("Email address", EMAIL)
    flow.fill("Password", PASSWORD)
    with flow.page.expect_navigation():
        flow.page.keyboard.press("Enter")


def app_user(ctx: Context) -> tuple[str, list[str]]:
    """An account with an authenticator app and ten recovery codes (made directly, not by the pages)."""
    user_id = accounts.create_user(ctx, EMAIL, PASSWORD)
    secret = totp.new_secret()
    with ctx.db.transaction() as db:
        now = ctx.clock.now()
        db.add(
            Factor(
                user_id=user_id, kind="totp", secret_sealed=ctx.sealer.seal(secret, f"user:{user_id}:totp"),
                created_at=now, confirmed_at=now,
            )
        )  # fmt: skip
        codes = recovery.regenerate(ctx, db, user_id)
    return secret, codes


def check_recovery_codes_page(flow: Journey, name: str) -> None:
    """Copy and Print with JavaScript only; printing prints just the codes (no JavaScript needed);
    "Continue" waits for "I have saved these codes"."""
    page = flow.page
    tools = page.locator(".codes-tools")
    if flow.javascript:
        expect(tools.get_by_role("button", name="Copy")).to_be_visible()
        expect(tools.get_by_role("button", name="Print")).to_be_visible()
    else:
        expect(tools).to_be_hidden()
    page.emulate_media(media="print")
    expect(page.locator("#recovery-codes")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_be_hidden()
    expect(page.locator("header.top")).to_be_hidden()
    page.emulate_media(media="screen")
    continue_button = page.get_by_role("button", name=re.compile("Continue|Back to My account"))
    continue_button.focus()
    page.keyboard.press("Enter")  # not ticked: the browser itself refuses (no JavaScript needed)
    expect(page.locator("#recovery-codes")).to_be_visible()
    assert page.evaluate("document.querySelector('#saved').validity.valueMissing")
    page.get_by_label("I have saved these codes").focus()
    page.keyboard.press("Space")
    flow.state(f"{name} (saved ticked)")


def test_first_sign_in_to_enrolled_takes_three_pages_after_the_password(
    journey: Journey, live_server: str, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    accounts.create_user(ctx, EMAIL, PASSWORD)
    password_step(journey, live_server, shot="login")
    after_password = journey.navigations
    journey.state("/enroll", "enroll")
    journey.activate("Authenticator app")
    # The mailbox code went out with the password: the field is there, focused.
    expect(journey.page.locator("#code")).to_be_focused()
    journey.state("/enroll/mailbox", "enroll-mailbox")
    journey.submit_short("12")
    expect(journey.page.get_by_role("alert")).to_have_text("Codes have 6 digits; you entered 2.")
    expect(journey.page.locator("#code")).to_be_focused()
    journey.state("/enroll/mailbox (wrong length)")
    journey.type_code(mailed_code(mail))
    expect(journey.page.get_by_role("heading", name="Set up your authenticator app")).to_be_visible()
    journey.state("/enroll/totp", "enroll-totp")
    uri = journey.page.locator("img[data-otpauth-uri]").get_attribute("data-otpauth-uri") or ""
    secret = re.search(r"secret=([A-Z2-7]+)", uri).group(1)  # type: ignore[union-attr]
    phone_link = journey.page.get_by_role("link", name="Add to an authenticator on this phone")
    if journey.width < 640:  # phone-first: the otpauth link and the key, no QR to scan
        expect(phone_link).to_be_visible()
        assert phone_link.get_attribute("href") == uri
    else:
        expect(phone_link).to_be_hidden()
    journey.type_code(oathtool_code(secret, clock))
    expect(journey.page.get_by_role("heading", name="Two-step verification is on")).to_be_visible()
    # /enroll (reached by the password step), the mailbox check, the app: "on" is the next page.
    pages = journey.navigations - after_password
    assert pages <= 3, pages
    journey.state("enrolled", "enrolled")
    check_recovery_codes_page(journey, "enrolled")
    with journey.page.expect_navigation():
        journey.page.get_by_role("button", name="Continue").focus()
        journey.page.keyboard.press("Enter")
    expect(journey.page.get_by_role("heading", name="My account")).to_be_visible()
    journey.state("/account", "account")


def test_lost_phone_to_signed_in_with_a_new_phone_takes_four_pages_after_the_password(
    journey: Journey, live_server: str, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    old_secret, codes = app_user(ctx)
    password_step(journey, live_server)
    after_password = journey.navigations
    expect(journey.page.get_by_text(f"Signing in as {EMAIL}.")).to_be_visible()
    expect(journey.page.get_by_role("button", name="Not you?")).to_be_visible()
    journey.state("/login/code (app)", "code-app")
    journey.activate("Can't get a code?")
    journey.state("/login/recover", "recover")
    journey.page.get_by_label("Recovery code", exact=True).focus()
    journey.page.keyboard.type(codes[0])
    with journey.page.expect_navigation():
        journey.page.keyboard.press("Enter")
    expect(journey.page.get_by_role("status").first).to_contain_text("You signed in with a recovery code")
    journey.state("I lost my phone", "lost-phone")
    journey.activate("I lost my phone: remove it and set up a new one", role="button")
    expect(journey.page.get_by_role("heading", name="Set up your authenticator app")).to_be_visible()
    expect(journey.page.get_by_role("status").first).to_contain_text("Your old phone was removed")
    journey.state("/enroll/totp (new phone)", "enroll-totp-new-phone")
    uri = journey.page.locator("img[data-otpauth-uri]").get_attribute("data-otpauth-uri") or ""
    new_secret = re.search(r"secret=([A-Z2-7]+)", uri).group(1)  # type: ignore[union-attr]
    assert new_secret != old_secret
    clock.advance(seconds=30)
    journey.type_code(oathtool_code(new_secret, clock))
    expect(journey.page.get_by_role("heading", name="Two-step verification is on")).to_be_visible()
    expect(journey.page.get_by_text("Your earlier recovery codes no longer work.")).to_be_visible()
    # /login/code (reached by the password step), "Can't get a code?", "I lost my phone", the new
    # phone's set-up: "Two-step verification is on" is the next page, signed in.
    pages = journey.navigations - after_password
    assert pages <= 4, pages
    journey.state("enrolled (new phone)")
    check_recovery_codes_page(journey, "enrolled (new phone)")


def test_password_reset_to_signed_in_takes_three_pages(
    journey: Journey, live_server: str, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    secret, _ = app_user(ctx)
    journey.page.goto(live_server + "/login")
    journey.activate("Forgot your password?")
    start = journey.navigations - 1  # /password/forgot is the first page
    journey.state("/password/forgot", "reset-forgot")
    journey.fill("Email address", EMAIL)
    with journey.page.expect_navigation():
        journey.page.keyboard.press("Enter")
    journey.state("/password/reset", "reset-code")
    reset_code = re.search(r"^[ \t]+([A-Z0-9]{8})\s*$", mail.wait_for(EMAIL, "reset code").text, re.MULTILINE).group(1)  # type: ignore[union-attr]
    journey.fill("Security code from the email", reset_code)
    journey.fill("New password", "copper lantern orchard 7", exact=True)
    journey.fill("Repeat the new password", "copper lantern orchard 8")
    with journey.page.expect_navigation():
        journey.page.keyboard.press("Enter")
    # Only the passwords were refused: the emailed code stays typed, the field in error has the focus.
    expect(journey.page.get_by_role("alert")).to_have_text("The two passwords are not the same.")
    expect(journey.page.get_by_label("Security code from the email")).to_have_value(reset_code)
    expect(journey.page.get_by_label("Repeat the new password")).to_be_focused()
    journey.state("/password/reset (passwords differ)")
    journey.navigations -= 1  # a detour
    journey.fill("New password", "copper lantern orchard 7", exact=True)
    journey.fill("Repeat the new password", "copper lantern orchard 7")
    with journey.page.expect_navigation():
        journey.page.keyboard.press("Enter")
    expect(journey.page.get_by_role("heading", name="One more step")).to_be_visible()
    expect(journey.page.get_by_role("button", name="Cancel")).to_be_visible()  # nobody is signed in yet
    expect(journey.page.get_by_text(f"Resetting the password for {EMAIL}.")).to_be_visible()
    expect(journey.page.get_by_role("button", name="Not you?")).to_be_visible()
    journey.state("/password/reset (second step)", "reset-second-step")
    clock.advance(seconds=30)
    journey.type_code(oathtool_code(secret, clock))
    expect(journey.page.get_by_role("heading", name="My account")).to_be_visible()
    expect(journey.page.get_by_role("status").first).to_contain_text("you are signed in")
    pages = journey.navigations - start - 1  # the pages before the signed-in one
    assert pages <= 3, pages
    journey.state("/account (after the reset)")


def test_a_code_sent_by_email_signs_in_with_a_new_code_link_below_the_field(
    journey: Journey, live_server: str, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    user_id = accounts.create_user(ctx, EMAIL, PASSWORD)
    add_factor(ctx, user_id, "email", "ada.codes@example.org")
    password_step(journey, live_server)
    page = journey.page
    expect(page.get_by_role("status")).to_have_text(
        "We sent a 6-digit code to a••••••••@example.org. It is valid for 10 minutes."
    )
    resend = page.get_by_role("button", name="Send a new code")
    expect(page.locator("#resend-wait")).to_be_visible()
    if journey.javascript:  # the wait is counted down, the button waits for it
        expect(resend).to_be_disabled()
    else:
        expect(resend).to_be_enabled()
    # "Send a new code" sits below the field, as a small link-like button.
    field_box, resend_box = page.locator("#code").bounding_box(), resend.bounding_box()
    assert field_box and resend_box and resend_box["y"] > field_box["y"]
    journey.state("/login/code (email sent)", "code-email")
    journey.submit_short("1234")
    expect(page.get_by_role("alert")).to_have_text("Codes have 6 digits; you entered 4.")
    journey.state("/login/code (wrong length)")
    journey.type_code(mailed_code(mail, "ada.codes@example.org"))
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
