"""Issue 18: entering a code, the same on every page that asks for one — one large field with
``autocomplete="one-time-code"``, the account named ("Not you?"), specific refusals (wrong length,
"this code was just used", "send a new code" for codes we send), the same boxed alert everywhere —
and codes we send: "Didn't get it? Send a new code" below the field with its wait, each sentence
once, POST-redirect-GET for every send."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.oob_helpers import mailed_code, post_form, press_send, user_with
from tests.support import (
    RecordingMail,
    alerts,
    code_for,
    csrf_of,
    enrolled_user,
    login_password,
    make_user,
    prove_mailbox,
    submit_code,
)
from twostep.domain.clock import FrozenClock
from twostep.services.core.context import Context
from twostep.storage.models import AuditEvent

CODES = "ada.codes@example.org"


def code_inputs(html: str) -> list[str]:
    return re.findall(r'<input id="code"[^>]*>', html)


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("12", "Codes have 6 digits; you entered 2."),
        ("1234 5678", "Codes have 6 digits; you entered 8."),
        ("12a456", "A code has only digits. Enter the 6 digits."),
        ("", "Enter the 6-digit code."),
    ],
)
def test_a_code_of_the_wrong_shape_says_what_is_wrong_and_counts_as_no_guess(
    client: TestClient, ctx: Context, clock: FrozenClock, typed: str, said: str
) -> None:
    enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    for _ in range(6):  # more than the 5 wrong codes that end a pending sign-in
        refused = submit_code(client, typed)
        assert refused.status_code == 422 and alerts(refused.text) == [said]
    with ctx.db.transaction() as db:
        assert db.scalars(select(AuditEvent).where(AuditEvent.event == "authn_login_fail")).all() == []
    assert client.get("/login/code").status_code == 200  # the sign-in is still pending


def test_a_code_typed_with_spaces_or_a_hyphen_is_accepted(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    secret = enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    code = code_for(secret, clock)
    assert submit_code(client, f"{code[:3]}-{code[3:]}").status_code == 303


def test_every_code_field_is_one_large_autofocused_one_time_code_field(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    """One macro (``templates/_code.html``) draws it on every page; here the sign-in page, before and
    after a wrong code: the contract's field name ``code``, and the error in the boxed alert."""
    secret = enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    wrong = submit_code(client, "000000" if code_for(secret, clock) != "000000" else "111111")
    for html in (client.get("/login/code").text, wrong.text):
        [field] = code_inputs(html)
        for attribute in ('autocomplete="one-time-code"', 'inputmode="numeric"', 'class="code-input"', "autofocus",
                          'data-digits="6"'):
            assert attribute in field, (attribute, field)
    assert '<p class="error" id="code-error" role="alert">' in wrong.text
    assert 'aria-describedby="code-help code-error"' in wrong.text


def test_the_code_page_names_the_account_and_not_you_cancels_the_sign_in(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    page = client.get("/login/code")
    assert "Signing in as ada@example.com." in page.text and "Not you?" in page.text
    assert ">Cancel</button>" in page.text and ">Sign out</button>" not in page.text  # nobody is signed in yet
    cancelled = client.post("/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert cancelled.headers["location"] == "/login"  # not "you are signed out": nobody was signed in
    assert client.get("/login/code", follow_redirects=False).headers["location"] == "/login"


def test_a_wrong_code_we_sent_says_send_a_new_code_not_wait_for_the_next(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    user_with(ctx, "ada@example.com", email=CODES)
    login_password(client, "ada@example.com")
    wrong = submit_code(client, "000000" if mailed_code(mail, CODES) != "000000" else "111111")
    assert alerts(wrong.text) == ["That code didn't work. Check it and try again, or send a new code."]
    assert "wait for the next" not in wrong.text and "authenticator app" not in wrong.text.split("<h2")[0]


def test_after_a_send_the_page_says_it_once_and_offers_a_new_code_below_the_field_with_its_wait(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    user_with(ctx, "ada@example.com", email=CODES)
    login_password(client, "ada@example.com")
    clock.advance(seconds=20)
    page = client.get("/login/code?sent=1")
    body = page.text.split('<main id="main"', 1)[1]
    assert body.count("valid for 10 minutes") == 1 and body.count("We sent") == 1
    field, resend = body.index('<input id="code"'), body.index(">Send a new code</button>")
    assert field < resend and "Didn't get it?" in body
    assert 'class="link" id="resend"' in body  # a small link-like button, not a big one above the field
    assert re.search(r'id="resend-wait" data-seconds="40">\(you can ask again in 40 s\)', body)
    clock.advance(seconds=41)
    assert 'id="resend-wait" data-seconds="0" hidden' in client.get("/login/code").text


def test_sending_a_code_answers_with_a_redirect_so_a_reload_never_sends_again(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    user_with(ctx, "ada@example.com", email=CODES)
    login_password(client, "ada@example.com")
    clock.advance(seconds=61)
    page = client.get("/login/code")
    sent = client.post("/login/code/send", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"] == "/login/code?sent=1"
    assert len(mail.sent) == 2
    for _ in range(2):  # the reload is a GET: nothing more is sent
        assert client.get(sent.headers["location"]).status_code == 200
    assert len(mail.sent) == 2
    again = press_send(client)  # within the cooldown: the page says how long, at /login/code
    assert again.status_code == 429 and again.url.path == "/login/code"
    assert alerts(again.text) == ["We just sent a code. Wait 60 seconds before asking for a new one."]
    assert submit_code(client, mailed_code(mail, CODES)).status_code == 303  # the code in the inbox still works


def test_a_replay_from_another_browser_gets_the_specific_message_and_the_alarm(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    secret = enrolled_user(client, ctx, clock)
    code = code_for(secret, clock)
    login_password(client, "ada@example.com")
    assert submit_code(client, code).status_code == 303
    clock.advance(seconds=12)
    other = TestClient(client.app, base_url="http://127.0.0.1:8000", headers={"User-Agent": "Other/1.0"})
    login_password(other, "ada@example.com")
    replay = submit_code(other, code)
    left = 30 - int(clock.now().timestamp()) % 30
    assert alerts(replay.text) == [f"This code was just used. Wait for the next one in your app, about {left} seconds."]
    assert "used twice" in mail.last_to("ada@example.com").subject


def test_the_mailbox_check_and_address_enrollment_show_the_full_address_just_typed(
    client: TestClient, ctx: Context, mail: RecordingMail
) -> None:
    make_user(ctx)
    login_password(client, "ada@example.com", mailbox=False)
    mailbox = client.get("/enroll/mailbox?next=/enroll/email")
    assert "We sent a 6-digit code to ada@example.com." in mailbox.text  # mailed with the password
    prove_mailbox(client, "/enroll/email")
    sent = post_form(client, "/enroll/email", email=CODES)
    page = client.get(sent.headers["location"])
    assert f"We sent a 6-digit code to {CODES}." in page.text and "••" not in page.text
    assert "Wrong address" in page.text and 'href="/enroll/email?change=1"' in page.text
    short = post_form(client, "/enroll/email", code="123")
    assert short.status_code == 422 and alerts(short.text) == ["Codes have 6 digits; you entered 3."]
