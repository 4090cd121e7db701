"""Codes by email to a separate address (the Kintone page): enrollment, sign-in, the one-time code
rules (expiry, single use, binding, tries, caps), failures, and choosing the method."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.oob_helpers import mailed_code, post_form, press_send, user_with
from tests.support import (
    RecordingMail,
    alerts,
    code_for,
    csrf_of,
    login_password,
    make_user,
    submit_code,
)
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.domain.codes import CodePurpose
from twostep.services.core.context import Context
from twostep.services.factors import sent_codes
from twostep.storage.models import AuditEvent, Factor, OneTimeCode, User

CODES = "ada.codes@example.org"
FAILED = "We couldn't send the email — try again or choose another method."


def statuses(html: str) -> list[str]:
    import re
    from html import unescape

    return [unescape(m.strip()) for m in re.findall(r'role="status">([^<]*)<', html)]


def signed_out_email_user(client: TestClient, ctx: Context, clock: FrozenClock) -> int:
    user_id = user_with(ctx, "ada@example.com", email=CODES)
    clock.advance(seconds=61)
    return user_id


def test_enrolling_sends_a_code_to_the_separate_address_and_only_that_code_turns_it_on(
    client: TestClient, ctx: Context, mail: RecordingMail
) -> None:
    make_user(ctx)
    login_password(client, "ada@example.com")
    page = client.get("/enroll/email")
    assert "ada@example.com" in page.text and "take over your account" in page.text
    sent = post_form(client, "/enroll/email", email=" Ada.Codes@Example.org ")
    assert sent.status_code == 200
    assert statuses(sent.text) == ["We sent a code to a••••••••@example.org. It is valid for 10 minutes."]
    message = mail.last_to(CODES)
    assert message.subject == "[Acme] Verification code"
    assert "10 minutes" in message.text and "http" not in message.text.split("Questions?")[0]
    wrong = post_form(client, "/enroll/email", code="000000" if mailed_code(mail, CODES) != "000000" else "111111")
    assert wrong.status_code == 401
    assert client.get("/account", follow_redirects=False).headers["location"] == "/enroll"
    done = post_form(client, "/enroll/email", code=mailed_code(mail, CODES))
    assert done.status_code == 200 and "Two-step verification is on" in done.text
    assert done.text.count("<li><code>") == 10  # first method: recovery codes shown once
    with ctx.db.transaction() as db:
        factor = db.scalars(select(Factor)).one()
        assert factor.kind == "email" and factor.confirmed_at is not None
        assert factor.label == "a••••••••@example.org"
        assert b"codes" not in (factor.target_sealed or b"")
    assert "sign-in method was added" in mail.last_to("ada@example.com").subject


@pytest.mark.parametrize("address", ["ada@example.com", "  ADA@Example.COM ", "ada+2fa@example.com"])
def test_the_sign_in_address_is_refused_as_the_code_address_with_the_reason(
    client: TestClient, ctx: Context, mail: RecordingMail, address: str
) -> None:
    make_user(ctx)
    login_password(client, "ada@example.com")
    mail.sent.clear()  # the mailbox check's code
    response = post_form(client, "/enroll/email", email=address)
    assert response.status_code == 422
    assert "Use a different address from the one you sign in with (ada@example.com)" in alerts(response.text)[0]
    assert 'aria-describedby="email-error email-why"' in response.text
    assert mail.sent == []


def test_a_malformed_address_is_refused_next_to_the_field(client: TestClient, ctx: Context) -> None:
    make_user(ctx)
    login_password(client, "ada@example.com")
    response = post_form(client, "/enroll/email", email="not an address")
    assert response.status_code == 422
    assert alerts(response.text) == ["Enter a valid email address, like name@example.com."]


def test_sign_in_mails_the_code_to_the_separate_address_and_it_signs_in(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    signed_out_email_user(client, ctx, clock)
    response = login_password(client, "ada@example.com")
    assert response.headers["location"] == "/login/code?sent=1"
    page = client.get(response.headers["location"])
    assert statuses(page.text) == ["We sent you a code. It is valid for 10 minutes."]
    assert "a••••••••@example.org" in page.text
    assert [m.to for m in mail.sent] == [CODES]
    signed_in = submit_code(client, mailed_code(mail, CODES))
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/account"
    with ctx.db.transaction() as db:
        assert db.scalars(select(User.last_method)).one() == "email"


def test_a_used_code_does_not_work_again(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    signed_out_email_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    code = mailed_code(mail, CODES)
    assert submit_code(client, code).status_code == 303
    clock.advance(seconds=61)
    other = TestClient(client.app, base_url="http://127.0.0.1:8000")
    login_password(other, "ada@example.com")
    assert submit_code(other, code).status_code == 401


def test_an_expired_code_is_refused(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    """Sign-in codes die with their pending sign-in; the code's own 10 minutes are checked here."""
    user_id = make_user(ctx)
    with ctx.db.transaction() as db:
        user = db.get(User, user_id)
        assert user is not None
        issued = sent_codes.issue(ctx, db, user, CodePurpose.SIGN_IN, factor=None, bound_to="pending-1")
    clock.advance(minutes=10)
    with ctx.db.transaction() as db:
        user = db.get(User, user_id)
        assert user is not None
        assert not sent_codes.verify(ctx, db, user, CodePurpose.SIGN_IN, "pending-1", issued.code).accepted
    clock.advance(seconds=-1)
    with ctx.db.transaction() as db:
        user = db.get(User, user_id)
        assert user is not None
        assert sent_codes.verify(ctx, db, user, CodePurpose.SIGN_IN, "pending-1", issued.code).accepted


