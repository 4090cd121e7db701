"""Passkeys in Chromium with the DevTools virtual authenticator (``WebAuthn.addVirtualAuthenticator``:
CTAP2, resident keys, user verification, presence simulated): register, the second step, sign-in
with a passkey alone (button and autofill), user verification refused, a replayed assertion, a
counter that goes backwards, lost key → recovery code → new key, removal behind re-authentication,
and a USB security key as another passkey.

The RP ID can't be an IP address, so these pages are served as http://localhost:<port>.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from tests.browser.conftest import free_port, serve
from tests.browser.flows import Auditor, password_step, prove_mailbox
from tests.browser.passkeys import (
    EMAIL,
    Authenticators,
    add_passkey,
    continue_after_enrolling,
    sign_up_with_passkey,
    without_autofill,
)
from tests.support import PASSWORD, RecordingMail
from twostep.domain.clock import FrozenClock
from twostep.services.core import accounts
from twostep.services.core.context import Context
from twostep.services.factors import recovery
from twostep.settings import Settings, load_settings
from twostep.storage.models import AuditEvent, PasskeyCredential

pytestmark = pytest.mark.browser


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, port: int) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        service_name="Acme",
        support_email="help@acme.test",
        base_url=f"http://localhost:{port}",
    )


@pytest.fixture
def live_server(app: FastAPI, port: int) -> Iterator[str]:
    with serve(app, port, host_name="localhost") as base:
        yield base


def signed_in(page: Page) -> None:
    expect(page.get_by_role("heading", name="My account")).to_be_visible()


def events(ctx: Context, name: str) -> list[AuditEvent]:
    with ctx.db.transaction() as db:
        found = list(db.scalars(select(AuditEvent).where(AuditEvent.event == name)))
        db.expunge_all()
    return found


def test_register_then_sign_in_with_the_passkey_as_the_second_step(
    page: Page, live_server: str, ctx: Context, keys: Authenticators
) -> None:
    platform = keys.add()
    without_autofill(page)
    codes = sign_up_with_passkey(page, live_server, ctx, "This laptop")
    assert len(codes) == 10 and len(keys.credentials(platform)) == 1
    password_step(page, live_server, EMAIL)
    expect(page).to_have_url(re.compile(r"/login/code$"))
    page.get_by_role("button", name="Use your passkey").click()
    signed_in(page)
    expect(page.locator("tr.method[data-kind=passkey]")).to_contain_text("This laptop")


def test_sign_in_with_a_passkey_alone_by_the_button(
    page: Page, live_server: str, ctx: Context, keys: Authenticators
) -> None:
    keys.add()
    without_autofill(page)
    sign_up_with_passkey(page, live_server, ctx)
    page.goto(live_server + "/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    signed_in(page)
    [success] = [e for e in events(ctx, "authn_login_success") if '"via": "passkey"' in e.detail]
    assert '"phishing_resistant": true' in success.detail


def test_sign_in_with_a_passkey_alone_by_autofill(
    page: Page, browser: Browser, live_server: str, ctx: Context, keys: Authenticators
) -> None:
    """Conditional mediation starts when /login loads; the virtual authenticator answers it (as a
    person picks the passkey in the email field's autofill), and the browser is signed in with
    nothing typed and no button clicked. The passkey is created in one browser and used in another
    (copied between virtual authenticators), so nothing else could have signed it in."""
    platform = keys.add()
    without_autofill(page)
    sign_up_with_passkey(page, live_server, ctx)
    [passkey] = keys.credentials(platform)
    other = browser.new_context(locale="en-US").new_page()
    try:
        other_keys = Authenticators(other)
        other_keys.cdp.send("WebAuthn.addCredential", {"authenticatorId": other_keys.add(), "credential": passkey})
        other.goto(live_server + "/login")
        signed_in(other)
    finally:
        other.context.close()
    assert len([e for e in events(ctx, "authn_login_success") if '"via": "passkey"' in e.detail]) == 1


def test_a_passkey_whose_user_is_not_verified_is_refused(
    page: Page, live_server: str, ctx: Context, keys: Authenticators
) -> None:
    platform = keys.add()
    without_autofill(page)
    sign_up_with_passkey(page, live_server, ctx)
    keys.verified(platform, False)  # the fingerprint or PIN check failed
    page.goto(live_server + "/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("alert")).to_contain_text("didn't work")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    keys.verified(platform, True)
    page.get_by_role("button", name="Sign in with a passkey").click()
    signed_in(page)


def test_a_replayed_assertion_is_refused(page: Page, live_server: str, ctx: Context, keys: Authenticators) -> None:
    """The browser's own answer, captured on its way to the server and sent again after sign-out."""
    keys.add()
    without_autofill(page)
    sign_up_with_passkey(page, live_server, ctx)
    captured: list[str] = []
    page.route(
        "**/webauthn/authenticate/verify",
        lambda route: (captured.append(route.request.post_data or ""), route.continue_()),
    )
    page.goto(live_server + "/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    signed_in(page)
    page.unroute("**/webauthn/authenticate/verify")
    page.get_by_role("button", name="Sign out").click()
    [body] = captured
    status = page.evaluate(
        """async (body) => {
            const token = document.querySelector("[data-passkey]").getAttribute("data-csrf");
            const answer = await fetch("/webauthn/authenticate/verify", {method: "POST", body,
                headers: {"Content-Type": "application/json", "X-CSRF-Token": token}});
            return answer.status;
        }""",
        body,
    )
    assert status == 401
    assert len(events(ctx, "authn_token_reuse")) == 1
    page.goto(live_server + "/account")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_a_counter_that_goes_backwards_is_refused_and_audited(
    page: Page, live_server: str, ctx: Context, keys: Authenticators
) -> None:
    """A copy of the passkey that counted less than the original: a possible clone."""
    platform = keys.add()
    without_autofill(page)
    sign_up_with_passkey(page, live_server, ctx)
    for _ in range(2):
        page.goto(live_server + "/login")
        page.get_by_role("button", name="Sign in with a passkey").click()
        signed_in(page)
        page.get_by_role("button", name="Sign out").click()
    [original] = keys.credentials(platform)
    assert original["signCount"] >= 2
    keys.remove(platform)
    clone = keys.add()
    keys.cdp.send("WebAuthn.addCredential", {"authenticatorId": clone, "credential": {**original, "signCount": 0}})
    page.goto(live_server + "/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("alert")).to_contain_text("didn't work")
    [regressed] = events(ctx, "authn_passkey_counter_regressed")
    assert regressed.reason == "possible_clone"


def test_lost_key_then_recovery_code_then_a_new_key(
    page: Page, live_server: str, ctx: Context, keys: Authenticators, clock: FrozenClock
) -> None:
    old = keys.add()
    without_autofill(page)
    codes = sign_up_with_passkey(page, live_server, ctx)
    [old_passkey] = keys.credentials(old)
    keys.remove(old)  # the laptop is gone

    password_step(page, live_server, EMAIL)
    page.get_by_role("link", name="Can't get a code?").click()
    page.get_by_label("Recovery code", exact=True).fill(codes[0])
    page.get_by_role("button", name="Sign in with the recovery code").click()
    expect(page.get_by_role("status")).to_contain_text("You signed in with a recovery code")
    page.get_by_label("Passkey").check()
    page.get_by_role("button", name="I lost my phone: remove it and set up a new one").click()
    new = keys.add()
    new_codes = add_passkey(page, "New laptop")
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)
    continue_after_enrolling(page)
    page.get_by_role("button", name="Sign out").click()

    # The new key signs in; the old one (found again) no longer does.
    page.goto(live_server + "/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    signed_in(page)
    page.get_by_role("button", name="Sign out").click()
    keys.remove(new)
    found_again = keys.add()
    keys.cdp.send("WebAuthn.addCredential", {"authenticatorId": found_again, "credential": old_passkey})
    page.goto(live_server + "/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("alert")).to_contain_text("didn't work")
    with ctx.db.transaction() as db:
        assert [row.aaguid for row in db.scalars(select(PasskeyCredential))] != []
        assert db.scalar(select(PasskeyCredential.credential_id)) != old_passkey["credentialId"]


def test_a_usb_security_key_as_another_passkey_and_removal_needs_reauthentication(
    page: Page, live_server: str, ctx: Context, keys: Authenticators, clock: FrozenClock
) -> None:
    platform = keys.add()
    without_autofill(page)
    sign_up_with_passkey(page, live_server, ctx, "Laptop")
    [laptop] = keys.credentials(platform)

    # Signed in with the laptop's passkey, then the USB key is added from My account.
    page.goto(live_server + "/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    signed_in(page)
    keys.remove(platform)
    usb = keys.add("usb")
    page.get_by_role("link", name="Add a passkey").click()
    add_passkey(page, "Blue key")
    continue_after_enrolling(page)
    expect(page.locator("tr.method[data-kind=passkey]")).to_have_count(2)
    page.get_by_role("button", name="Sign out").click()

    # The USB key alone signs in.
    page.goto(live_server + "/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    signed_in(page)
    assert len(keys.credentials(usb)) == 1

    # Six minutes later, removing the laptop's passkey asks to confirm it's you first.
    clock.advance(minutes=6)
    page.locator("tr.method", has_text="Laptop").get_by_role("link", name="Remove").click()
    expect(page.get_by_role("heading", name="Confirm it's you")).to_be_visible()
    page.get_by_role("button", name="Use your passkey").click()
    expect(page.get_by_role("heading", name="Remove a method")).to_be_visible()
    page.get_by_role("button", name="Remove this method").click()
    expect(page.locator("tr.method[data-kind=passkey]")).to_have_count(1)
    expect(page.locator("tr.method[data-kind=passkey]")).to_contain_text("Blue key")
    [removed] = events(ctx, "authn_token_delete")
    assert '"method": "passkey"' in removed.detail
    assert any(message.subject.endswith("A passkey was removed") for message in ctx.mail.sent)  # type: ignore[attr-defined]
    with ctx.db.transaction() as db:
        assert db.scalars(select(PasskeyCredential.credential_id)).all() != [laptop["credentialId"]]


def test_the_passkey_pages_pass_axe_in_their_states(
    browser: Browser, live_server: str, ctx: Context, clock: FrozenClock
) -> None:
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    keys = Authenticators(page)
    platform = keys.add()
    without_autofill(page)
    auditor = Auditor(page)
    accounts.create_user(ctx, EMAIL, PASSWORD)
    password_step(page, live_server, EMAIL)
    auditor.check("/enroll (passkey first)")
    page.get_by_role("link", name="Passkey").click()
    prove_mailbox(page, ctx)
    auditor.check("/enroll/passkey")
    add_passkey(page, "Laptop")
    auditor.check("enrolled with a passkey")
    continue_after_enrolling(page)
    auditor.check("/account with a passkey")
    clock.advance(minutes=6)
    page.goto(live_server + "/account/reauth?next=/account")
    expect(page.get_by_role("button", name="Use your passkey")).to_be_visible()
    auditor.check("/account/reauth with a passkey")
    page.get_by_role("button", name="Sign out").click()
    auditor.check("/login with a passkey button")
    keys.verified(platform, False)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("alert")).to_be_visible()
    auditor.check("/login, the passkey refused")
    keys.verified(platform, True)
    password_step(page, live_server, EMAIL)
    auditor.check("/login/code with a passkey")
    page.goto(live_server + "/login/code?lang=pl")
    expect(page.get_by_role("button", name="Użyj klucza dostępu")).to_be_visible()
    auditor.check("/login/code with a passkey (pl)")
    context.close()
    auditor.assert_clean()


def test_without_javascript_the_passkey_pages_explain_and_offer_the_other_ways(
    browser: Browser, page: Page, live_server: str, ctx: Context, keys: Authenticators
) -> None:
    keys.add()
    without_autofill(page)
    codes = sign_up_with_passkey(page, live_server, ctx)
    context = browser.new_context(locale="en-US", java_script_enabled=False)
    plain = context.new_page()
    plain.set_default_timeout(10_000)
    try:
        password_step(plain, live_server, EMAIL)
        expect(plain.get_by_text("Using a passkey needs JavaScript")).to_be_visible()
        expect(plain.get_by_role("button", name="Use your passkey")).to_be_hidden()
        plain.get_by_role("link", name="Can't get a code?").click()
        plain.get_by_label("Recovery code", exact=True).fill(codes[0])
        plain.get_by_role("button", name="Sign in with the recovery code").click()
        expect(plain.get_by_role("status")).to_contain_text("You signed in with a recovery code")
        plain.goto(live_server + "/enroll/passkey")
        expect(plain.get_by_text("Creating a passkey needs JavaScript")).to_be_visible()
        expect(plain.get_by_role("link", name="Authenticator app")).to_be_visible()
    finally:
        context.close()


def test_a_forgotten_password_is_reset_with_the_passkey_as_the_second_step(
    page: Page, live_server: str, ctx: Context, keys: Authenticators, mail: RecordingMail
) -> None:
    """The reset's second step offers the passkey (Chromium's virtual authenticator answers it): no
    recovery code spent, signed in at the end, the new password works."""
    from tests.oob_helpers import reset_code_in

    keys.add()
    without_autofill(page)
    codes = sign_up_with_passkey(page, live_server, ctx)  # ends signed out
    page.goto(live_server + "/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_role("button", name="Send the code").click()
    page.get_by_label("Security code from the email").fill(reset_code_in(mail.wait_for(EMAIL, "reset code").text))
    page.get_by_label("New password", exact=True).fill("copper lantern orchard 7")
    page.get_by_label("Repeat the new password").fill("copper lantern orchard 7")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("heading", name="One more step")).to_be_visible()
    page.get_by_role("button", name="Use your passkey").click()
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
    expect(page.get_by_role("status").first).to_contain_text("you are signed in")
    with ctx.db.transaction() as db:
        changed = db.scalars(select(AuditEvent).where(AuditEvent.event == "authn_password_change")).one()
        assert '"second_step": "passkey"' in changed.detail
        user = accounts.find_user_by_email(db, EMAIL)
        assert user is not None and recovery.remaining(db, user.id) == len(codes) == 10  # none spent
    page.get_by_role("button", name="Sign out").click()
    page.goto(live_server + "/login")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill("copper lantern orchard 7")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("button", name="Use your passkey")).to_be_visible()  # the new password worked
