"""The administration console in Chromium, at 1280 px and at 390 px (a phone): no page scrolls
sideways (``document.scrollingElement.scrollWidth <= clientWidth``), axe-core finds nothing, a user is
added and a list invited with the keyboard alone, and adding, inviting, bulk actions and the audit
log's details all work with JavaScript turned off.

With ``TWOSTEP_SCREENSHOT_DIR`` set, the page-by-page test also saves a PNG of each page at each width
there (``docs/screenshots/`` holds the ones docs/admin.md shows).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect
from sqlalchemy import select

from tests.browser.flows import Auditor, sign_up_and_enroll
from tests.browser.test_accessibility import focused, tab_to
from tests.support import PASSWORD
from twostep.domain.clock import FrozenClock
from twostep.domain.invitations import Invitee
from twostep.services.admin import appearance, users
from twostep.services.admin.admin import Actor
from twostep.services.core import accounts, audit, throttling
from twostep.services.core.context import Context, RequestInfo
from twostep.storage.models import QueuedInvitation, UserRole

pytestmark = pytest.mark.browser

WIDTHS = {"wide": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1"
)


def make_admin(page: Page, live_server: str, ctx: Context, clock: FrozenClock) -> int:
    """Sign up through the real pages, enroll an authenticator, and become an administrator."""
    sign_up_and_enroll(page, live_server, ctx, clock, "admin@example.com")
    with ctx.db.transaction() as db:
        admin = accounts.find_user_by_email(db, "admin@example.com")
        assert admin is not None
        db.add(UserRole(user_id=admin.id, role=accounts.ADMIN))
        return admin.id


def a_list_of_invitations(ctx: Context, admin_id: int) -> str:
    """An "Invite users" list in every state its page shows (one sent, two that could not be sent, an
    address that already had an account); none still on its way, so the page does not refresh."""
    listed = [Invitee(n, f"invited{n}@example.com", "", None, ()) for n in range(3)]
    listed.append(Invitee(3, "ada.lovelace@example.com", "", None, ()))
    report = users.invite(ctx, Actor(id=admin_id), listed, RequestInfo())
    with ctx.db.transaction() as db:
        for row in db.scalars(select(QueuedInvitation).where(QueuedInvitation.batch == report.batch)):
            if row.state == "queued":
                row.state = "sent" if row.email == "invited0@example.com" else "failed"
    return report.batch


def some_people(ctx: Context, clock: FrozenClock) -> int:
    """A few accounts and events, so the pages have something to show; returns one user's id."""
    ada = accounts.create_user(ctx, "ada.lovelace@example.com", PASSWORD, roles=["finance"])
    for i in range(12):
        accounts.create_user(ctx, f"person{i:02d}@example.com", PASSWORD)
    with ctx.db.transaction() as db:
        for index in range(6):
            audit.record(
                ctx,
                db,
                "authn_login_fail" if index % 2 else "authn_login_success",
                request=RequestInfo(ip=f"192.0.2.{index}", user_agent=IPHONE if index % 3 else CHROME),
                user=accounts.find_user_by_email(db, "ada.lovelace@example.com"),
                outcome="failure" if index % 2 else "success",
                step="password",
            )
        for _ in range(5):
            throttling.record_failure(db, throttling.second_step_key(ada), clock.now())
    return ada


#: The states docs/admin.md shows (the test checks more).
SHOWN = {"dashboard", "users", "add-user-error", "invite-check", "bulk-confirm", "user", "audit-details"}


