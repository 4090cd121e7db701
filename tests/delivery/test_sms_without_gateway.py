"""With no SMS gateway configured, SMS is off (codes would otherwise be written to the log) unless
TWOSTEP_SMS_LOG_ONLY asks for the log on purpose; the start-up log says which, and why it matters."""

from __future__ import annotations

import logging

import pytest

from tests.support import RecordingMail
from twostep.app import build_context
from twostep.delivery.sms import SmsDeliveryError, SmsMessage
from twostep.services.signin.views import enrollment_choices
from twostep.settings import Settings

NUMBER = "+48601234567"


def test_sms_is_off_without_a_gateway_and_nothing_is_logged(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        ctx = build_context(settings, mail=RecordingMail(), warn=True)
    try:
        assert "SMS is off: no SMS gateway is configured" in caplog.text
        assert not ctx.settings.sms_enabled
        assert "sms" not in enrollment_choices(ctx)
        caplog.clear()
        with caplog.at_level(logging.DEBUG), pytest.raises(SmsDeliveryError):
            ctx.sms.send(SmsMessage(to=NUMBER, text="Your code is 482913"))
        assert "482913" not in caplog.text, "no code may reach the log"
    finally:
        ctx.db.dispose()


def test_sms_log_only_keeps_sms_on_and_warns_at_start_up(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    chosen = settings.model_copy(update={"sms_log_only": True})
    with caplog.at_level(logging.WARNING):
        ctx = build_context(chosen, mail=RecordingMail(), warn=True)
    try:
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("TWOSTEP_SMS_LOG_ONLY is on" in w and "pass the SMS second step" in w for w in warnings)
        assert ctx.settings.sms_enabled and "sms" in enrollment_choices(ctx)
        assert [g.name for g in ctx.sms.gateways] == ["log"]
    finally:
        ctx.db.dispose()


def test_a_configured_gateway_keeps_sms_on_and_a_log_fallback_is_named(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    configured = settings.model_copy(
        update={"sms_webhook_url": "https://relay.example.org/sms", "sms_gateways": "webhook,log"}
    )
    with caplog.at_level(logging.WARNING):
        ctx = build_context(configured, mail=RecordingMail(), warn=True)
    try:
        assert ctx.settings.sms_enabled and "sms" in enrollment_choices(ctx)
        assert "'log' is a fallback" in caplog.text and "when webhook fail" in caplog.text
    finally:
        ctx.db.dispose()


def test_cli_commands_stay_quiet_about_sms(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        ctx = build_context(settings, mail=RecordingMail())
    ctx.db.dispose()
    assert "SMS" not in caplog.text
