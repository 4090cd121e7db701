"""SMTP delivery against a real aiosmtpd server on 127.0.0.1: plain, STARTTLS, SMTPS, AUTH, failures."""

from __future__ import annotations

import datetime
import email
import email.policy
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import SecretStr

from twostep.delivery.mail import (
    LogMailSender,
    MailDeliveryError,
    MailMessage,
    SmtpMailSender,
    build_mail_sender,
)
from twostep.settings import Settings

SENDER = "twostep <noreply@twostep.test>"
BODY = "Your code is 493817"
MESSAGE = MailMessage(
    to="alice@example.org",
    subject="Your twostep code",
    text=BODY,
    html="<p>Your code is <b>493817</b></p>",
)
SMTP_USER = "mailer@twostep.test"
SMTP_PASSWORD = "p@ss:w/rd%20?"  # every character that needs percent-encoding in a URL


class RecordingHandler:
    """aiosmtpd handler keeping every envelope it accepted."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def only_message(self) -> EmailMessage:
        assert len(self.envelopes) == 1
        content = self.envelopes[0].content
        assert isinstance(content, bytes)
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SmtpServer:
    port: int
    handler: RecordingHandler


@dataclass
class Certificate:
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert_file))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run_controller(handler: RecordingHandler, **kwargs: Any) -> Iterator[SmtpServer]:
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield SmtpServer(port=port, handler=handler)
    finally:
        controller.stop()


def check_credentials(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == SMTP_USER
        and auth_data.password.decode() == SMTP_PASSWORD
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """Self-signed certificate for 127.0.0.1/localhost, trusted only by the clients of these tests."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_file = directory / "cert.pem"
    key_file = directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_file=cert_file, key_file=key_file)


@pytest.fixture
def plain_server() -> Iterator[SmtpServer]:
    yield from run_controller(RecordingHandler())


@pytest.fixture
def starttls_server(certificate: Certificate) -> Iterator[SmtpServer]:
    yield from run_controller(
        RecordingHandler(),
        tls_context=certificate.server_context(),
        require_starttls=True,
        authenticator=check_credentials,
    )


@pytest.fixture
def smtps_server(certificate: Certificate) -> Iterator[SmtpServer]:
    yield from run_controller(RecordingHandler(), ssl_context=certificate.server_context())


@pytest.fixture
def auth_server() -> Iterator[SmtpServer]:
    yield from run_controller(
        RecordingHandler(),
        authenticator=check_credentials,
        auth_require_tls=False,
    )


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts TCP connections (kernel backlog) but never sends the SMTP greeting."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def credentials_url(scheme: str, port: int, password: str = SMTP_PASSWORD) -> str:
    return f"{scheme}://{quote(SMTP_USER, safe='')}:{quote(password, safe='')}@127.0.0.1:{port}"


def assert_is_the_sent_message(received: EmailMessage) -> None:
    assert received["Subject"] == MESSAGE.subject
    assert received["From"] == SENDER
    assert received["To"] == MESSAGE.to
    assert received["Date"]
    assert received["Message-ID"].endswith("@twostep.test>")
    assert received.get_content_type() == "multipart/alternative"
    text_part = received.get_body(preferencelist=("plain",))
    html_part = received.get_body(preferencelist=("html",))
    assert isinstance(text_part, EmailMessage)
    assert isinstance(html_part, EmailMessage)
    assert text_part.get_content().strip() == BODY
    assert "<b>493817</b>" in html_part.get_content()


def test_smtp_sender_delivers_multipart_message_over_plain_smtp(plain_server: SmtpServer) -> None:
    sender = SmtpMailSender(f"smtp://127.0.0.1:{plain_server.port}", SENDER, timeout_seconds=5)

    sender.send(MESSAGE)

    envelope = plain_server.handler.envelopes[0]
    assert envelope.mail_from == "noreply@twostep.test"
    assert envelope.rcpt_tos == [MESSAGE.to]
    assert_is_the_sent_message(plain_server.handler.only_message())


def test_smtp_sender_sends_text_only_mail_without_html_part(plain_server: SmtpServer) -> None:
    sender = SmtpMailSender(f"smtp://127.0.0.1:{plain_server.port}", SENDER, timeout_seconds=5)

    sender.send(MailMessage(to="bob@example.org", subject="Hello", text="Plain only"))

    received = plain_server.handler.only_message()
    assert received.get_content_type() == "text/plain"
    assert received.get_content().strip() == "Plain only"


def test_smtp_sender_delivers_multipart_message_over_starttls(
    starttls_server: SmtpServer, certificate: Certificate
) -> None:
    sender = SmtpMailSender(
        f"smtp://127.0.0.1:{starttls_server.port}?starttls=1",
        SENDER,
        timeout_seconds=5,
        ssl_context=certificate.client_context(),
    )

    sender.send(MESSAGE)

    assert_is_the_sent_message(starttls_server.handler.only_message())


def test_smtp_sender_logs_in_after_starttls(starttls_server: SmtpServer, certificate: Certificate) -> None:
    sender = SmtpMailSender(
        credentials_url("smtp", starttls_server.port) + "?starttls=1",
        SENDER,
        timeout_seconds=5,
        ssl_context=certificate.client_context(),
    )

    sender.send(MESSAGE)

    assert len(starttls_server.handler.envelopes) == 1


def test_starttls_refuses_a_certificate_it_does_not_trust(starttls_server: SmtpServer) -> None:
    sender = SmtpMailSender(f"smtp://127.0.0.1:{starttls_server.port}?starttls=1", SENDER, timeout_seconds=5)

    with pytest.raises(MailDeliveryError, match="TLS"):
        sender.send(MESSAGE)
    assert starttls_server.handler.envelopes == []


