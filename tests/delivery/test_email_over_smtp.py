"""Email codes end to end over real SMTP: an aiosmtpd server on 127.0.0.1 started by the test, and
the app's mail sender built from TWOSTEP_SMTP_URL (SmtpMailSender), exactly as an operator wires it."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from tests.oob_helpers import code_in, post_form, press_send, reset_code_in, user_with
from tests.support import alerts, csrf_of, login_password, make_user, prove_mailbox, sign_out, submit_code
from twostep.delivery.mail import MailSender, SmtpMailSender, build_mail_sender
from twostep.domain.clock import FrozenClock
from twostep.services.core.context import Context
from twostep.settings import Settings, load_settings
from twostep.storage.models import AuditEvent

CODES = "ada.codes@example.org"
FAILED = "We couldn't send the email — try again or choose another method."


class Inbox:
    """aiosmtpd handler: every accepted message, parsed."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def messages_to(self, address: str) -> list[EmailMessage]:
        found = []
        for envelope in self.envelopes:
            if address in envelope.rcpt_tos:
                assert isinstance(envelope.content, bytes)
                parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
                assert isinstance(parsed, EmailMessage)
                found.append(parsed)
        return found

    def last_text(self, address: str) -> str:
        body = self.messages_to(address)[-1].get_body(preferencelist=("plain",))
        assert body is not None
        return str(body.get_content())


class SmtpServer:
    """A real SMTP server that can be taken down and brought back on the same port."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        service_name="Acme",
        support_email="help@acme.test",
        smtp_url=SecretStr(f"smtp://127.0.0.1:{smtp.port}"),
        smtp_timeout_seconds=2.0,
        mail_from="Acme <no-reply@acme.test>",
    )


@pytest.fixture
def mail(settings: Settings) -> MailSender:  # type: ignore[override]
    sender = build_mail_sender(settings)
    assert isinstance(sender, SmtpMailSender)
    return sender


def test_enrollment_and_sign_in_codes_arrive_over_smtp_and_work(
    client: TestClient, ctx: Context, clock: FrozenClock, smtp: SmtpServer
) -> None:
    make_user(ctx)
    login_password(client, "ada@example.com", mailbox=False)
    prove_mailbox(client, read_code=lambda: code_in(smtp.inbox.last_text("ada@example.com")))
    sent = post_form(client, "/enroll/email", email=CODES)
    assert sent.status_code == 303 and sent.headers["location"] == "/enroll/email?sent=1"
    [message] = smtp.inbox.messages_to(CODES)
    assert message["Subject"] == "[Acme] Verification code"
    assert message["From"] == "Acme <no-reply@acme.test>" and message["To"] == CODES
    assert message.get_body(preferencelist=("html",)) is not None  # multipart: text and HTML
    assert smtp.inbox.envelopes[0].mail_from == "no-reply@acme.test"
    assert post_form(client, "/enroll/email", code=code_in(smtp.inbox.last_text(CODES))).status_code == 200
    assert smtp.inbox.messages_to("ada@example.com")[-1]["Subject"] == "[Acme] A sign-in method was added"
    sign_out(client)

    clock.advance(seconds=61)
    assert login_password(client, "ada@example.com").headers["location"] == "/login/code?sent=1"
    signed_in = submit_code(client, code_in(smtp.inbox.last_text(CODES)))
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/account"


def test_smtp_down_gives_a_clear_message_and_a_retry_works_once_it_is_back(
    client: TestClient, ctx: Context, smtp: SmtpServer
) -> None:
    user_with(ctx, "ada@example.com", email=CODES)
    smtp.stop()
    response = login_password(client, "ada@example.com")
    assert response.headers["location"] == "/login/code?sent=failed"
    page = client.get(response.headers["location"])
    assert page.status_code == 503 and alerts(page.text) == [FAILED]
    retry = press_send(client)
    assert retry.status_code == 503 and alerts(retry.text) == [FAILED]
    assert client.get("/account", follow_redirects=False).headers["location"] == "/login/code"

    smtp.start()
    back = press_send(client)
    assert back.status_code == 200 and alerts(back.text) == []
    assert submit_code(client, code_in(smtp.inbox.last_text(CODES))).status_code == 303
    with ctx.db.transaction() as db:
        failures = db.scalars(select(AuditEvent).where(AuditEvent.event == "authn_code_send_fail")).all()
    assert len(failures) == 2 and all("127.0.0.1" in f.detail and "Connection" in f.detail for f in failures)


def test_a_server_that_never_answers_times_out_into_the_same_clear_message(client: TestClient, ctx: Context) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        ctx.mail = SmtpMailSender(f"smtp://127.0.0.1:{silent.getsockname()[1]}", "no-reply@acme.test", 0.5)
        user_with(ctx, "ada@example.com", email=CODES)
        response = login_password(client, "ada@example.com")
        page = client.get(response.headers["location"])
    assert alerts(page.text) == [FAILED]
    with ctx.db.transaction() as db:
        failure = db.scalars(select(AuditEvent).where(AuditEvent.event == "authn_code_send_fail")).one()
    assert "timed out" in failure.detail


def test_the_password_reset_code_arrives_over_smtp(client: TestClient, ctx: Context, smtp: SmtpServer) -> None:
    make_user(ctx)
    page = client.get("/password/forgot")
    client.post("/password/forgot", data={"email": "ada@example.com", "csrf_token": csrf_of(page.text)})
    [message] = smtp.inbox.messages_to("ada@example.com")
    assert message["Subject"] == "[Acme] Password reset code"
    code = reset_code_in(smtp.inbox.last_text("ada@example.com"))
    done = post_form(
        client,
        "/password/reset",
        code=code,
        password="copper lantern orchard 7",
        password_confirm="copper lantern orchard 7",
    )
    assert done.headers["location"] == "/login?notice=password_reset"
    assert smtp.inbox.messages_to("ada@example.com")[-1]["Subject"] == "[Acme] Your password was reset"
