"""Binding an authenticator takes more than a password: each attack is a sequence of requests from
two browsers, the owner's and an attacker's who knows only the password."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.support import (
    RecordingMail,
    alerts,
    code_for,
    csrf_of,
    enroll_totp,
    last_mailed_code,
    login_password,
    make_user,
    otpauth_uri,
    secret_of,
    submit_code,
)
from twostep.cli import startup_warnings
from twostep.domain.clock import FrozenClock
from twostep.domain.login_flow import Stage
from twostep.services.core import sessions
from twostep.services.core.context import Context, RequestInfo
from twostep.services.enrollment import enrollment
from twostep.storage.models import AuditEvent, Factor, User, WebSession

OWNER = "dave@example.com"


def browser(client: TestClient) -> TestClient:
    return TestClient(client.app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False)


def without_mailbox_check(ctx: Context) -> None:
    ctx.settings = ctx.settings.model_copy(update={"enroll_mailbox_check": False})


def confirm_totp(client: TestClient, secret: str, clock: FrozenClock, csrf_page: str = "/enroll/totp"):  # type: ignore[no-untyped-def]
    page = client.get(csrf_page)
    return client.post(
        "/enroll/totp", data={"code": code_for(secret, clock), "csrf_token": csrf_of(page.text)}, follow_redirects=False
    )


def confirmed_factors(ctx: Context) -> list[Factor]:
    with ctx.db.transaction() as db:
        return list(db.scalars(select(Factor).where(Factor.confirmed_at.is_not(None))))


# --- 1. a pending secret belongs to the session that asked for it ---------------------------------


def test_a_pending_secret_is_never_shown_to_another_browser(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    without_mailbox_check(ctx)  # the binding must hold on its own, whatever the mailbox setting
    make_user(ctx, OWNER)
    attacker = browser(client)
    login_password(attacker, OWNER)
    stolen = secret_of(otpauth_uri(attacker.get("/enroll/totp").text))

    login_password(client, OWNER)
    owners = secret_of(otpauth_uri(client.get("/enroll/totp").text))
    assert owners != stolen
    assert secret_of(otpauth_uri(attacker.get("/enroll/totp").text)) == stolen  # still no re-scan for each
    assert secret_of(otpauth_uri(client.get("/enroll/totp").text)) == owners


def test_the_attackers_pending_secret_never_becomes_the_owners_method(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    without_mailbox_check(ctx)
    make_user(ctx, OWNER)
    attacker = browser(client)
    login_password(attacker, OWNER)
    stolen = secret_of(otpauth_uri(attacker.get("/enroll/totp").text))
    attacker_form = attacker.get("/enroll/totp").text

    login_password(client, OWNER)
    enroll_totp(client, clock)
    clock.advance(seconds=30)

    late = attacker.post(
        "/enroll/totp",
        data={"code": code_for(stolen, clock), "csrf_token": csrf_of(attacker_form)},
        follow_redirects=False,
    )
    assert late.status_code == 303 and late.headers["location"].startswith("/login")
    assert len(confirmed_factors(ctx)) == 1
    fresh = browser(client)
    assert login_password(fresh, OWNER).headers["location"].startswith("/login/code")
    assert submit_code(fresh, code_for(stolen, clock)).status_code == 401


def test_pending_secrets_are_stored_bound_to_their_session(client: TestClient, ctx: Context) -> None:
    without_mailbox_check(ctx)
    make_user(ctx, OWNER)
    login_password(client, OWNER)
    client.get("/enroll/totp")
    with ctx.db.transaction() as db:
        [pending] = db.scalars(select(Factor).where(Factor.confirmed_at.is_(None))).all()
        [session] = db.scalars(select(WebSession)).all()
        assert pending.pending_session == session.id


# --- 2. an old enrollment-stage session never becomes a fresh, full one ---------------------------


def test_binding_the_first_method_ends_every_other_session_of_the_account(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    without_mailbox_check(ctx)
    make_user(ctx, OWNER)
    attacker = browser(client)
    login_password(attacker, OWNER)  # opened before the owner enrolls; lives 30 minutes
    login_password(client, OWNER)
    enroll_totp(client, clock)

    for path in ("/enroll/totp", "/enroll", "/account", "/account/password"):
        response = attacker.get(path, follow_redirects=False)
        assert response.status_code in (302, 303) and response.headers["location"].startswith("/login"), path
    assert client.get("/account").status_code == 200
    assert len(confirmed_factors(ctx)) == 1


def test_an_enrollment_stage_session_cannot_add_to_an_account_that_has_a_method(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    """Even if such a session survived (the second line of defence), it is ended, not let in."""
    without_mailbox_check(ctx)
    make_user(ctx, OWNER)
    login_password(client, OWNER)
    enroll_totp(client, clock)
    with ctx.db.transaction() as db:
        user = db.scalars(select(User)).one()
        stale = sessions.create(ctx, db, user, Stage.ENROLL, RequestInfo(ip="203.0.113.9", user_agent="x"))
    assert enrollment.start_totp(ctx, stale) == "ended"
    with ctx.db.transaction() as db:
        assert db.get(WebSession, sessions.session_id(ctx, stale)) is None
    assert len(confirmed_factors(ctx)) == 1


def test_adding_a_second_method_always_needs_a_real_second_step(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    make_user(ctx, OWNER)
    login_password(client, OWNER)
    enroll_totp(client, clock)
    clock.advance(minutes=6)  # past the five-minute re-authentication window
    for path in ("/enroll/totp", "/enroll/email", "/enroll/sms"):
        response = client.get(path, follow_redirects=False)
        assert response.headers["location"] == f"/account/reauth?next={path}", path


# --- 3. the first method needs the sign-in mailbox proven --------------------------------------


@pytest.mark.parametrize("path", ["/enroll/totp", "/enroll/email", "/enroll/sms"])
def test_a_password_alone_cannot_open_any_enrollment(client: TestClient, ctx: Context, path: str) -> None:
    make_user(ctx, OWNER)
    assert login_password(client, OWNER, mailbox=False).headers["location"] == "/enroll"
    page = client.get(path, follow_redirects=False)
    assert page.headers["location"] == f"/enroll/mailbox?next={path}"
    form = client.get("/enroll")
    posted = client.post(
        path, data={"code": "123456", "email": "x@elsewhere.example", "phone": "+32470123456",
                    "csrf_token": csrf_of(form.text)}, follow_redirects=False,
    )
    assert posted.headers["location"] == f"/enroll/mailbox?next={path}"
    with ctx.db.transaction() as db:
        assert db.scalars(select(Factor)).all() == []


def test_an_emailed_code_to_the_sign_in_address_opens_enrollment(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    make_user(ctx, OWNER)
    login_password(client, OWNER, mailbox=False)
    page = client.get("/enroll/totp")
    assert page.url.path == "/enroll/mailbox" and OWNER in page.text
    assert mail.sent == []  # nothing is sent until the user asks
    sent = client.post("/enroll/mailbox/send", data={"csrf_token": csrf_of(page.text), "next": "/enroll/totp"})
    assert sent.url.path == "/enroll/mailbox" and sent.url.query == b"sent=1&next=/enroll/totp"
    [message] = mail.sent
    assert message.to == OWNER and "setting up two-step verification" in message.text
    assert 'autocomplete="one-time-code"' in sent.text and 'inputmode="numeric"' in sent.text

    wrong = client.post(
        "/enroll/mailbox", data={"code": "000000", "csrf_token": csrf_of(sent.text), "next": "/enroll/totp"}
    )
    assert wrong.status_code == 401 and alerts(wrong.text)
    proven = client.post(
        "/enroll/mailbox",
        data={"code": last_mailed_code(client), "csrf_token": csrf_of(sent.text), "next": "/enroll/totp"},
        follow_redirects=False,
    )
    assert proven.headers["location"] == "/enroll/totp"
    secret = secret_of(otpauth_uri(client.get("/enroll/totp").text))
    assert confirm_totp(client, secret, clock).status_code == 200
    with ctx.db.transaction() as db:
        events = [e.event for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert "authn_mailbox_check_fail" in events and "authn_mailbox_check" in events


def test_a_mailbox_code_proves_only_the_browser_it_was_sent_to(
    client: TestClient, ctx: Context, mail: RecordingMail
) -> None:
    make_user(ctx, OWNER)
    attacker = browser(client)
    login_password(attacker, OWNER, mailbox=False)
    login_password(client, OWNER, mailbox=False)
    attacker_page = attacker.get("/enroll/mailbox")
    attacker.post("/enroll/mailbox/send", data={"csrf_token": csrf_of(attacker_page.text), "next": "/enroll"})
    # The attacker pressing "send" never makes the owner wait for the resend cooldown.
    owner_page = client.get("/enroll/mailbox")
    sent = client.post("/enroll/mailbox/send", data={"csrf_token": csrf_of(owner_page.text), "next": "/enroll"})
    assert sent.status_code == 200 and alerts(sent.text) == []
    owners_code = last_mailed_code(client)

    tried = attacker.post(
        "/enroll/mailbox", data={"code": owners_code, "csrf_token": csrf_of(attacker_page.text), "next": "/enroll"}
    )
    assert tried.status_code == 401
    assert attacker.get("/enroll/totp", follow_redirects=False).headers["location"].startswith("/enroll/mailbox")
    proven = client.post(
        "/enroll/mailbox", data={"code": owners_code, "csrf_token": csrf_of(sent.text), "next": "/enroll"},
        follow_redirects=False,
    )
    assert proven.headers["location"] == "/enroll"


def test_wrong_mailbox_codes_count_on_the_accounts_throttle(client: TestClient, ctx: Context) -> None:
    make_user(ctx, OWNER)
    login_password(client, OWNER, mailbox=False)
    page = client.get("/enroll/mailbox")
    sent = client.post("/enroll/mailbox/send", data={"csrf_token": csrf_of(page.text), "next": "/enroll"})
    statuses = [
        client.post("/enroll/mailbox", data={"code": f"00000{i}", "csrf_token": csrf_of(sent.text)}).status_code
        for i in range(6)
    ]
    assert statuses[:4] == [401] * 4 and 429 in statuses


def test_a_signed_in_account_without_a_method_also_proves_the_mailbox(client: TestClient, ctx: Context) -> None:
    ctx.settings = ctx.settings.model_copy(update={"twofa_required": "optional"})
    make_user(ctx, OWNER)
    assert login_password(client, OWNER).headers["location"] in ("/account", "/reminder")
    assert client.get("/enroll/totp", follow_redirects=False).headers["location"] == "/enroll/mailbox?next=/enroll/totp"


def test_the_setup_link_needs_no_mailbox_check(client: TestClient, ctx: Context, mail: RecordingMail) -> None:
    from twostep.services.core import accounts

    link = accounts.issue_setup_link(ctx)
    assert link
    path = "/" + link.split("/", 3)[3]
    page = client.get(path)
    from tests.support import PASSWORD

    client.post(
        path,
        data={"email": OWNER, "password": PASSWORD, "password_confirm": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert client.get("/enroll/totp").url.path == "/enroll/totp"
    assert mail.sent == []


def test_with_the_mailbox_check_off_the_password_opens_enrollment_and_start_up_says_the_risk(
    client: TestClient, ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    without_mailbox_check(ctx)
    make_user(ctx, OWNER)
    login_password(client, OWNER, mailbox=False)
    assert client.get("/enroll/totp").url.path == "/enroll/totp"
    assert startup_warnings(ctx.settings) and "ENROLL_MAILBOX_CHECK" in startup_warnings(ctx.settings)[0]
    assert startup_warnings(ctx.settings.model_copy(update={"enroll_mailbox_check": True})) == []
    caplog.set_level(logging.WARNING)


def test_a_new_sign_in_as_someone_else_inherits_nothing_from_the_browsers_last_session(ctx: Context) -> None:
    from tests.support import make_user as create

    first, second = create(ctx, "a@example.com"), create(ctx, "b@example.com")
    info = RequestInfo(ip="198.51.100.1", user_agent="x")
    with ctx.db.transaction() as db:
        a = db.get(User, first)
        b = db.get(User, second)
        assert a is not None and b is not None
        token = sessions.create(ctx, db, a, Stage.ENROLL, info, mailbox_proven_at=ctx.clock.now())
        db.flush()
        row = db.get(WebSession, sessions.session_id(ctx, token))
        assert row is not None
        row.must_replace_method = True
        replaced = sessions.create(ctx, db, b, Stage.ENROLL, info, replacing=row)
        db.flush()
        successor = db.get(WebSession, sessions.session_id(ctx, replaced))
        assert successor is not None
        assert successor.must_replace_method is False and successor.mailbox_proven_at is None
