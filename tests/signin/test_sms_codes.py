"""Codes by text message (the Kinamo page): choosing SMS at enrollment, numbers with a country code,
the exact message, sign-in on request, failures that fail closed, and configuration."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.oob_helpers import post_form, press_send, texted_code, user_with
from tests.support import RecordingSms, alerts, code_for, login_password, make_user, submit_code
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.services.core.context import Context
from twostep.services.enrollment import oob_enrollment
from twostep.storage.models import Factor

NUMBER = "+32470123456"
FAILED = "We couldn't send the text message — try again or choose another method."


def enrolling(client: TestClient, ctx: Context) -> None:
    make_user(ctx)
    login_password(client, "ada@example.com")


def test_enroll_page_lists_the_app_first_with_an_honest_note(client: TestClient, ctx: Context) -> None:
    enrolling(client, ctx)
    page = client.get("/enroll").text
    assert page.index("/enroll/totp") < page.index("/enroll/sms") < page.index("/enroll/email")
    assert "Recommended: the safest choice" in page and "Less safe than an app" in page


def test_sms_page_warns_recommends_the_app_and_preselects_the_configured_country(
    client: TestClient, ctx: Context
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"default_country": "BE"})
    enrolling(client, ctx)
    page = client.get("/enroll/sms").text
    assert "less safe than an authenticator app" in page and 'href="/enroll/totp"' in page
    assert '<option value="BE" selected>Belgium (+32)</option>' in page
    assert 'type="tel"' in page and 'autocomplete="tel"' in page


def test_sms_page_takes_the_country_from_the_language_when_none_is_configured(client: TestClient, ctx: Context) -> None:
    enrolling(client, ctx)
    assert '<option value="NL" selected>' in client.get("/enroll/sms?lang=nl").text
    assert '<option value="" selected>' in client.get("/enroll/sms?lang=en").text  # no guess for English


def test_choosing_sms_texts_the_exact_message_and_the_code_turns_it_on(
    client: TestClient, ctx: Context, sms: RecordingSms
) -> None:
    enrolling(client, ctx)
    sent = post_form(client, "/enroll/sms", phone="+32 470 12 34 56", country="")
    assert sent.status_code == 200
    assert "We sent a code by text message to +32 ••• •• •• 56" in sent.text
    [message] = sms.sent
    code = texted_code(sms, NUMBER)
    assert message.to == NUMBER
    assert message.text == f"{code} is your Acme verification code. It expires in 10 minutes."
    done = post_form(client, "/enroll/sms", code=code)
    assert done.status_code == 200 and "Two-step verification is on" in done.text
    with ctx.db.transaction() as db:
        factor = db.scalars(select(Factor)).one()
        assert (factor.kind, factor.label) == ("sms", "+32 ••• •• •• 56")
        assert b"470123456" not in (factor.target_sealed or b"")
        assert ctx.sealer.open(factor.target_sealed or b"", f"user:{factor.user_id}:sms") == NUMBER
        assert factor.target_digest == oob_enrollment.target_digest(ctx, "sms", NUMBER)


def test_a_national_number_uses_the_chosen_country(client: TestClient, ctx: Context, sms: RecordingSms) -> None:
    enrolling(client, ctx)
    assert post_form(client, "/enroll/sms", phone="0470 12 34 56", country="BE").status_code == 200
    assert sms.sent[-1].to == NUMBER


def test_another_spelling_of_the_same_number_is_the_same_record(
    client: TestClient, ctx: Context, clock: FrozenClock, sms: RecordingSms
) -> None:
    enrolling(client, ctx)
    post_form(client, "/enroll/sms", phone="+32 470 12 34 56", country="")
    again = post_form(client, "/enroll/sms", phone="0032 (0)470-12.34.56", country="")
    assert again.status_code == 429  # the same destination, within its 60-second cooldown
    assert "Wait 60 seconds" in alerts(again.text)[0]
    clock.advance(seconds=61)
    assert post_form(client, "/enroll/sms", phone="0470123456", country="BE").status_code == 200
    with ctx.db.transaction() as db:
        assert len(db.scalars(select(Factor)).all()) == 1
    assert post_form(client, "/enroll/sms", code=texted_code(sms, NUMBER)).status_code == 200


@pytest.mark.parametrize(
    ("phone", "country", "reason"),
    [
        ("", "", "Enter your mobile number."),
        ("12345", "BE", "This is not a valid phone number. Check the digits and the country."),
        ("+32 2 234 56 78", "", "This is not a mobile number, so it can't receive text messages."),
        ("0470 12 34 56", "", "Choose the country, or start the number with + and the country code"),
        ("+32 470 12 34 56 ext. 9", "", "This is not a valid phone number."),
    ],
)
def test_unusable_numbers_are_refused_with_the_reason(
    client: TestClient, ctx: Context, sms: RecordingSms, phone: str, country: str, reason: str
) -> None:
    enrolling(client, ctx)
    response = post_form(client, "/enroll/sms", phone=phone, country=country)
    assert response.status_code == 422
    assert alerts(response.text)[0].startswith(reason)
    assert 'aria-describedby="phone-error' in response.text and f'value="{phone}"' in response.text
    assert sms.sent == []


def test_destination_countries_can_be_limited_against_toll_fraud(
    client: TestClient, ctx: Context, sms: RecordingSms
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"sms_allowed_countries": "BE,NL"})
    enrolling(client, ctx)
    page = client.get("/enroll/sms").text
    assert 'value="BE"' in page and 'value="FR"' not in page
    refused = post_form(client, "/enroll/sms", phone="+33 6 12 34 56 78", country="")
    assert refused.status_code == 422 and "not available here" in alerts(refused.text)[0]
    assert sms.sent == []


def test_sms_can_be_turned_off(client: TestClient, ctx: Context, sms: RecordingSms) -> None:
    ctx.settings = ctx.settings.model_copy(update={"sms_enabled": False})
    enrolling(client, ctx)
    assert "/enroll/sms" not in client.get("/enroll").text
    assert client.get("/enroll/sms").status_code == 404
    assert post_form(client, "/enroll/sms", phone=NUMBER, country="").status_code == 404
    assert sms.sent == []


def test_sign_in_texts_a_code_on_request_and_it_signs_in(client: TestClient, ctx: Context, sms: RecordingSms) -> None:
    user_with(ctx, "ada@example.com", sms=NUMBER)
    response = login_password(client, "ada@example.com")
    assert response.headers["location"] == "/login/code"
    page = client.get("/login/code")
    assert "+32 ••• •• •• 56" in page.text and sms.sent == []
    sent = press_send(client)
    assert sent.status_code == 200
    assert "We sent a code by text message to +32 ••• •• •• 56" in sent.text
    assert submit_code(client, texted_code(sms, NUMBER)).status_code == 303


def test_gateway_failure_fails_closed_and_offers_the_other_methods(
    client: TestClient, ctx: Context, clock: FrozenClock, sms: RecordingSms
) -> None:
    user_id = user_with(ctx, "ada@example.com", sms=NUMBER)
    secret = totp.new_secret()
    with ctx.db.transaction() as db:
        now = ctx.clock.now()
        db.add(
            Factor(
                user_id=user_id,
                kind="totp",
                secret_sealed=ctx.sealer.seal(secret, f"user:{user_id}:totp"),
                created_at=now,
                confirmed_at=now,
            )
        )
    login_password(client, "ada@example.com")
    client.get("/login/code?method=sms")
    sms.down = True
    failed = press_send(client)
    assert failed.status_code == 503 and alerts(failed.text) == [FAILED]
    assert 'href="/login/code?method=totp"' in failed.text and "/login/recover" in failed.text
    assert submit_code(client, "123456").status_code == 401
    assert client.get("/account", follow_redirects=False).headers["location"] == "/login/code"
    client.get("/login/code?method=totp")
    assert submit_code(client, code_for(secret, clock)).status_code == 303


def test_the_sixth_text_within_an_hour_is_refused_before_the_gateway(
    client: TestClient, ctx: Context, clock: FrozenClock, sms: RecordingSms
) -> None:
    user_with(ctx, "ada@example.com", sms=NUMBER)
    login_password(client, "ada@example.com")
    for _ in range(5):
        assert press_send(client).status_code == 200
        clock.advance(seconds=61)
    refused = press_send(client)
    assert refused.status_code == 429 and "Too many codes" in alerts(refused.text)[0]
    assert len(sms.sent) == 5
