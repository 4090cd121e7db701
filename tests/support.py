"""Test helpers: recording channels and a small driver for the sign-in pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html import unescape

import pyotp
from fastapi.testclient import TestClient
from httpx import Response

from twostep.delivery.mail import MailMessage
from twostep.delivery.sms import SmsMessage
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.services.core import accounts
from twostep.services.core.context import Context

PASSWORD = "violet staple meadow 42"


@dataclass
class RecordingMail:
    """A MailSender that keeps messages; ``down`` makes it fail like an unreachable server."""

    sent: list[MailMessage] = field(default_factory=list)
    down: bool = False

    def send(self, message: MailMessage) -> None:
        from twostep.delivery.mail import MailDeliveryError

        if self.down:
            raise MailDeliveryError("connection refused")
        self.sent.append(message)

    def last_to(self, address: str) -> MailMessage:
        return [m for m in self.sent if m.to == address][-1]

    def wait_for(self, address: str, subject_part: str, *, timeout: float = 10.0) -> MailMessage:
        """The newest message to ``address`` whose subject contains ``subject_part``, waiting for it: a
        live server sends some mail after its answer (a background task), so a browser can be on the
        next page before the mail has left."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.sent if m.to == address and subject_part in m.subject]
            if found:
                return found[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no mail to {address} with {subject_part!r} in its subject")
            time.sleep(0.05)


@dataclass
class RecordingSms:
    name: str = "recording"
    sent: list[SmsMessage] = field(default_factory=list)
    down: bool = False

    def send(self, message: SmsMessage) -> None:
        if self.down:
            raise RuntimeError("gateway down")
        self.sent.append(message)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def alerts(html: str) -> list[str]:
    return [unescape(m.strip()) for m in re.findall(r'role="alert">([^<]*)<', html)]


def otpauth_uri(html: str) -> str:
    match = re.search(r'data-otpauth-uri="([^"]+)"', html)
    assert match
    return match.group(1).replace("&amp;", "&")


def secret_of(uri: str) -> str:
    match = re.search(r"secret=([A-Z2-7]+)", uri)
    assert match
    return match.group(1)


def code_for(secret: str, clock: FrozenClock, offset_steps: int = 0) -> str:
    return totp.code_at_step(secret, totp.step_at(clock.now()) + offset_steps)


def make_user(ctx: Context, email: str = "ada@example.com", *, admin: bool = False) -> int:
    return accounts.create_user(ctx, email, PASSWORD, admin=admin)


def login_password(client: TestClient, email: str, password: str = PASSWORD, *, mailbox: bool = True) -> Response:
    """Submit the password. When that leads to enrollment, also pass the mailbox check (an emailed
    code) the way a user does, unless ``mailbox=False`` — as an attacker who has only the password."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    if mailbox and response.headers.get("location") == "/enroll":
        prove_mailbox(client)
    return response


def last_mailed_code(client: TestClient) -> str:
    """The 6-digit code in the newest mail the app sent (tests record mail in ``ctx.mail``)."""
    mail: RecordingMail = client.app.state.ctx.mail  # type: ignore[attr-defined]
    match = re.search(r"\b(\d{6})\b", mail.sent[-1].text)
    assert match, "the last mail has no code"
    return match.group(1)


def prove_mailbox(
    client: TestClient, next_path: str = "/enroll", read_code: Callable[[], str] | None = None
) -> Response:
    """Pass the emailed-code check that binding an account's first method needs, if it is asked;
    ``read_code`` reads the mailed code (default: the newest message in the recording mailer)."""
    page = client.get(f"/enroll/mailbox?next={next_path}")
    if page.url.path != "/enroll/mailbox":
        return page
    sent = page  # the password step already mailed the code (issue 18); otherwise ask for one
    if 'name="code"' not in page.text:
        sent = client.post("/enroll/mailbox/send", data={"csrf_token": csrf_of(page.text), "next": next_path})
    assert sent.url.path == "/enroll/mailbox" and sent.status_code == 200, alerts(sent.text)
    code = read_code() if read_code is not None else last_mailed_code(client)
    return client.post("/enroll/mailbox", data={"code": code, "csrf_token": csrf_of(sent.text), "next": next_path})


def enroll_totp(client: TestClient, clock: FrozenClock) -> str:
    """From the enrollment stage (mailbox check included), scan (read the URI), confirm, return the secret."""
    page = client.get("/enroll/totp")
    if page.url.path == "/enroll/mailbox":
        page = prove_mailbox(client, "/enroll/totp")
    secret = secret_of(otpauth_uri(page.text))
    response = client.post(
        "/enroll/totp", data={"code": code_for(secret, clock), "csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 200, alerts(response.text)
    return secret


def enrolled_user(
    client: TestClient, ctx: Context, clock: FrozenClock, email: str = "ada@example.com"
) -> str:
    """A user with a confirmed authenticator, signed out again; returns the TOTP secret."""
    make_user(ctx, email)
    login_password(client, email)
    secret = enroll_totp(client, clock)
    sign_out(client)
    clock.advance(seconds=30)
    return secret


def sign_out(client: TestClient) -> None:
    page = client.get("/account")
    client.post("/logout", data={"csrf_token": csrf_of(page.text)})


def submit_code(client: TestClient, code: str, remember: bool = False) -> Response:
    page = client.get("/login/code")
    data = {"code": code, "csrf_token": csrf_of(page.text)}
    if remember:
        data["remember_device"] = "1"
    return client.post("/login/code", data=data, follow_redirects=False)


def pyotp_now(secret: str, clock: FrozenClock) -> str:
    return str(pyotp.TOTP(secret).at(clock.now()))
