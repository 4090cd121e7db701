"""SMS delivery through one or more gateways tried in order, or to the log when none is configured.

An SMS carries a sign-in code, so its text never appears in an exception, an attempt
record or a log line (except LogSmsGateway, which exists to print it on a development
machine), and phone numbers are logged masked.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote, urlsplit

import httpx

from twostep.domain.phone import mask_phone

if TYPE_CHECKING:
    from twostep.settings import Settings

__all__ = [
    "FailoverSmsSender",
    "GatewayError",
    "LogSmsGateway",
    "SmsAttempt",
    "SmsDeliveryError",
    "SmsGateway",
    "SmsMessage",
    "TwilioSmsGateway",
    "WebhookSmsGateway",
    "build_sms_sender",
]

_logger = logging.getLogger(__name__)

_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
GATEWAY_NAMES = ("webhook", "twilio", "log")


@dataclass(frozen=True)
class SmsMessage:
    """One outgoing SMS; ``to`` is already normalised to E.164 (see twostep.domain.phone)."""

    to: str
    text: str


@dataclass(frozen=True)
class SmsAttempt:
    """What one gateway did with one message; ``detail`` is for operators and never holds the text."""

    gateway: str
    ok: bool
    detail: str


class GatewayError(Exception):
    """A gateway refused or could not be reached; str() is a short, text-free reason."""


class SmsDeliveryError(Exception):
    """Every gateway failed; ``attempts`` says what each one answered."""

    def __init__(self, attempts: list[SmsAttempt]) -> None:
        self.attempts = attempts
        summary = "; ".join(f"{a.gateway}: {a.detail}" for a in attempts) or "no gateway tried"
        super().__init__(f"SMS not delivered ({summary})")


class SmsGateway(Protocol):
    """One way to hand an SMS to a carrier; ``name`` identifies it in attempts and logs."""

    name: str

    def send(self, message: SmsMessage) -> None:
        """Return once the gateway accepted the message; raise GatewayError otherwise."""
        ...


def _check_http_url(url: str, what: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an http:// or https:// URL")


def _post(
    url: str,
    timeout_seconds: float,
    *,
    json: dict[str, str] | None = None,
    data: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> None:
    """POST and map every non-2xx answer or transport problem to a text-free GatewayError."""
    try:
        with httpx.Client(timeout=timeout_seconds, follow_redirects=False, auth=auth) as client:
            response = client.post(url, json=json, data=data, headers=headers)
    except httpx.TimeoutException:
        raise GatewayError(f"timed out after {timeout_seconds:g}s") from None
    except httpx.ConnectError as exc:
        # The message is the OS reason ("Connection refused"), never the URL or the payload.
        raise GatewayError(f"connection failed: {exc}") from None
    except httpx.HTTPError as exc:
        raise GatewayError(f"HTTP transport error: {type(exc).__name__}") from None
    if not response.is_success:
        # The body is not quoted: some gateways echo the message text back in their errors.
        raise GatewayError(f"HTTP {response.status_code}")


class WebhookSmsGateway:
    """POSTs ``{"to": "+E164", "text": "..."}`` to your own relay, the simplest gateway to self-host.

    Any 2xx answer means accepted; other statuses, timeouts and connection errors are failures.
    """

    name = "webhook"

    def __init__(self, url: str, token: str | None, timeout_seconds: float = 10.0) -> None:
        _check_http_url(url, "SMS webhook URL")
        if timeout_seconds <= 0:
            raise ValueError("SMS webhook timeout must be positive")
        self.url = url
        self.timeout_seconds = timeout_seconds
        self._token = token or None

    def __repr__(self) -> str:
        host = urlsplit(self.url).hostname
        return f"WebhookSmsGateway(host={host!r}, token={'set' if self._token else 'none'})"

    def send(self, message: SmsMessage) -> None:
        """Hand the message to the webhook; raise GatewayError unless it answers 2xx."""
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else None
        _post(self.url, self.timeout_seconds, json={"to": message.to, "text": message.text}, headers=headers)


class TwilioSmsGateway:
    """Sends through Twilio's Messages API (or a compatible one via ``base_url``).

    Posts the form fields To, From and Body with HTTP basic auth (account SID, auth token);
    Twilio answers 201 Created, and any 2xx counts as accepted.
    """

    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str = "https://api.twilio.com",
        timeout_seconds: float = 10.0,
    ) -> None:
        if not account_sid or not auth_token or not from_number:
            raise ValueError("Twilio needs an account SID, an auth token and a From number")
        _check_http_url(base_url, "Twilio base URL")
        if timeout_seconds <= 0:
            raise ValueError("Twilio timeout must be positive")
        self.account_sid = account_sid
        self.from_number = from_number
        self.timeout_seconds = timeout_seconds
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{quote(account_sid, safe='')}/Messages.json"
        self._auth_token = auth_token

    def __repr__(self) -> str:
        return f"TwilioSmsGateway(account_sid={self.account_sid!r}, from_number={self.from_number!r})"

    def send(self, message: SmsMessage) -> None:
        """Create the Twilio message; raise GatewayError unless Twilio answers 2xx."""
        _post(
            self.url,
            self.timeout_seconds,
            data={"To": message.to, "From": self.from_number, "Body": message.text},
            auth=(self.account_sid, self._auth_token),
        )


class LogSmsGateway:
    """Prints SMS to the log instead of sending them, so a fresh install works with no gateway.

    The last ``keep`` messages stay in ``sent`` for tests and the development console.
    """

    name = "log"
    BANNER = "==== twostep SMS (no gateway configured: printed instead of sent) ===="
    FOOTER = "==== end of twostep SMS ===="

    def __init__(self, logger: logging.Logger | None = None, keep: int = 100) -> None:
        self.logger = logger if logger is not None else _logger
        self.sent: list[SmsMessage] = []
        self._keep = max(keep, 1)
        self._lock = threading.Lock()

    def send(self, message: SmsMessage) -> None:
        """Log the SMS framed by a banner; never fails."""
        with self._lock:
            self.sent.append(message)
            del self.sent[: -self._keep]
        self.logger.warning("\n%s\nTo: %s\n\n%s\n%s", self.BANNER, message.to, message.text, self.FOOTER)


def _masked(number: str) -> str:
    try:
        return mask_phone(number)
    except ValueError:
        return "(malformed number)"


class DisabledSmsGateway:
    """Stands in when SMS is off for want of a gateway: every send fails, nothing is written anywhere
    (a code in the log would let whoever reads the log pass the SMS second step)."""

    name = "off"

    def send(self, message: SmsMessage) -> None:
        raise GatewayError("no SMS gateway is configured")


def only_logs(sender: FailoverSmsSender) -> bool:
    """True when every gateway of the chain only writes to the log (nothing is really sent)."""
    return all(gateway.name == LogSmsGateway.name for gateway in sender.gateways)


class FailoverSmsSender:
    """Tries each gateway in order until one accepts, so one provider's outage does not lock users out."""

    def __init__(self, gateways: Sequence[SmsGateway], logger: logging.Logger | None = None) -> None:
        if not gateways:
            raise ValueError("FailoverSmsSender needs at least one gateway")
        self.gateways: tuple[SmsGateway, ...] = tuple(gateways)
        self.logger = logger if logger is not None else _logger

    def send(self, message: SmsMessage) -> list[SmsAttempt]:
        """Return every attempt made (the last one succeeded); raise SmsDeliveryError if none did."""
        if not _E164.match(message.to):
            raise ValueError("SMS recipient must be an E.164 number (+ and up to 15 digits)")
        attempts: list[SmsAttempt] = []
        masked = _masked(message.to)
        for gateway in self.gateways:
            try:
                gateway.send(message)
            except GatewayError as exc:
                attempt = SmsAttempt(gateway.name, ok=False, detail=str(exc) or type(exc).__name__)
            except Exception as exc:
                # A buggy gateway must not stop the failover; its message might quote the text,
                # so only the exception type is kept.
                attempt = SmsAttempt(gateway.name, ok=False, detail=f"unexpected {type(exc).__name__}")
            else:
                attempt = SmsAttempt(gateway.name, ok=True, detail="accepted")
            attempts.append(attempt)
            self.logger.log(
                logging.INFO if attempt.ok else logging.WARNING,
                "SMS to %s via %s: %s (%s)",
                masked,
                attempt.gateway,
                "accepted" if attempt.ok else "failed",
                attempt.detail,
            )
            if attempt.ok:
                return attempts
        raise SmsDeliveryError(attempts)