def test_a_code_only_works_for_its_purpose_and_its_pending_request(ctx: Context) -> None:
    user_id = make_user(ctx)
    with ctx.db.transaction() as db:
        user = db.get(User, user_id)
        assert user is not None
        code = sent_codes.issue(ctx, db, user, CodePurpose.ADDRESS_CHECK, factor=None, bound_to="factor:1").code
        assert not sent_codes.verify(ctx, db, user, CodePurpose.SIGN_IN, "factor:1", code).accepted
        assert not sent_codes.verify(ctx, db, user, CodePurpose.ADDRESS_CHECK, "factor:2", code).accepted
        assert sent_codes.verify(ctx, db, user, CodePurpose.ADDRESS_CHECK, "factor:1", code).accepted


def test_another_users_code_is_refused(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    user_with(ctx, "ada@example.com", email=CODES)
    user_with(ctx, "bob@example.com", email="bob.codes@example.org")
    login_password(client, "ada@example.com")
    other = TestClient(client.app, base_url="http://127.0.0.1:8000")
    login_password(other, "bob@example.com")
    assert submit_code(other, mailed_code(mail, CODES)).status_code == 401
    assert submit_code(client, mailed_code(mail, CODES)).status_code == 303


def test_resend_waits_60_seconds_and_voids_the_previous_code(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    signed_out_email_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    first = mailed_code(mail, CODES)
    too_soon = press_send(client)
    assert too_soon.status_code == 429
    assert alerts(too_soon.text) == ["We just sent a code. Wait 60 seconds before asking for a new one."]
    clock.advance(seconds=61)
    again = press_send(client)
    assert again.status_code == 200 and len(mail.sent) == 2
    second = mailed_code(mail, CODES)
    if first != second:
        assert submit_code(client, first).status_code == 401
    assert submit_code(client, second).status_code == 303


def test_the_sixth_send_within_an_hour_is_refused_and_nothing_is_sent(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    signed_out_email_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    for _ in range(4):
        clock.advance(seconds=61)
        assert press_send(client).status_code == 200
    clock.advance(seconds=61)
    sixth = press_send(client)
    assert sixth.status_code == 429
    assert "Too many codes were sent in the last hour" in alerts(sixth.text)[0]
    assert len(mail.sent) == 5


def test_sends_to_one_address_are_capped_whichever_account_asks(ctx: Context, clock: FrozenClock) -> None:
    users = [make_user(ctx, "ada@example.com"), make_user(ctx, "bob@example.com")]
    outcomes = []
    with ctx.db.transaction() as db:
        for index in range(6):
            user = db.get(User, users[index % 2])
            assert user is not None
            issued = sent_codes.issue(
                ctx, db, user, CodePurpose.SIGN_IN, factor=None, bound_to=f"p{index}", target_digest="shared"
            )
            outcomes.append(issued.outcome)
            clock.advance(seconds=61)
    assert outcomes == ["issued"] * 5 + ["hourly_limit"]


def test_five_wrong_tries_kill_a_code_and_failures_keep_counting_across_codes(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    make_user(ctx)
    login_password(client, "ada@example.com")
    post_form(client, "/enroll/email", email=CODES)
    code = mailed_code(mail, CODES)
    wrong = "111111" if code != "111111" else "222222"
    for _ in range(5):
        assert post_form(client, "/enroll/email", code=wrong).status_code in (401, 429)
    clock.advance(seconds=31)
    dead = post_form(client, "/enroll/email", code=code)
    assert dead.status_code == 429  # checked (the 30 s had passed), refused: its five tries are spent
    assert alerts(dead.text) == ["Too many attempts. Wait 60 seconds, then try again."]
    clock.advance(seconds=61)
    post_form(client, "/enroll/email", resend="1")
    blocked = post_form(client, "/enroll/email", code=wrong)
    # The 7th failure in a row: a new code did not reset the account's count (a fresh one would be free).
    assert alerts(blocked.text) == ["Too many attempts. Wait 120 seconds, then try again."]
    clock.advance(minutes=3)
    assert post_form(client, "/enroll/email", code=mailed_code(mail, CODES)).status_code == 200


def test_codes_and_addresses_are_never_stored_in_clear(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    signed_out_email_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    code = mailed_code(mail, CODES)
    with ctx.db.transaction() as db:
        rows = db.scalars(select(OneTimeCode)).all()
        assert rows and all(code not in (r.code_digest + r.bound_to) for r in rows)
        factor = db.scalars(select(Factor)).one()
        assert CODES.encode() not in (factor.target_sealed or b"") and CODES not in (factor.target_digest or "")
        audit = " ".join(e.detail + e.reason for e in db.scalars(select(AuditEvent)))
        assert code not in audit and CODES not in audit


def test_mail_failure_at_sign_in_fails_closed_and_a_retry_works(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    user_with(ctx, "ada@example.com", email=CODES)
    mail.down = True
    response = login_password(client, "ada@example.com")
    assert response.headers["location"] == "/login/code?sent=failed"
    page = client.get(response.headers["location"])
    assert page.status_code == 200 and alerts(page.text) == [FAILED]
    assert "/login/recover" in page.text
    assert client.get("/account", follow_redirects=False).headers["location"] == "/login/code"
    still_down = press_send(client)
    assert still_down.status_code == 503 and alerts(still_down.text) == [FAILED]
    mail.down = False
    back = press_send(client)  # no 60-second wait: the failed sends gave their cooldown back
    assert back.status_code == 200
    assert submit_code(client, mailed_code(mail, CODES)).status_code == 303
    with ctx.db.transaction() as db:
        events = [e.event for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert events.count("authn_code_send_fail") == 2 and "authn_code_sent" in events


def test_the_last_used_method_is_the_default_and_others_can_be_chosen(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    user_id = user_with(ctx, "ada@example.com", email=CODES)
    secret = totp.new_secret()
    with ctx.db.transaction() as db:
        now = ctx.clock.now()
        db.add(
            Factor(
                user_id=user_id,
                kind="totp",
                secret_sealed=ctx.sealer.seal(secret, f"user:{user_id}:totp"),
                label="",
                created_at=now,
                confirmed_at=now,
            )
        )
    first = login_password(client, "ada@example.com")
    assert first.headers["location"] == "/login/code"  # no method used yet: the app first, nothing mailed
    assert mail.sent == [] and "authenticator app" in client.get("/login/code").text
    by_mail = client.get("/login/code?method=email")
    assert "Send a code" in by_mail.text and 'href="/login/code?method=totp"' in by_mail.text
    press_send(client)
    assert submit_code(client, mailed_code(mail, CODES)).status_code == 303
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/account").text)})
    clock.advance(seconds=61)
    again = login_password(client, "ada@example.com")
    assert again.headers["location"] == "/login/code?sent=1"  # email was used last: it is the default
    assert len(mail.sent) == 2
    client.get("/login/code?method=totp")
    assert submit_code(client, code_for(secret, clock)).status_code == 303
    with ctx.db.transaction() as db:
        assert db.scalars(select(User.last_method)).one() == "totp"


def test_of_twenty_parallel_submissions_of_one_code_exactly_one_wins(ctx: Context) -> None:
    user_id = make_user(ctx)
    with ctx.db.transaction() as db:
        user = db.get(User, user_id)
        assert user is not None
        code = sent_codes.issue(ctx, db, user, CodePurpose.SIGN_IN, factor=None, bound_to="pending-1").code

    def submit(_: int) -> bool:
        with ctx.db.transaction() as db:
            owner = db.get(User, user_id)
            assert owner is not None
            return sent_codes.verify(ctx, db, owner, CodePurpose.SIGN_IN, "pending-1", code).accepted

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(submit, range(20)))
    assert results.count(True) == 1