def test_starttls_is_required_when_asked_even_if_server_does_not_offer_it(
    plain_server: SmtpServer,
) -> None:
    sender = SmtpMailSender(f"smtp://127.0.0.1:{plain_server.port}?starttls=1", SENDER, timeout_seconds=5)

    with pytest.raises(MailDeliveryError, match="STARTTLS"):
        sender.send(MESSAGE)
    assert plain_server.handler.envelopes == []


def test_smtps_sender_delivers_over_implicit_tls(smtps_server: SmtpServer, certificate: Certificate) -> None:
    sender = SmtpMailSender(
        f"smtps://127.0.0.1:{smtps_server.port}",
        SENDER,
        timeout_seconds=5,
        ssl_context=certificate.client_context(),
    )

    sender.send(MESSAGE)

    assert_is_the_sent_message(smtps_server.handler.only_message())


def test_smtp_sender_authenticates_with_percent_encoded_credentials(auth_server: SmtpServer) -> None:
    sender = SmtpMailSender(credentials_url("smtp", auth_server.port), SENDER, timeout_seconds=5)

    sender.send(MESSAGE)

    assert_is_the_sent_message(auth_server.handler.only_message())


def test_wrong_smtp_password_is_a_delivery_error_without_the_body(auth_server: SmtpServer) -> None:
    sender = SmtpMailSender(
        credentials_url("smtp", auth_server.port, password="wrong"), SENDER, timeout_seconds=5
    )

    with pytest.raises(MailDeliveryError, match="authentication") as caught:
        sender.send(MESSAGE)

    assert "493817" not in str(caught.value)
    assert "wrong" not in str(caught.value)
    assert auth_server.handler.envelopes == []


def test_server_down_is_a_delivery_error_quickly() -> None:
    sender = SmtpMailSender(f"smtp://127.0.0.1:{free_port()}", SENDER, timeout_seconds=5)

    started = time.monotonic()
    with pytest.raises(MailDeliveryError, match="refused") as caught:
        sender.send(MESSAGE)

    assert time.monotonic() - started < 2
    assert "493817" not in str(caught.value)


def test_server_that_never_answers_is_a_delivery_error_after_the_timeout(silent_server: int) -> None:
    sender = SmtpMailSender(f"smtp://127.0.0.1:{silent_server}", SENDER, timeout_seconds=0.5)

    started = time.monotonic()
    with pytest.raises(MailDeliveryError, match="timed out"):
        sender.send(MESSAGE)

    assert 0.4 <= time.monotonic() - started < 3


def test_header_injection_in_subject_is_refused_before_connecting(plain_server: SmtpServer) -> None:
    sender = SmtpMailSender(f"smtp://127.0.0.1:{plain_server.port}", SENDER, timeout_seconds=5)

    with pytest.raises(MailDeliveryError):
        sender.send(MailMessage(to="alice@example.org", subject="Hi\r\nBcc: eve@example.org", text=BODY))
    assert plain_server.handler.envelopes == []


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.example.org",
        "smtp://",
        "smtp://mail.example.org:notaport",
        "smtp://mail.example.org:99999",
        "smtps://mail.example.org?starttls=1",
        "smtp://mail.example.org?starttls=maybe",
        "smtp://mail.example.org?tls=1",
        "smtp://mail.example.org/path",
    ],
)
def test_invalid_smtp_url_is_refused_at_construction(url: str) -> None:
    with pytest.raises(ValueError):
        SmtpMailSender(url, SENDER, timeout_seconds=5)


def test_smtp_url_defaults_ports_by_mode() -> None:
    assert SmtpMailSender("smtp://mx.example.org", SENDER, 5).port == 25
    assert SmtpMailSender("smtp://mx.example.org?starttls=1", SENDER, 5).port == 587
    assert SmtpMailSender("smtps://mx.example.org", SENDER, 5).port == 465


def test_smtp_sender_repr_hides_the_password() -> None:
    sender = SmtpMailSender(credentials_url("smtps", 465), SENDER, timeout_seconds=5)

    assert "p@ss" not in repr(sender)
    assert "p%40ss" not in repr(sender)


def test_log_mail_sender_prints_the_marked_block(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.mail_delivery")
    sender = LogMailSender(SENDER, logger=logger)

    with caplog.at_level(logging.WARNING, logger=logger.name):
        sender.send(MESSAGE)

    assert sender.sent == [MESSAGE]
    output = caplog.text
    assert "==== twostep mail (no TWOSTEP_SMTP_URL set: printed instead of sent) ====" in output
    assert MESSAGE.to in output
    assert MESSAGE.subject in output
    assert BODY in output
    assert all(record.levelno == logging.WARNING for record in caplog.records)


def test_log_mail_sender_keeps_only_the_last_messages() -> None:
    sender = LogMailSender(SENDER, logger=logging.getLogger("tests.mail_delivery"), keep=2)

    for number in range(3):
        sender.send(MailMessage(to="a@example.org", subject=str(number), text="x"))

    assert [message.subject for message in sender.sent] == ["1", "2"]


def test_build_mail_sender_uses_the_log_without_smtp_url() -> None:
    sender = build_mail_sender(Settings(smtp_url=None, mail_from=SENDER))

    assert isinstance(sender, LogMailSender)


def test_build_mail_sender_uses_smtp_when_url_is_set() -> None:
    settings = Settings(
        smtp_url=SecretStr("smtps://mx.example.org:2465"), mail_from=SENDER, smtp_timeout_seconds=3
    )

    sender = build_mail_sender(settings)

    assert isinstance(sender, SmtpMailSender)
    assert (sender.host, sender.port, sender.implicit_tls, sender.timeout_seconds) == (
        "mx.example.org",
        2465,
        True,
        3,
    )
