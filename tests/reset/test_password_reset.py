"""Password reset by emailed code (the Kinamo page): no account enumeration, the code's rules, and
never past two-step verification (Keycloak #12759): the emailed code alone changes nothing."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from tests.oob_helpers import mailed_code, post_form, press_send, reset_code_in, texted_code, user_with
from tests.support import (
    PASSWORD,
    RecordingMail,
    RecordingSms,
    alerts,
    code_for,
    csrf_of,
    login_password,
    make_user,
    submit_code,
)
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.services.core.context import Context
from twostep.services.factors import recovery
from twostep.storage.models import AuditEvent, Factor, WebSession

NEW_PASSWORD = "copper lantern orchard 7"
CODES = "ada.codes@example.org"
NUMBER = "+32470123456"


def new_client(client: TestClient) -> TestClient:
    return TestClient(client.app, base_url="http://127.0.0.1:8000")


def forgot(client: TestClient, email: str) -> Response:
    page = client.get("/password/forgot")
    return client.post(
        "/password/forgot", data={"email": email, "csrf_token": csrf_of(page.text)}, follow_redirects=False
    )


def reset(client: TestClient, code: str, password: str = NEW_PASSWORD, confirm: str | None = None) -> Response:
    return post_form(
        client,
        "/password/reset",
        code=code,
        password=password,
        password_confirm=password if confirm is None else confirm,
    )


def reset_code(mail: RecordingMail, email: str = "ada@example.com") -> str:
    return reset_code_in(mail.last_to(email).text)


def totp_user(ctx: Context, email: str = "ada@example.com") -> tuple[int, str]:
    user_id = make_user(ctx, email)
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
    return user_id, secret


def password_works(client: TestClient, password: str) -> bool:
    return login_password(new_client(client), "ada@example.com", password, mailbox=False).status_code == 303


def test_forgot_answers_identically_for_known_and_unknown_addresses(
    client: TestClient, ctx: Context, mail: RecordingMail
) -> None:
    make_user(ctx)
    known_client, unknown_client = client, new_client(client)
    known = forgot(known_client, "ada@example.com")
    unknown = forgot(unknown_client, "nobody@example.com")
    assert (
        (known.status_code, known.headers["location"], known.content)
        == (
            unknown.status_code,
            unknown.headers["location"],
            unknown.content,
        )
        == (303, "/password/reset", b"")
    )
    assert sorted(known.headers.keys()) == sorted(unknown.headers.keys())

    def cookie_shapes(response: Response) -> list[tuple[str, int]]:
        return sorted((c.split("=", 1)[0], len(c.split(";")[0])) for c in response.headers.get_list("set-cookie"))

    assert cookie_shapes(known) == cookie_shapes(unknown)  # tickets are padded: no length tells
    pages = [c.get("/password/reset") for c in (known_client, unknown_client)]
    bodies = [p.text.replace(csrf_of(p.text), "CSRF") for p in pages]
    assert pages[0].status_code == pages[1].status_code == 200 and bodies[0] == bodies[1]
    assert "If an account uses the address you entered" in bodies[0]
    [message] = mail.sent
    assert message.to == "ada@example.com" and message.subject == "[Acme] Password reset code"
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{8}", reset_code(mail))


def test_the_request_alone_changes_nothing(client: TestClient, ctx: Context) -> None:
    make_user(ctx)
    forgot(client, "ada@example.com")
    assert password_works(client, PASSWORD)


def test_without_two_step_the_code_resets_the_password_once_and_signs_nobody_in(
    client: TestClient, ctx: Context, mail: RecordingMail
) -> None:
    make_user(ctx)
    signed_in = new_client(client)
    login_password(signed_in, "ada@example.com")  # an enrollment session, ended by the reset
    forgot(client, "ada@example.com")
    ticket = client.cookies.get("twostep_reset")
    code = reset_code(mail)
    done = reset(client, code.lower()[:4] + " " + code[4:])
    assert done.status_code == 303 and done.headers["location"] == "/login?notice=password_reset"
    assert not any(
        c.startswith("twostep_session=") and "Max-Age=0" not in c for c in done.headers.get_list("set-cookie")
    )
    assert "Your password was changed" in client.get(done.headers["location"]).text
    assert not password_works(client, PASSWORD) and password_works(client, NEW_PASSWORD)
    assert signed_in.get("/enroll", follow_redirects=False).headers["location"] == "/login"
    assert any("Your password was reset" in m.subject for m in mail.sent if m.to == "ada@example.com")
    client.cookies.set("twostep_reset", ticket or "")
    again = reset(client, code, password="another fine password 9")
    assert again.status_code == 401 and alerts(again.text) == [
        "That code didn't work. Check it, or ask for a new code."
    ]


def test_a_two_step_account_cannot_change_its_password_with_only_the_emailed_code(
    client: TestClient, ctx: Context, mail: RecordingMail
) -> None:
    totp_user(ctx)
    forgot(client, "ada@example.com")
    step = reset(client, reset_code(mail))
    assert step.status_code == 303 and step.headers["location"] == "/password/reset"
    page = client.get("/password/reset")
    assert "One more step" in page.text and "authenticator app" in page.text
    assert "Code by email" not in page.text  # the sign-in inbox never counts as the second step
    assert client.get("/account", follow_redirects=False).headers["location"] == "/password/reset"
    assert client.get("/login/code", follow_redirects=False).headers["location"] == "/password/reset"
    assert password_works(client, PASSWORD) and not password_works(client, NEW_PASSWORD)
    with ctx.db.transaction() as db:
        stages = sorted(row.stage for row in db.scalars(select(WebSession)))
        assert stages == ["reset_second_step", "second_step"]  # no signed-in session anywhere
        assert all("copper" not in data for data in db.scalars(select(WebSession.data)))


def test_the_authenticator_app_completes_the_reset_signs_in_and_everyone_else_is_signed_out(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    _, secret = totp_user(ctx)
    phone = new_client(client)
    login_password(phone, "ada@example.com")
    assert submit_code(phone, code_for(secret, clock), remember=True).status_code == 303
    clock.advance(seconds=30)
    forgot(client, "ada@example.com")
    reset(client, reset_code(mail))
    wrong = post_form(client, "/password/reset", code="000000" if code_for(secret, clock) != "000000" else "111111")
    assert wrong.status_code == 401 and password_works(client, PASSWORD)
    form = client.get("/password/reset")
    clock.advance(seconds=40)  # a real person takes a while: the pending session is touched, then ended
    done = client.post(
        "/password/reset",
        data={"code": code_for(secret, clock), "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    # A real second step passed: the reset ends signed in, in a new session (issue 18; CR-07 kept for
    # accounts without two-step verification, above), and every other session and device is gone.
    assert done.status_code == 303 and done.headers["location"] == "/account?notice=password_reset"
    old_token = form.cookies.get("twostep_session") or ""
    assert client.cookies.get("twostep_session") not in ("", None, old_token)
    account = client.get(done.headers["location"], follow_redirects=False)
    assert account.status_code == 200 and "Your new password is set and you are signed in" in account.text
    assert phone.get("/account", follow_redirects=False).headers["location"] == "/login"
    with ctx.db.transaction() as db:
        stages = [row.stage for row in db.scalars(select(WebSession))]
        assert stages == ["signed_in"]  # the one new session; the pending reset and the phone's are gone
        success = db.scalars(select(AuditEvent).where(AuditEvent.event == "authn_login_success")).all()[-1]
        assert '"via": "reset"' in success.detail and '"method": "totp"' in success.detail
    remembered = login_password(phone, "ada@example.com", NEW_PASSWORD)
    assert remembered.headers["location"] == "/login/code"  # the remembered device was forgotten
    assert "Your password was reset" in mail.last_to("ada@example.com").subject


def test_a_recovery_code_completes_the_reset(client: TestClient, ctx: Context, mail: RecordingMail) -> None:
    user_id, _ = totp_user(ctx)
    with ctx.db.transaction() as db:
        codes = recovery.regenerate(ctx, db, user_id)
    forgot(client, "ada@example.com")
    reset(client, reset_code(mail))
    page = client.get("/password/reset?method=recovery")
    assert "you have 10 left" in page.text
    done = post_form(client, "/password/reset", code=codes[0].lower())
    assert done.headers["location"] == "/account?notice=password_reset"
    assert password_works(client, NEW_PASSWORD)
    assert "Recovery codes left: 9" in mail.last_to("ada@example.com").text


def test_a_texted_code_completes_the_reset(
    client: TestClient, ctx: Context, mail: RecordingMail, sms: RecordingSms
) -> None:
    user_with(ctx, "ada@example.com", sms=NUMBER)
    forgot(client, "ada@example.com")
    reset(client, reset_code(mail))
    sent = press_send(client, "/password/reset", "/password/reset/send")
    assert sent.status_code == 200 and "+32 ••• •• •• 56" in sent.text
    done = post_form(client, "/password/reset", code=texted_code(sms, NUMBER))
    assert done.headers["location"] == "/account?notice=password_reset"


def test_the_separate_code_address_may_complete_the_reset(
    client: TestClient, ctx: Context, mail: RecordingMail
) -> None:
    user_with(ctx, "ada@example.com", email=CODES)
    forgot(client, "ada@example.com")
    reset(client, reset_code(mail))
    press_send(client, "/password/reset", "/password/reset/send")
    done = post_form(client, "/password/reset", code=mailed_code(mail, CODES))
    assert done.headers["location"] == "/account?notice=password_reset"


def test_a_code_address_that_is_the_sign_in_mailbox_never_passes_the_reset(
    client: TestClient, ctx: Context, mail: RecordingMail
) -> None:
    user_with(ctx, "ada@example.com", email="ada+codes@example.com")
    forgot(client, "ada@example.com")
    reset(client, reset_code(mail))
    page = client.get("/password/reset")
    assert "none of its methods can be used" in alerts(page.text)[0]
    assert press_send(client, "/password/reset", "/password/reset/send").status_code == 400
    assert len(mail.sent) == 1 and password_works(client, PASSWORD)


def test_an_expired_reset_code_is_refused(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    make_user(ctx)
    forgot(client, "ada@example.com")
    clock.advance(minutes=10, seconds=1)
    assert reset(client, reset_code(mail)).status_code == 401
    assert password_works(client, PASSWORD)


def test_five_wrong_tries_kill_the_reset_code(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    make_user(ctx)
    forgot(client, "ada@example.com")
    for _ in range(5):
        assert reset(client, "AAAA2222").status_code in (401, 429)
    clock.advance(seconds=31)
    assert reset(client, reset_code(mail)).status_code in (401, 429)
    assert password_works(client, PASSWORD)


def test_reset_requests_are_limited_without_a_different_answer(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    make_user(ctx)
    answers = []
    for _ in range(6):
        answers.append(forgot(client, "ada@example.com"))
        clock.advance(seconds=61)
    assert {(a.status_code, a.headers["location"]) for a in answers} == {(303, "/password/reset")}
    assert len(mail.sent) == 5
    quick = [forgot(client, "ada@example.com"), forgot(client, "ada@example.com")]
    assert [a.status_code for a in quick] == [303, 303] and len(mail.sent) == 5


def test_reset_requests_from_one_client_address_are_capped(
    client: TestClient, ctx: Context, mail: RecordingMail
) -> None:
    make_user(ctx)
    for index in range(20):
        assert forgot(client, f"nobody{index}@example.com").status_code == 303
    answer = forgot(client, "ada@example.com")  # the 21st from this address within the hour
    assert (answer.status_code, answer.headers["location"]) == (303, "/password/reset") and mail.sent == []


def test_password_rules_are_checked_before_the_code_is_spent(
    client: TestClient, ctx: Context, mail: RecordingMail
) -> None:
    make_user(ctx)
    forgot(client, "ada@example.com")
    code = reset_code(mail)
    differ = reset(client, code, confirm="something else entirely")
    assert differ.status_code == 422 and alerts(differ.text) == ["The two passwords are not the same."]
    short = reset(client, code, password="short")
    assert short.status_code == 422 and "at least" in alerts(short.text)[0]
    assert reset(client, code).headers["location"] == "/login?notice=password_reset"


def test_bad_input_on_the_reset_pages_gets_a_clear_answer(client: TestClient) -> None:
    assert client.get("/password/reset", follow_redirects=False).headers["location"] == "/password/forgot"
    malformed = forgot(client, "not an address")
    assert malformed.status_code == 422
    assert alerts(malformed.text) == ["Enter a valid email address, like name@example.com."]
    no_ticket = client.post(
        "/password/reset", data={"code": "X", "csrf_token": csrf_of(client.get("/password/forgot").text)}
    )
    assert no_ticket.status_code == 200 and "/password/forgot" in str(no_ticket.url)


def test_when_only_the_passwords_are_refused_the_emailed_code_stays_and_the_field_in_error_has_the_focus(
    client: TestClient, ctx: Context, mail: RecordingMail
) -> None:
    totp_user(ctx)
    forgot(client, "ada@example.com")
    code = reset_code(mail)
    differ = reset(client, code, confirm="copper lantern orchard 8")
    assert differ.status_code == 422 and alerts(differ.text) == ["The two passwords are not the same."]
    assert f'value="{code}"' in differ.text
    assert re.search(r'<input id="password_confirm"[^>]* autofocus', differ.text)
    assert not re.search(r'<input id="code"[^>]* autofocus', differ.text)
    short = reset(client, code, password="short")
    assert f'value="{code}"' in short.text and re.search(r'<input id="password"[^>]* autofocus', short.text)
    wrong_code = reset(client, "AAAA2222")  # the code itself refused: nothing to keep
    assert 'value="AAAA2222"' not in wrong_code.text
    assert re.search(r'<input id="code"[^>]* autofocus', wrong_code.text)


def test_the_reset_pages_offer_cancel_never_sign_out(client: TestClient, ctx: Context, mail: RecordingMail) -> None:
    totp_user(ctx)
    forgot(client, "ada@example.com")
    reset(client, reset_code(mail))
    second = client.get("/password/reset")
    assert ">Cancel</button>" in second.text and ">Sign out</button>" not in second.text
    assert ">Sign out</button>" not in client.get("/password/forgot").text


def test_the_second_step_names_the_account_and_not_you_ends_the_reset_back_at_sign_in(
    client: TestClient, ctx: Context, mail: RecordingMail
) -> None:
    totp_user(ctx)
    forgot(client, "ada@example.com")
    reset(client, reset_code(mail))
    second = client.get("/password/reset")
    assert "Resetting the password for ada@example.com." in second.text
    assert re.search(r'<form method="post" action="/password/reset/cancel"[^>]*>.*?>Not you\?</button>', second.text)
    refused = client.post("/password/reset/cancel", data={"csrf_token": "forged"}, follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"] == "/password/reset"
    with ctx.db.transaction() as db:
        assert "reset_second_step" in [row.stage for row in db.scalars(select(WebSession))]
    cancelled = client.post("/password/reset/cancel", data={"csrf_token": csrf_of(second.text)}, follow_redirects=False)
    assert cancelled.status_code == 303 and cancelled.headers["location"] == "/login"
    with ctx.db.transaction() as db:
        assert "reset_second_step" not in [row.stage for row in db.scalars(select(WebSession))]
    # The pending reset is gone and so is the ticket: /password/reset starts over at /password/forgot.
    assert client.get("/password/reset", follow_redirects=False).headers["location"] == "/password/forgot"
    assert client.get("/login").status_code == 200
    assert password_works(client, PASSWORD) and not password_works(client, NEW_PASSWORD)
