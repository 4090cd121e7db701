"""Test helpers: recording channels and a small driver for the sign-in pages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import unescape

import pyotp
from fastapi.testclient import TestClient
from httpx import Response

from twostep.delivery.mail import MailMessage
from twostep.delivery.sms import SmsMessage
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.services import accounts
from twostep.services.context import Context

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


def login_password(client: TestClient, email: str, password: str = PASSWORD) -> Response:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


def enroll_totp(client: TestClient, clock: FrozenClock) -> str:
    """From the enrollment stage, scan (read the URI), confirm, return the secret."""
    page = client.get("/enroll/totp")
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
