"""Passkeys in Chromium, shared by the browser tests (tests/browser/test_passkeys.py, the OpenID
Connect journeys): the DevTools virtual authenticator (``WebAuthn.addVirtualAuthenticator``: CTAP2,
resident keys, user verification, presence simulated) and the pages' steps to create a passkey.

Passkeys need a secure context and an RP ID that is a domain name: the pages are served as
http://localhost:<port> (never 127.0.0.1).
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import CDPSession, Page, expect

from tests.browser.flows import password_step, prove_mailbox
from tests.support import PASSWORD
from twostep.services.core import accounts
from twostep.services.core.context import Context

EMAIL = "ada@example.com"


class Authenticators:
    """The tab's virtual authenticators (one DevTools session)."""

    def __init__(self, page: Page) -> None:
        self.cdp: CDPSession = page.context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})

    def add(self, transport: str = "internal", *, verified: bool = True) -> str:
        options = {
            "protocol": "ctap2",
            "transport": transport,
            "hasResidentKey": True,
            "hasUserVerification": True,
            "isUserVerified": verified,
            "automaticPresenceSimulation": True,
        }
        answer = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
        return str(answer["authenticatorId"])

    def remove(self, authenticator_id: str) -> None:
        self.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": authenticator_id})

    def verified(self, authenticator_id: str, value: bool) -> None:
        self.cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator_id, "isUserVerified": value})

    def credentials(self, authenticator_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})[
            "credentials"
        ]
        return found


def without_autofill(page: Page) -> None:
    """A browser without passkey autofill (conditional mediation): the virtual authenticator would
    otherwise answer /login's autofill request at once, before any password or button."""
    page.add_init_script(
        "PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);"
    )


def add_passkey(page: Page, name: str = "") -> list[str]:
    """On /enroll/passkey: name it, create it (the virtual authenticator answers), land on "Done!".
    Returns the recovery codes shown (none when the account had some already)."""
    expect(page.get_by_role("heading", name="Add a passkey")).to_be_visible()
    if name:
        page.get_by_label("Name for this passkey (optional)").fill(name)
    page.get_by_role("button", name="Create a passkey").click()
    expect(page.get_by_role("status")).to_contain_text("Done!")
    return [text.strip() for text in page.locator("#recovery-codes li").all_inner_texts()]


def continue_after_enrolling(page: Page) -> None:
    """"Continue" on the confirmation: after ticking "I have saved these codes" when codes are shown."""
    saved = page.get_by_label("I have saved these codes")
    if saved.count():
        saved.check()
        page.get_by_role("button", name="Continue").click()
    else:
        page.get_by_role("link", name="Continue").click()


def sign_up_with_passkey(page: Page, live_server: str, ctx: Context, name: str = "") -> list[str]:
    accounts.create_user(ctx, EMAIL, PASSWORD)
    password_step(page, live_server, EMAIL)
    page.get_by_role("link", name="Passkey").click()
    prove_mailbox(page, ctx)
    codes = add_passkey(page, name)
    continue_after_enrolling(page)
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    return codes
