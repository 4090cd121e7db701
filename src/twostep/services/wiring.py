"""build_context(settings) -> Context: the services and their parts (database, clock, hashing, sealing,
mail, SMS), wired once. Here rather than in ``twostep.app`` so that a CLI command gets its context
without importing the web application (about a second of imports per command)."""

from __future__ import annotations

import logging

from twostep.delivery.mail import MailSender, build_mail_sender
from twostep.delivery.sms import DisabledSmsGateway, FailoverSmsSender, build_sms_sender, only_logs
from twostep.domain.clock import Clock, SystemClock
from twostep.domain.passwords import PasswordHashing
from twostep.domain.sealing import Digester, Sealer
from twostep.services import forward_auth
from twostep.services.core.context import Context
from twostep.services.rollout.policy import password_rules
from twostep.settings import Settings, startup_warnings
from twostep.storage.database import Database

log = logging.getLogger("twostep")


def build_context(
    settings: Settings,
    *,
    clock: Clock | None = None,
    mail: MailSender | None = None,
    sms: FailoverSmsSender | None = None,
    database: Database | None = None,
    hashing: PasswordHashing | None = None,
    warn: bool = False,
) -> Context:
    """``warn``: log what the configuration risks (the server does at start-up; CLI commands don't).
    ``hashing``: tests pass a cheaper Argon2id; everything else hashes at the configured costs."""
    if warn:
        for warning in startup_warnings(settings):
            log.warning(warning)
    if sms is None:
        settings, sms = sms_without_gateway(settings, build_sms_sender(settings), warn=warn)
    ctx = Context(
        settings=settings,
        db=database or Database(settings.resolved_database_url),
        clock=clock or SystemClock(),
        hashing=hashing
        or PasswordHashing(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        ),
        sealer=Sealer(settings.secret_key_bytes, settings.previous_secret_keys_bytes),
        digester=Digester(settings.secret_key_bytes, settings.previous_secret_keys_bytes),
        mail=mail or build_mail_sender(settings),
        sms=sms,
        password_policy=password_rules(settings),
    )
    forward_auth.allow_return_addresses(ctx)  # a sign-in may continue to a protected application
    return ctx


def sms_without_gateway(
    settings: Settings, sender: FailoverSmsSender, *, warn: bool = True
) -> tuple[Settings, FailoverSmsSender]:
    """With no real SMS gateway, SMS codes would be written to the log: anyone who reads the log could
    pass the SMS second step. So SMS is then off (not offered at enrollment, nothing sent, nothing
    logged) unless ``TWOSTEP_SMS_LOG_ONLY`` asks for the log on purpose (development); either way the
    start-up log says so. A chain with a real gateway and ``log`` as a fallback gets a warning too."""
    names = [gateway.name for gateway in sender.gateways]
    say = log.warning if warn else log.debug
    if not settings.sms_enabled:
        return settings, sender
    if only_logs(sender):
        if settings.sms_log_only:
            say(
                "TWOSTEP_SMS_LOG_ONLY is on: SMS codes are written to the log instead of being sent; "
                "anyone who can read the log can pass the SMS second step. Use it for development only."
            )
            return settings, sender
        say(
            "SMS is off: no SMS gateway is configured (TWOSTEP_SMS_WEBHOOK_URL or TWOSTEP_TWILIO_*). "
            "Set TWOSTEP_SMS_LOG_ONLY=1 to write SMS codes to the log instead (development only)."
        )
        return settings.model_copy(update={"sms_enabled": False}), FailoverSmsSender([DisabledSmsGateway()])
    if "log" in names:
        say(
            "SMS gateway 'log' is a fallback in TWOSTEP_SMS_GATEWAYS: when %s fail, SMS codes are written "
            "to the log, where anyone who can read it can pass the SMS second step.",
            ", ".join(name for name in names if name != "log"),
        )
    return settings, sender
