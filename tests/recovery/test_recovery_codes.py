"""Recovery codes and "Can't get a code?": the ScanSnap lost-phone flow over HTTP (checklist RC-01..RC-06)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select, update

from tests.support import (
    RecordingMail,
    alerts,
    code_for,
    csrf_of,
    login_password,
    make_user,
    otpauth_uri,
    secret_of,
    sign_out,
    submit_code,
)
from twostep.domain.clock import FrozenClock
from twostep.services.core.context import Context
from twostep.services.factors import recovery
from twostep.storage.models import AuditEvent, Factor, RecoveryCode, RememberedDevice, User, WebSession

CODE_SHAPE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")


def enroll_and_keep_codes(client: TestClient, clock: FrozenClock) -> tuple[str, list[str]]:
    """From the enrollment stage: scan, confirm, and read the recovery codes off the page."""
    page = client.get("/enroll/totp")
    secret = secret_of(otpauth_uri(page.text))
    done = client.post("/enroll/totp", data={"code": code_for(secret, clock), "csrf_token": csrf_of(page.text)})
    assert done.status_code == 200, alerts(done.text)
    return secret, re.findall(r"<li><code>([^<]+)</code></li>", done.text)


def user_with_codes(
    client: TestClient, ctx: Context, clock: FrozenClock, email: str = "ada@example.com"
) -> tuple[str, list[str]]:
    make_user(ctx, email)
    login_password(client, email)
    secret, codes = enroll_and_keep_codes(client, clock)
    sign_out(client)
    clock.advance(seconds=30)
    return secret, codes


def use_recovery_code(client: TestClient, code: str) -> Response:
    page = client.get("/login/recover")
    return client.post(
        "/login/recover", data={"recovery_code": code, "csrf_token": csrf_of(page.text)}, follow_redirects=False
    )


def events(ctx: Context, name: str) -> list[AuditEvent]:
    with ctx.db.transaction() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)))


def lost_phone(client: TestClient, factor_ids: list[str] | None = None) -> Response:
    page = client.get("/login/recover/lost-phone")
    assert page.status_code == 200
    chosen = (
        factor_ids
        if factor_ids is not None
        else re.findall(r'name="factor" type="checkbox" value="(\d+)" checked', page.text)
    )
    return client.post(
        "/login/recover/lost-phone",
        data={"factor": chosen, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


def test_first_enrollment_shows_ten_codes_of_80_bits_stored_only_as_digests(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    _, codes = user_with_codes(client, ctx, clock)
    assert len(codes) == len(set(codes)) == 10
    assert all(CODE_SHAPE.match(code) for code in codes)  # 16 Crockford base32 characters = 80 bits
    with ctx.db.transaction() as db:
        stored = list(db.scalars(select(RecoveryCode.code_digest)))
    assert len(stored) == 10
    assert not any(code.replace("-", "") in digest.upper() or code in digest for code in codes for digest in stored)


def test_download_returns_only_the_users_codes_as_an_uncached_text_attachment(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    make_user(ctx)
    login_password(client, "ada@example.com")
    _, codes = enroll_and_keep_codes(client, clock)
    page = client.get("/account")
    response = client.post(
        "/account/recovery-codes.txt",
        data={"codes": [*codes, "<script>alert(1)</script>", "AAAA-AAAA-AAAA-AAAA"], "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["content-disposition"].startswith("attachment;")
    assert "no-store" in response.headers["cache-control"]
    assert all(code in response.text for code in codes)
    assert "script" not in response.text and "AAAA-AAAA" not in response.text
    assert "ada@example.com" in response.text


def test_download_needs_csrf_and_a_signed_in_session(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    make_user(ctx)
    login_password(client, "ada@example.com")
    _, codes = enroll_and_keep_codes(client, clock)
    forged = client.post("/account/recovery-codes.txt", data={"codes": codes, "csrf_token": "forged"})
    assert forged.status_code == 400 and codes[0] not in forged.text
    stranger = TestClient(client.app, base_url="http://127.0.0.1:8000")
    anonymous = stranger.post("/account/recovery-codes.txt", data={"codes": codes}, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"


def test_code_page_links_to_recovery_and_recovery_needs_the_password_step_first(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    _, codes = user_with_codes(client, ctx, clock)
    anonymous = client.get("/login/recover", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"
    posted = client.post("/login/recover", data={"recovery_code": codes[0]}, follow_redirects=False)
    assert posted.headers["location"] == "/login"
    login_password(client, "ada@example.com")
    assert 'href="/login/recover"' in client.get("/login/code").text
    page = client.get("/login/recover")
    assert page.status_code == 200
    assert 'name="recovery_code"' in page.text and 'autocomplete="one-time-code"' in page.text


def test_recovery_code_completes_the_pending_sign_in_and_the_owner_is_told(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    _, codes = user_with_codes(client, ctx, clock)
    login_password(client, "ada@example.com")
    response = use_recovery_code(client, codes[3])
    assert response.status_code == 303
    assert response.headers["location"] == "/login/recover/lost-phone?signed_in=1"
    offer = client.get(response.headers["location"])
    assert "Recovery codes left: 9" in offer.text
    assert "I lost my phone" in offer.text
    assert client.get("/account").status_code == 200
    notice = mail.last_to("ada@example.com")
    assert "recovery code" in notice.subject.lower() and "9" in notice.text
    [event] = events(ctx, "authn_login_success")[-1:]
    assert '"method": "recovery_code"' in event.detail and event.ip


def test_recovery_code_works_once_and_a_replay_is_reported(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    _, codes = user_with_codes(client, ctx, clock)
    login_password(client, "ada@example.com")
    assert use_recovery_code(client, codes[0]).status_code == 303
    other = TestClient(client.app, base_url="http://127.0.0.1:8000")
    login_password(other, "ada@example.com")
    again = use_recovery_code(other, codes[0])
    assert again.status_code == 401
    assert alerts(again.text) == ["That recovery code didn't work. Check it and try again; each code works only once."]
    assert other.get("/account", follow_redirects=False).headers["location"] == "/login/code"
    assert len(events(ctx, "authn_token_reuse")) == 1
    assert "used twice" in mail.last_to("ada@example.com").subject


def test_codes_are_forgiving_about_case_spaces_and_dashes(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    _, codes = user_with_codes(client, ctx, clock)
    login_password(client, "ada@example.com")
    sloppy = " " + codes[1].replace("-", " ").lower() + " "
    assert use_recovery_code(client, sloppy).status_code == 303


def test_user_a_recovery_code_is_refused_in_user_b_sign_in(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    _, codes_a = user_with_codes(client, ctx, clock, "ada@example.com")
    user_with_codes(client, ctx, clock, "bob@example.com")
    login_password(client, "bob@example.com")
    refused = use_recovery_code(client, codes_a[0])
    assert refused.status_code == 401
    assert client.get("/account", follow_redirects=False).headers["location"] == "/login/code"
    login_password(client, "ada@example.com")
    assert use_recovery_code(client, codes_a[0]).status_code == 303


def test_empty_code_gets_a_message_next_to_the_field(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    user_with_codes(client, ctx, clock)
    login_password(client, "ada@example.com")
    response = use_recovery_code(client, "   ")
    assert response.status_code == 422
    assert 'aria-describedby="recovery-help recovery_code-error"' in response.text
    assert alerts(response.text) == ["Enter a recovery code, like ABCD-EFGH-JKMN-PQRS."]


def test_wrong_recovery_codes_share_the_accounts_throttle_and_attempt_limit(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    _secret, codes = user_with_codes(client, ctx, clock)
    login_password(client, "ada@example.com")
    for _ in range(3):
        assert use_recovery_code(client, "ZZZZ-ZZZZ-ZZZZ-ZZZZ").status_code == 401
    assert submit_code(client, "000000").status_code == 401
    fifth = use_recovery_code(client, "ZZZZ-ZZZZ-ZZZZ-ZZZZ")
    assert fifth.status_code == 303 and fifth.headers["location"] == "/login?notice=restart"
    login_password(client, "ada@example.com")
    blocked = use_recovery_code(client, codes[0])
    assert blocked.status_code == 429
    assert alerts(blocked.text) == ["Too many attempts. Wait 30 seconds, then try again."]
    assert events(ctx, "authn_login_lock")
    clock.advance(seconds=31)
    assert use_recovery_code(client, codes[0]).status_code == 303


def test_two_or_fewer_codes_left_asks_for_new_ones(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    _, codes = user_with_codes(client, ctx, clock)
    login_password(client, "ada@example.com")
    use_recovery_code(client, codes[0])
    assert "Create new recovery codes" not in client.get("/login/recover/lost-phone?signed_in=1").text
    sign_out(client)
    with ctx.db.transaction() as db:
        user_id = db.scalar(select(User.id))
        assert user_id is not None
        assert all(recovery.consume(ctx, db, user_id, code) for code in codes[1:7])
    login_password(client, "ada@example.com")
    assert use_recovery_code(client, codes[7]).status_code == 303
    page = client.get("/login/recover/lost-phone?signed_in=1")
    assert "Recovery codes left: 2" in page.text
    assert 'href="/account/recovery-codes"' in page.text and "Create new recovery codes" in page.text


def test_no_codes_left_and_no_device_says_whom_to_contact(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    user_with_codes(client, ctx, clock)
    with ctx.db.transaction() as db:
        db.execute(update(RecoveryCode).values(used_at=clock.now()))
    login_password(client, "ada@example.com")
    page = client.get("/login/recover")
    assert "You have no recovery codes left." in page.text
    assert 'name="recovery_code"' not in page.text
    assert "Contact help@acme.test." in page.text and 'href="mailto:help@acme.test"' in page.text
    assert "an email alone never turns two-step verification off" in page.text


def test_lost_phone_removes_the_method_and_forces_a_new_one_with_new_codes(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    old_secret, old_codes = user_with_codes(client, ctx, clock)
    login_password(client, "ada@example.com")
    use_recovery_code(client, old_codes[0])
    response = lost_phone(client)
    assert response.status_code == 303 and response.headers["location"] == "/enroll"
    with ctx.db.transaction() as db:
        assert db.scalars(select(Factor).where(Factor.confirmed_at.is_not(None))).all() == []
    for path in ["/account", "/admin", "/"]:
        assert client.get(path, follow_redirects=False).headers["location"] == "/enroll", path
    assert "removed" in mail.last_to("ada@example.com").subject
    [removed] = events(ctx, "authn_token_delete")
    assert removed.reason == "lost phone" and '"method": "totp"' in removed.detail

    clock.advance(seconds=30)
    new_secret, new_codes = enroll_and_keep_codes(client, clock)
    assert new_secret != old_secret
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    sign_out(client)

    clock.advance(seconds=30)
    login_password(client, "ada@example.com")
    assert submit_code(client, code_for(old_secret, clock)).status_code == 401
    assert use_recovery_code(client, old_codes[1]).status_code == 401
    assert submit_code(client, code_for(new_secret, clock)).status_code == 303


def test_lost_phone_signs_out_other_sessions_and_forgets_remembered_devices(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    secret, codes = user_with_codes(client, ctx, clock)
    thief = TestClient(client.app, base_url="http://127.0.0.1:8000")
    login_password(thief, "ada@example.com")
    assert submit_code(thief, code_for(secret, clock), remember=True).status_code == 303
    login_password(client, "ada@example.com")
    use_recovery_code(client, codes[0])
    lost_phone(client)
    assert thief.get("/account", follow_redirects=False).headers["location"] == "/login"
    with ctx.db.transaction() as db:
        assert db.scalars(select(RememberedDevice)).all() == []
        assert [row.stage for row in db.scalars(select(WebSession))] == ["enroll"]


def test_lost_phone_needs_a_fresh_sign_in_and_a_choice(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    _, codes = user_with_codes(client, ctx, clock)
    login_password(client, "ada@example.com")
    use_recovery_code(client, codes[0])
    nothing = lost_phone(client, factor_ids=[])
    assert nothing.status_code == 422 and alerts(nothing.text) == ["Choose at least one method to remove."]
    page = client.get("/login/recover/lost-phone")
    clock.advance(minutes=6)
    stale = client.get("/login/recover/lost-phone", follow_redirects=False)
    assert stale.headers["location"].startswith("/account/reauth?next=/login/recover/lost-phone")
    factor_id = re.findall(r'name="factor" type="checkbox" value="(\d+)"', page.text)
    refused = client.post(
        "/login/recover/lost-phone",
        data={"factor": factor_id, "csrf_token": csrf_of(client.get("/account").text)},
        follow_redirects=False,
    )
    assert refused.headers["location"].startswith("/account/reauth")
    with ctx.db.transaction() as db:
        assert len(db.scalars(select(Factor)).all()) == 1


def download(client: TestClient, codes: list[str]) -> Response:
    page = client.get("/account")
    return client.post(
        "/account/recovery-codes.txt",
        data={"codes": codes, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


def test_download_needs_a_fresh_session_not_a_remembered_device(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    make_user(ctx)
    login_password(client, "ada@example.com")
    secret, codes = enroll_and_keep_codes(client, clock)
    clock.advance(minutes=6)  # the re-authentication window (5 minutes) has passed
    stale = download(client, codes)
    assert stale.status_code == 303 and stale.headers["location"].startswith("/account/reauth")
    assert codes[0] not in stale.text
    sign_out(client)
    clock.advance(seconds=30)
    login_password(client, "ada@example.com")
    assert submit_code(client, code_for(secret, clock), remember=True).status_code == 303
    sign_out(client)
    assert login_password(client, "ada@example.com").headers["location"] == "/account"  # the remembered device
    remembered = download(client, codes)
    assert remembered.status_code == 303 and remembered.headers["location"].startswith("/account/reauth")
    assert codes[0] not in remembered.text


def test_download_counts_wrong_codes_on_the_accounts_throttle(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    make_user(ctx)
    login_password(client, "ada@example.com")
    _, codes = enroll_and_keep_codes(client, clock)
    guesses = [f"AAAA-AAAA-AAAA-AA{n}{n}" for n in range(2, 7)]  # five wrong guesses
    first = download(client, guesses)
    assert first.status_code == 200 and "AAAA" not in first.text
    with ctx.db.transaction() as db:
        failures = db.scalar(select(AuditEvent.detail).where(AuditEvent.event == "authn_login_fail"))
    assert failures is not None and '"misses": 5' in failures
    throttled = download(client, codes)
    assert throttled.status_code == 429 and codes[0] not in throttled.text
    assert "Wait" in " ".join(alerts(throttled.text))
    clock.advance(seconds=31)
    assert download(client, codes).status_code == 200
