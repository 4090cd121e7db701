"""E-mail delivery over SMTP, or to the log when no SMTP server is configured.

Mails carry sign-in codes and recovery links, so nothing here ever puts a mail body
into an exception message or a log line, except LogMailSender, whose whole point is
to print the mail on a development machine.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import smtplib
import socket
import ssl
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    from twostep.settings import Settings

__all__ = [
    "LogMailSender",
    "MailDeliveryError",
    "MailMessage",
    "MailSender",
    "SmtpMailSender",
    "build_mail_sender",
]

_logger = logging.getLogger(__name__)

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_MAX_SERVER_TEXT = 200


@dataclass(frozen=True)
class MailMessage:
    """One outgoing mail; html is optional so plain-text-only mails stay simple."""

    to: str
    subject: str
    text: str
    html: str | None = None
    # True for a mail that goes out only when an address has an account, in answer to a request
    # anybody can make (a password-reset code): left out of the metrics, so a counter never tells
    # which addresses exist.
    reveals_account: bool = False


class MailDeliveryError(Exception):
    """The mail could not be handed to the server; the message never contains the mail body."""


class MailSender(Protocol):
    """Anything that can deliver a MailMessage; the app only depends on this."""

    def send(self, message: MailMessage) -> None:
        """Deliver the message or raise MailDeliveryError (refused, timeout, auth, SMTP error)."""
        ...


@functools.cache
def _local_hostname() -> str:
    """EHLO name, resolved once: smtplib would otherwise call getfqdn() (DNS) on every connection."""
    return socket.getfqdn() or "localhost"


def _domain_of(address: str) -> str:
    """Domain for Message-ID, taken from the sender so make_msgid() does not hit DNS."""
    _, email_address = parseaddr(address)
    domain = email_address.rpartition("@")[2]
    return domain or "localhost"


def _server_text(exc: smtplib.SMTPResponseException) -> str:
    raw = exc.smtp_error
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    text = " ".join(text.split())
    return text[:_MAX_SERVER_TEXT]


class SmtpMailSender:
    """Delivers through an SMTP server named by a URL, the one format operators already know.

    Accepted URLs:

    * ``smtp://host[:port]`` plain SMTP (default port 25);
    * ``smtp://host[:port]?starttls=1`` SMTP upgraded with STARTTLS (default port 587);
      delivery fails rather than falling back to plain text if the server does not offer it;
    * ``smtps://host[:port]`` implicit TLS (default port 465);
    * ``user:password@`` before the host (percent-encoded) to log in with AUTH.

    Certificates are checked against the system trust store unless ``ssl_context`` is given.
    """

    def __init__(
        self,
        url: str,
        sender: str,
        timeout_seconds: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps"):
            raise ValueError("SMTP URL must start with smtp:// or smtps://")
        if not parts.hostname:
            raise ValueError("SMTP URL has no host")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError("SMTP URL has an invalid port") from exc
        if parts.path not in ("", "/") or parts.fragment:
            raise ValueError("SMTP URL must not have a path or fragment")
        starttls = False
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key != "starttls":
                raise ValueError(f"SMTP URL has an unknown parameter {key!r} (only starttls is known)")
            if value.lower() in _TRUE:
                starttls = True
            elif value.lower() in _FALSE:
                starttls = False
            else:
                raise ValueError("SMTP URL parameter starttls must be 1 or 0")
        implicit_tls = scheme == "smtps"
        if implicit_tls and starttls:
            raise ValueError("smtps:// already uses TLS; starttls=1 only applies to smtp://")
        if timeout_seconds <= 0:
            raise ValueError("SMTP timeout must be positive")
        if not sender.strip():
            raise ValueError("mail sender address is empty")

        self.host: str = parts.hostname
        self.port: int = port or (465 if implicit_tls else 587 if starttls else 25)
        self.implicit_tls = implicit_tls
        self.starttls = starttls
        self.sender = sender
        self.timeout_seconds = timeout_seconds
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else ""
        self._ssl_context = ssl_context
        if self._username and not (implicit_tls or starttls) and self.host not in _LOOPBACK_HOSTS:
            _logger.warning(
                "SMTP credentials for %s will be sent without TLS; use smtps:// or ?starttls=1",
                self.host,
            )

    def __repr__(self) -> str:
        # Never show the credentials, even in a debugger or a crash report.
        mode = "smtps" if self.implicit_tls else "smtp+starttls" if self.starttls else "smtp"
        auth = ", auth" if self._username else ""
        return f"SmtpMailSender({mode}://{self.host}:{self.port}{auth})"

    def _context(self) -> ssl.SSLContext:
        return self._ssl_context if self._ssl_context is not None else ssl.create_default_context()

    def _build(self, message: MailMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = make_msgid(domain=_domain_of(self.sender))
        mail.set_content(message.text)
        if message.html is not None:
            mail.add_alternative(message.html, subtype="html")
        return mail

    def _fail(self, what: str) -> MailDeliveryError:
        return MailDeliveryError(f"SMTP delivery via {self.host}:{self.port} failed: {what}")

    def send(self, message: MailMessage) -> None:
        """Deliver one mail; every failure becomes MailDeliveryError so callers handle one type."""
        try:
            mail = self._build(message)
        except (ValueError, TypeError) as exc:
            # Typically CR/LF in a header (header injection attempt) or a malformed address.
            raise MailDeliveryError(f"mail headers rejected: {type(exc).__name__}") from None

        # Built without a host and connected explicitly so that a failed connect still leaves us
        # holding the socket to close (smtplib's constructor would drop it on a timeout).
        client: smtplib.SMTP
        if self.implicit_tls:
            client = smtplib.SMTP_SSL(
                local_hostname=_local_hostname(), timeout=self.timeout_seconds, context=self._context()
            )
        else:
            client = smtplib.SMTP(local_hostname=_local_hostname(), timeout=self.timeout_seconds)
        # TLS checks the certificate against the name smtplib stores in __init__ only (not in connect()).
        setattr(client, "_host", self.host)  # noqa: B010 - private, absent from typeshed
        delivered = False
        try:
            code, _ = client.connect(self.host, self.port)
            if code != 220:
                raise self._fail(f"server greeted with SMTP {code} instead of 220")
            client.ehlo()
            if self.starttls:
                if not client.has_extn("starttls"):
                    raise self._fail("server does not offer STARTTLS")
                client.starttls(context=self._context())
                client.ehlo()
            if self._username:
                client.login(self._username, self._password)
            client.send_message(
                mail, from_addr=parseaddr(self.sender)[1] or self.sender, to_addrs=[message.to]
            )
            delivered = True
        except MailDeliveryError:
            raise
        except smtplib.SMTPDataError as exc:
            # The reply to DATA may quote the content (spam filters do): keep only the code.
            raise self._fail(f"message refused with SMTP {exc.smtp_code}") from None
        except smtplib.SMTPAuthenticationError as exc:
            raise self._fail(f"authentication refused (SMTP {exc.smtp_code})") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise self._fail(f"recipient refused (SMTP {', '.join(map(str, codes))})") from exc
        except smtplib.SMTPResponseException as exc:
            raise self._fail(f"SMTP {exc.smtp_code} {_server_text(exc)}") from exc
        except smtplib.SMTPException as exc:
            raise self._fail(f"{type(exc).__name__}: {exc}") from exc
        except TimeoutError as exc:
            raise self._fail(f"timed out after {self.timeout_seconds:g}s") from exc
        except ssl.SSLError as exc:
            reason = getattr(exc, "verify_message", None) or exc.reason or type(exc).__name__
            raise self._fail(f"TLS error: {reason}") from exc
        except OSError as exc:
            raise self._fail(f"{type(exc).__name__}: {exc.strerror or exc}") from exc
        except UnicodeError as exc:
            raise self._fail(f"cannot encode the mail for this server: {type(exc).__name__}") from None
        except Exception as exc:
            # Anything else smtplib or ssl may raise: callers rely on one exception type.
            raise self._fail(f"unexpected {type(exc).__name__}") from exc
        finally:
            _hang_up(client, polite=delivered)


def _hang_up(client: smtplib.SMTP, *, polite: bool) -> None:
    """QUIT after a delivery, ignoring its errors: a sent mail must not become an error (and a retry).

    After a failure the connection is simply closed: the server may be the very thing that hangs.
    """
    if polite:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()
    client.close()


class LogMailSender:
    """Prints mails to the log instead of sending them, so a fresh install works with no SMTP server.

    The last ``keep`` messages stay in ``sent`` for tests and the development console.
    """

    BANNER = "==== twostep mail (no TWOSTEP_SMTP_URL set: printed instead of sent) ===="
    FOOTER = "==== end of twostep mail ===="

    def __init__(self, sender: str, logger: logging.Logger | None = None, keep: int = 100) -> None:
        self.sender = sender
        self.logger = logger if logger is not None else _logger
        self.sent: list[MailMessage] = []
        self._keep = max(keep, 1)
        self._lock = threading.Lock()

    def send(self, message: MailMessage) -> None:
        """Log the text part framed by a banner; never fails, which is what a dev setup wants."""
        with self._lock:
            self.sent.append(message)
            del self.sent[: -self._keep]
        html_note = "(an HTML alternative is also attached)\n" if message.html is not None else ""
        self.logger.warning(
            "\n%s\nFrom: %s\nTo: %s\nSubject: %s\n\n%s\n%s%s",
            self.BANNER,
            self.sender,
            message.to,
            message.subject,
            message.text.rstrip("\n"),
            html_note,
            self.FOOTER,
        )


def build_mail_sender(settings: Settings) -> MailSender:
    """SMTP when TWOSTEP_SMTP_URL is set, otherwise the log, so `make run` works out of the box."""
    url = settings.smtp_url.get_secret_value().strip() if settings.smtp_url is not None else ""
    if not url:
        return LogMailSender(settings.mail_from)
    return SmtpMailSender(url, settings.mail_from, settings.smtp_timeout_seconds)