def save_screenshot(page: Page, path: Path) -> None:
    """The whole page as a small PNG: at most 2,400 px tall, reduced to a 64-colour palette (flat UI
    colours survive it; a screenshot shrinks to about a third)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = page.screenshot(full_page=True, type="png")
    with Image.open(io.BytesIO(raw)) as image:
        cropped = image.crop((0, 0, image.width, min(image.height, 2400))).convert("RGB")
        cropped.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def scrolls_sideways(page: Page) -> bool:
    return bool(page.evaluate("() => document.scrollingElement.scrollWidth > document.scrollingElement.clientWidth"))


@pytest.fixture
def axe_contexts(browser: Browser) -> Iterator[dict[str, BrowserContext]]:
    contexts = {
        name: browser.new_context(locale="en-US", viewport=size, bypass_csp=True) for name, size in WIDTHS.items()
    }  # type: ignore[arg-type]
    yield contexts
    for context in contexts.values():
        context.close()


def test_every_console_page_fits_1280_and_390_pixels_and_passes_axe(
    axe_contexts: dict[str, BrowserContext], live_server: str, ctx: Context, clock: FrozenClock
) -> None:
    shots = os.environ.get("TWOSTEP_SCREENSHOT_DIR", "")
    setup = axe_contexts["wide"].new_page()
    admin_id = make_admin(setup, live_server, ctx, clock)
    ada = some_people(ctx, clock)
    batch = a_list_of_invitations(ctx, admin_id)
    logo = io.BytesIO()
    Image.new("RGB", (160, 48), (23, 73, 140)).save(logo, format="PNG")
    cookies = axe_contexts["wide"].cookies()
    axe_contexts["phone"].add_cookies(cookies)  # type: ignore[arg-type]
    wide: dict[str, str] = {}
    checked: list[str] = []
    for width, context in axe_contexts.items():
        page = context.new_page()
        page.set_default_timeout(10_000)
        axe = Auditor(page)

        def check(name: str, page: Page = page, axe: Auditor = axe, width: str = width) -> None:
            axe.check(f"{name} at {width}")
            checked.append(f"{name} at {width}")
            if scrolls_sideways(page):
                wide[f"{name} at {width}"] = page.url
            if shots and name in SHOWN:
                save_screenshot(page, Path(shots) / f"admin-{name}-{width}.png")

        for name, path in [
            ("dashboard", "/admin"),
            ("users", "/admin/users"),
            ("users-filtered", "/admin/users?status=not_enrolled&role=finance"),
            ("add-user", "/admin/users/new"),
            ("invite", "/admin/users/invite"),
            ("user", f"/admin/users/{ada}"),
            ("own-account", f"/admin/users/{admin_id}"),
            ("audit", "/admin/audit"),
            ("policy", "/admin/policy"),
            ("missing", "/admin/missing"),
            ("roles", "/admin/roles"),
            ("api-keys", "/admin/api-keys"),
            ("applications", "/admin/oidc"),
            ("appearance", "/admin/appearance"),
            ("invite-sent", f"/admin/users/invite/sent/{batch}"),
        ]:
            if name == "appearance":  # with a logo: in the header and as the preview
                appearance.save_logo(ctx, logo.getvalue(), actor_id=admin_id, request=RequestInfo())
            page.goto(live_server + path)
            check(name)
            appearance.remove_logo(ctx, actor_id=admin_id, request=RequestInfo())
        # the states: errors, a checked list, the confirmation page, an open audit detail
        page.goto(live_server + "/admin/users/new")
        page.get_by_label("Email address").fill("not an address")
        page.get_by_role("button", name="Add and send the invitation").click()
        expect(page.get_by_role("alert")).to_be_visible()
        check("add-user-error")
        page.goto(live_server + "/admin/users/invite")
        page.get_by_label("Email addresses, one person per line").fill(
            f"new-{width}@example.com\nBo Berg <bo-{width}@example.com>\nada.lovelace@example.com\nnot-an-address"
        )
        page.get_by_role("button", name="Check the list").click()
        expect(page.get_by_role("heading", name="2 people will be invited")).to_be_visible()
        check("invite-check")
        page.goto(live_server + "/admin/users")
        page.get_by_label("Choose person00@example.com").check()
        page.get_by_label("Choose person01@example.com").check()
        page.get_by_label("Action").select_option("delete")
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", name="Delete 2 accounts?")).to_be_visible()
        check("bulk-confirm")
        page.goto(live_server + f"/admin/users/{ada}")
        page.get_by_role("button", name="Reset two-step verification").click()
        expect(page.get_by_role("alert")).to_be_visible()
        check("user-error")
        page.goto(live_server + "/admin/audit")
        page.locator("#audit-events details summary").first.click()
        check("audit-details")
        axe.assert_clean()
    assert not wide, wide
    assert len(checked) == 2 * 20


def test_add_a_user_and_invite_a_list_with_the_keyboard_alone(
    browser: Browser, live_server: str, ctx: Context, clock: FrozenClock
) -> None:
    context = browser.new_context(locale="en-US", viewport=WIDTHS["phone"])
    page = context.new_page()
    page.set_default_timeout(10_000)
    make_admin(page, live_server, ctx, clock)
    csp_errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            csp_errors.append(message.text)

    page.on("console", on_console)
    page.goto(live_server + "/admin/users/new")
    tab_to(page, "email", limit=30)
    page.keyboard.type("keys@example.com")
    tab_to(page, "name")
    page.keyboard.type("Kay Board")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/admin/users/\d+\?notice=invited$"))
    expect(page.get_by_role("status")).to_contain_text("invitation sent")
    assert "keys@example.com" in ctx.mail.sent[-1].to  # type: ignore[attr-defined]

    page.goto(live_server + "/admin/users/invite")
    tab_to(page, "people", limit=30)
    page.keyboard.type("one@example.com")
    page.keyboard.press("Enter")  # a new line in the textarea, not a submit
    page.keyboard.type("two@example.com")
    tab_to(page, "file")
    page.keyboard.press("Tab")
    assert focused(page)["tag"] == "button"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="2 people will be invited")).to_be_visible()
    send = page.get_by_role("button", name="Send 2 invitations")
    for _ in range(40):
        page.keyboard.press("Tab")
        if focused(page)["text"] == "Send 2 invitations":
            break
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("2 invitations sent.")
    assert send.count() == 0
    assert csp_errors == []
    context.close()


def test_the_console_works_without_javascript(
    browser: Browser, live_server: str, ctx: Context, clock: FrozenClock
) -> None:
    context = browser.new_context(locale="en-US", viewport=WIDTHS["phone"], java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    make_admin(page, live_server, ctx, clock)
    some_people(ctx, clock)
    page.goto(live_server + "/admin")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.get_by_text("Show as a table").first.click()  # <details>: no script needed
    expect(page.locator("#trend-table")).to_be_visible()

    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Users").click()
    page.get_by_role("link", name="Add user").click()
    page.get_by_label("Email address").fill("nojs@example.com")
    page.get_by_role("button", name="Add and send the invitation").click()
    expect(page.get_by_role("status")).to_contain_text("invitation sent")

    page.goto(live_server + "/admin/users")
    page.get_by_label("State").select_option("locked")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.locator("#users tbody tr")).to_have_count(1)
    page.get_by_label("Choose ada.lovelace@example.com").check()
    page.get_by_label("Action").select_option("sign-out")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Sign out everywhere").click()
    expect(page.get_by_role("status")).to_contain_text("1 user done.")

    page.goto(live_server + "/admin/audit")
    page.get_by_label("Event", exact=True).select_option("authn_login_fail")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#audit-events tbody tr")).to_have_count(3)
    expect(page.get_by_text("Safari on iPhone").first).to_be_visible()
    raw = page.locator("#audit-events code.raw").first
    expect(raw).to_be_hidden()
    page.locator("#audit-events summary").first.click()
    expect(raw).to_be_visible()
    context.close()