def build_sms_sender(settings: Settings) -> FailoverSmsSender:
    """Build the failover chain from TWOSTEP_SMS_GATEWAYS, or guess it from what is configured.

    An explicit list names gateways among webhook, twilio and log, in order. Left empty, it is
    webhook (if TWOSTEP_SMS_WEBHOOK_URL is set) then twilio (if TWOSTEP_TWILIO_ACCOUNT_SID is
    set), or log when neither is. Unknown, repeated or unconfigured names raise ValueError so a
    typo fails at start-up rather than at the first sign-in.
    """
    names = [name.strip().lower() for name in settings.sms_gateways.split(",") if name.strip()]
    if not names:
        if settings.sms_webhook_url:
            names.append("webhook")
        if settings.twilio_account_sid:
            names.append("twilio")
        if not names:
            names.append("log")
    unknown = [name for name in names if name not in GATEWAY_NAMES]
    if unknown:
        raise ValueError(
            f"TWOSTEP_SMS_GATEWAYS: unknown gateway {unknown[0]!r} (choose among {', '.join(GATEWAY_NAMES)})"
        )
    if len(set(names)) != len(names):
        raise ValueError("TWOSTEP_SMS_GATEWAYS names the same gateway twice")

    gateways: list[SmsGateway] = []
    for name in names:
        if name == "webhook":
            if not settings.sms_webhook_url:
                raise ValueError("SMS gateway 'webhook' needs TWOSTEP_SMS_WEBHOOK_URL")
            secret = settings.sms_webhook_token
            token = secret.get_secret_value().strip() if secret is not None else ""
            gateways.append(WebhookSmsGateway(settings.sms_webhook_url, token or None))
        elif name == "twilio":
            secret = settings.twilio_auth_token
            auth_token = secret.get_secret_value() if secret is not None else ""
            if not (settings.twilio_account_sid and auth_token and settings.twilio_from):
                raise ValueError(
                    "SMS gateway 'twilio' needs TWOSTEP_TWILIO_ACCOUNT_SID, "
                    "TWOSTEP_TWILIO_AUTH_TOKEN and TWOSTEP_TWILIO_FROM"
                )
            gateways.append(
                TwilioSmsGateway(
                    settings.twilio_account_sid,
                    auth_token,
                    settings.twilio_from,
                    base_url=settings.twilio_base_url,
                )
            )
        else:
            gateways.append(LogSmsGateway())
    return FailoverSmsSender(gateways)
