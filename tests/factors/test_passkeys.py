"""Passkeys over HTTP, with real WebAuthn responses from a software authenticator
(``tests.passkey_support``): registration, the second step, passwordless sign-in, and every way an
assertion must be refused — another origin, another RP ID, no user verification, a replay, a counter
that goes backwards, an expired challenge, a challenge of another session or purpose — on SQLite
and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.passkey_support import (
    BASE_URL,
    GOOGLE_PASSWORD_MANAGER,
    SoftAuthenticator,
    ceremony,
    options_for,
    register_passkey,
    sign_in_with_passkey,
)
from tests.support import (
    PASSWORD,
    code_for,
    csrf_of,
    enroll_totp,
    login_password,
    make_user,
    sign_out,
    submit_code,
)
from twostep.domain.clock import FrozenClock
from twostep.services.api import apikeys
from twostep.services.core.context import Context, RequestInfo
from twostep.services.rollout import policy
from twostep.services.signin import passwordless
from twostep.settings import Settings, load_settings
from twostep.storage.models import AuditEvent, Factor, PasskeyChallenge, PasskeyCredential, User, WebSession

EMAIL = "ada@example.com"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Passkeys need a domain name (never an IP address): the base URL is http://localhost:8000."""
    return load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        service_name="Acme",
        support_email="help@acme.test",
        base_url=BASE_URL,
    )


def events(ctx: Context, name: str) -> list[AuditEvent]:
    with ctx.db.transaction() as db:
        rows = list(db.scalars(select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)))
        db.expunge_all()
    return rows


def detail(event: AuditEvent) -> dict[str, object]:
    value = json.loads(event.detail or "{}")
    assert isinstance(value, dict)
    return value


def passkey_user(client: TestClient, ctx: Context, authenticator: SoftAuthenticator, name: str = "") -> None:
    """A new account whose first method is this passkey, signed out again."""
    make_user(ctx, EMAIL)
    login_password(client, EMAIL)
    enrolled = register_passkey(client, authenticator, name)
    assert enrolled.status_code == 200 and "recovery-codes" in enrolled.text, enrolled.text
    sign_out(client)


def signed_in_method(ctx: Context) -> tuple[str | None, object, object]:
    with ctx.db.transaction() as db:
        row = db.scalars(select(WebSession).where(WebSession.stage == "signed_in")).one()
        return row.method, row.password_at, row.second_step_at


def test_a_passkey_is_registered_named_and_listed_first(client: TestClient, ctx: Context) -> None:
    authenticator = SoftAuthenticator(aaguid=GOOGLE_PASSWORD_MANAGER, synced=True)
    make_user(ctx, EMAIL)
    login_password(client, EMAIL)
    choice = client.get("/enroll")
    assert choice.text.index("/enroll/passkey") < choice.text.index("/enroll/totp")
    assert register_passkey(client, authenticator, "  My   phone ").status_code == 200
    with ctx.db.transaction() as db:
        factor = db.scalars(select(Factor)).one()
        credential = db.scalars(select(PasskeyCredential)).one()
        assert (factor.kind, factor.label, factor.confirmed_at is not None) == ("passkey", "My phone", True)
        assert credential.aaguid == GOOGLE_PASSWORD_MANAGER and credential.backed_up and credential.backup_eligible
        assert credential.transports == "internal"
    assert [detail(e)["method"] for e in events(ctx, "authn_token_created")] == ["passkey"]


def test_an_unnamed_passkey_is_named_after_its_provider(client: TestClient, ctx: Context) -> None:
    passkey_user(client, ctx, SoftAuthenticator(aaguid=GOOGLE_PASSWORD_MANAGER))
    with ctx.db.transaction() as db:
        assert db.scalar(select(Factor.label)) == "Google Password Manager"


def test_a_passkey_is_the_second_step_after_the_password(client: TestClient, ctx: Context) -> None:
    authenticator = SoftAuthenticator()
    passkey_user(client, ctx, authenticator)
    assert login_password(client, EMAIL).headers["location"] == "/login/code"
    page = client.get("/login/code")
    assert "Use your passkey" in page.text and 'data-passkey="second_step"' in page.text
    done = sign_in_with_passkey(client, authenticator, purpose="second_step", page_path="/login/code")
    assert done.status_code == 200 and done.json() == {"status": "signed_in", "redirect": "/account"}
    assert client.get("/account").status_code == 200
    method, password_at, second_step_at = signed_in_method(ctx)
    assert method == "passkey" and password_at is not None and second_step_at is not None
    [success] = events(ctx, "authn_login_success")
    assert detail(success)["method"] == "passkey" and detail(success)["phishing_resistant"] is True


def test_a_passkey_alone_signs_in_without_password_or_code(client: TestClient, ctx: Context) -> None:
    authenticator = SoftAuthenticator(synced=True)
    passkey_user(client, ctx, authenticator)
    login = client.get("/login")
    assert 'autocomplete="username webauthn"' in login.text and "Sign in with a passkey" in login.text
    done = sign_in_with_passkey(client, authenticator)
    assert done.status_code == 200 and done.json()["redirect"] == "/account"
    assert client.get("/account").status_code == 200
    method, password_at, second_step_at = signed_in_method(ctx)
    assert (method, password_at) == ("passkey_synced", None) and second_step_at is not None
    [success] = events(ctx, "authn_login_success")
    assert detail(success)["via"] == "passkey" and detail(success)["phishing_resistant"] is True


def test_a_password_and_code_sign_in_is_marked_not_phishing_resistant(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    make_user(ctx, EMAIL)
    login_password(client, EMAIL)
    secret = enroll_totp(client, clock)
    sign_out(client)
    clock.advance(seconds=30)
    login_password(client, EMAIL)
    assert submit_code(client, code_for(secret, clock)).status_code == 303
    [success] = events(ctx, "authn_login_success")
    assert detail(success)["phishing_resistant"] is False


def test_passwordless_sign_in_follows_the_policy(client: TestClient, ctx: Context) -> None:
    authenticator = SoftAuthenticator()
    passkey_user(client, ctx, authenticator)
    ctx.settings = ctx.settings.model_copy(update={"passkey_sign_in": False})
    login = client.get("/login")
    assert "Sign in with a passkey" not in login.text and 'autocomplete="username"' in login.text
    refused = ceremony(client, "/webauthn/authenticate/options", {"purpose": "sign_in"}, csrf_of(login.text))
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    # ... and a passkey is still the second step.
    login_password(client, EMAIL)
    done = sign_in_with_passkey(client, authenticator, purpose="second_step", page_path="/login/code")
    assert done.status_code == 200


@pytest.mark.parametrize(
    ("knobs", "reason"),
    [
        ({"origin": "https://login.acme-secure.example"}, "origin"),
        ({"rp_id": "acme-secure.example"}, "RP ID"),
        ({"uv": False}, "verif"),
    ],
    ids=["wrong-origin", "wrong-rp-id", "no-user-verification"],
)
def test_an_assertion_for_another_site_or_without_user_verification_is_refused(
    client: TestClient, ctx: Context, knobs: dict[str, object], reason: str
) -> None:
    authenticator = SoftAuthenticator()
    passkey_user(client, ctx, authenticator)
    refused = sign_in_with_passkey(client, authenticator, **knobs)
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
    assert set(refused.json()) >= {"type", "title", "status", "detail"}
    assert client.get("/account", follow_redirects=False).status_code == 303
    [failure] = events(ctx, "authn_login_fail")
    assert reason in failure.reason and detail(failure)["step"] == "passkey"


def test_a_replayed_assertion_is_refused(client: TestClient, ctx: Context) -> None:
    authenticator = SoftAuthenticator()
    passkey_user(client, ctx, authenticator)
    page = client.get("/login")
    csrf = csrf_of(page.text)
    credential = authenticator.get(options_for(client, "sign_in", csrf))
    body = {"purpose": "sign_in", "credential": credential}
    assert ceremony(client, "/webauthn/authenticate/verify", body, csrf).status_code == 200
    sign_out(client)
    again = client.get("/login")
    replayed = ceremony(client, "/webauthn/authenticate/verify", body, csrf_of(again.text))
    assert replayed.status_code == 401
    assert len(events(ctx, "authn_token_reuse")) == 1


def test_a_counter_that_goes_backwards_is_refused_and_audited_as_a_possible_clone(
    client: TestClient, ctx: Context
) -> None:
    authenticator = SoftAuthenticator()
    passkey_user(client, ctx, authenticator)
    authenticator.sign_count = 10
    assert sign_in_with_passkey(client, authenticator).status_code == 200
    sign_out(client)
    refused = sign_in_with_passkey(client, authenticator, count=7)  # a copy that counted less
    assert refused.status_code == 401
    [clone] = events(ctx, "authn_passkey_counter_regressed")
    assert clone.outcome == "failure" and clone.reason == "possible_clone"
    assert (detail(clone)["stored"], detail(clone)["presented"]) == (11, 7)
    with ctx.db.transaction() as db:
        assert db.scalar(select(PasskeyCredential.sign_count)) == 11


def test_a_synced_passkey_without_a_counter_signs_in_every_time(client: TestClient, ctx: Context) -> None:
    authenticator = SoftAuthenticator(synced=True)
    passkey_user(client, ctx, authenticator)
    for _ in range(3):
        assert sign_in_with_passkey(client, authenticator).status_code == 200
        sign_out(client)
    assert events(ctx, "authn_passkey_counter_regressed") == []


def test_a_challenge_expires_after_five_minutes(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    authenticator = SoftAuthenticator()
    passkey_user(client, ctx, authenticator)
    page = client.get("/login")
    csrf = csrf_of(page.text)
    options = options_for(client, "sign_in", csrf)
    clock.advance(minutes=5, seconds=1)
    credential = authenticator.get(options)
    late = ceremony(client, "/webauthn/authenticate/verify", {"purpose": "sign_in", "credential": credential}, csrf)
    assert late.status_code == 401
    with ctx.db.transaction() as db:
        assert db.scalar(select(func.count()).select_from(PasskeyChallenge)) == 0


def test_a_challenge_answers_only_its_own_session_and_purpose(client: TestClient, ctx: Context) -> None:
    authenticator = SoftAuthenticator()
    passkey_user(client, ctx, authenticator)
    # Issued for a passwordless sign-in in this browser ...
    page = client.get("/login")
    csrf = csrf_of(page.text)
    credential = authenticator.get(options_for(client, "sign_in", csrf))
    # ... not usable as this browser's second step,
    login_password(client, EMAIL)
    code_page = client.get("/login/code")
    as_second = ceremony(
        client, "/webauthn/authenticate/verify", {"purpose": "second_step", "credential": credential},
        csrf_of(code_page.text),
    )  # fmt: skip
    assert as_second.status_code == 401
    # ... nor in another browser.
    with TestClient(client.app, base_url="http://127.0.0.1:8000") as other:
        other_page = other.get("/login")
        elsewhere = ceremony(
            other, "/webauthn/authenticate/verify", {"purpose": "sign_in", "credential": credential},
            csrf_of(other_page.text),
        )  # fmt: skip
        assert elsewhere.status_code == 401


def test_the_ceremony_endpoints_need_the_csrf_token_and_answer_problems(client: TestClient, ctx: Context) -> None:
    make_user(ctx, EMAIL)
    client.get("/login")
    for path in ("/webauthn/register/options", "/webauthn/authenticate/options", "/webauthn/authenticate/verify"):
        refused = client.post(path, json={"purpose": "sign_in"})
        assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "urn:twostep:webauthn:csrf"
    csrf = csrf_of(client.get("/login").text)
    for body in (b"not json", b"[1, 2]", json.dumps({"purpose": "sign_in", "credential": "x"}).encode()):
        answer = client.post(
            "/webauthn/authenticate/verify", content=body,
            headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
        )  # fmt: skip
        assert answer.status_code == 400 and answer.json()["status"] == 400
    garbage = {"purpose": "sign_in", "credential": {"id": "AAAA", "rawId": "AAAA", "type": "public-key",
                                                    "response": {"clientDataJSON": "!!", "authenticatorData": "",
                                                                 "signature": ""}}}  # fmt: skip
    assert ceremony(client, "/webauthn/authenticate/verify", garbage, csrf).status_code == 401


def test_registration_from_another_origin_is_refused(client: TestClient, ctx: Context) -> None:
    make_user(ctx, EMAIL)
    login_password(client, EMAIL)
    page = client.get("/enroll/passkey")
    csrf = csrf_of(page.text)
    options = ceremony(client, "/webauthn/register/options", {}, csrf).json()
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["attestation"] == "none" and options["rp"]["id"] == "localhost"
    credential = SoftAuthenticator().create(options, origin="https://acme-secure.example")
    refused = ceremony(client, "/webauthn/register/verify", {"credential": credential}, csrf)
    assert refused.status_code == 401
    confirmed = client.post("/enroll/passkey", data={"name": "x", "csrf_token": csrf})
    assert confirmed.status_code == 409
    with ctx.db.transaction() as db:
        assert db.scalar(select(func.count()).select_from(Factor)) == 0
    assert len(events(ctx, "authn_token_enroll_fail")) == 1


def test_an_aaguid_allow_list_refuses_other_authenticators(client: TestClient, ctx: Context) -> None:
    ctx.settings = ctx.settings.model_copy(update={"webauthn_allowed_aaguids": GOOGLE_PASSWORD_MANAGER})
    make_user(ctx, EMAIL)
    login_password(client, EMAIL)
    page = client.get("/enroll/passkey")
    csrf = csrf_of(page.text)
    options = ceremony(client, "/webauthn/register/options", {}, csrf).json()
    assert options["attestation"] == "direct"
    refused = ceremony(client, "/webauthn/register/verify", {"credential": SoftAuthenticator().create(options)}, csrf)
    assert refused.status_code == 403
    options = ceremony(client, "/webauthn/register/options", {}, csrf).json()
    allowed = SoftAuthenticator(aaguid=GOOGLE_PASSWORD_MANAGER).create(options)
    assert ceremony(client, "/webauthn/register/verify", {"credential": allowed}, csrf).status_code == 200


def test_the_enrollment_page_works_without_javascript_by_offering_other_methods(
    client: TestClient, ctx: Context
) -> None:
    make_user(ctx, EMAIL)
    login_password(client, EMAIL)
    page = client.get("/enroll/passkey")
    assert "needs JavaScript" in page.text and 'href="/enroll/totp"' in page.text
    assert '<script src="/static/passkey.js"></script>' in page.text
    assert client.get("/static/passkey.js").status_code == 200


def test_passkeys_are_not_offered_where_they_cannot_work(client: TestClient, ctx: Context) -> None:
    """An IP address as the host: browsers refuse passkeys there."""
    ctx.settings = ctx.settings.model_copy(update={"base_url": "http://127.0.0.1:8000"})
    make_user(ctx, EMAIL)
    assert "Sign in with a passkey" not in client.get("/login").text
    login_password(client, EMAIL)
    assert "/enroll/passkey" not in client.get("/enroll").text
    assert client.get("/enroll/passkey", follow_redirects=False).headers["location"] == "/enroll"


def test_the_passkey_password_is_never_needed_again_after_passwordless(client: TestClient, ctx: Context) -> None:
    """A passwordless session is fresh for changes for five minutes: the passkey was both factors."""
    authenticator = SoftAuthenticator()
    passkey_user(client, ctx, authenticator)
    assert sign_in_with_passkey(client, authenticator).status_code == 200
    page = client.get("/account")
    assert "you can change your sign-in settings until" in page.text
    assert PASSWORD not in page.text


def two_passkeys(client: TestClient, ctx: Context) -> tuple[SoftAuthenticator, SoftAuthenticator]:
    """Ada with a laptop passkey and a USB key, signed in with the laptop's (fresh for changes)."""
    laptop, usb = SoftAuthenticator(), SoftAuthenticator()
    passkey_user(client, ctx, laptop, "Laptop")
    assert sign_in_with_passkey(client, laptop).status_code == 200
    assert 'href="/enroll/passkey"' in client.get("/account").text  # "Add a passkey"
    assert register_passkey(client, usb, "USB key").status_code == 200
    return laptop, usb


def passkey_ids(ctx: Context) -> dict[str, int]:
    with ctx.db.transaction() as db:
        return {f.label: f.id for f in db.scalars(select(Factor).where(Factor.kind == "passkey"))}


def test_several_passkeys_each_sign_in_and_one_is_removed_after_reauthentication(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    laptop, usb = two_passkeys(client, ctx)
    account = client.get("/account")
    assert account.text.count('data-kind="passkey"') == 2 and "Add a passkey" in account.text
    ids = passkey_ids(ctx)
    clock.advance(minutes=6)  # the sign-in is no longer fresh enough for a change
    asked = client.get(f"/account/methods/{ids['Laptop']}/remove", follow_redirects=False)
    assert asked.headers["location"].startswith("/account/reauth?next=")
    reauth_page = client.get(asked.headers["location"])
    assert "With your passkey" in reauth_page.text and 'data-passkey="reauth"' in reauth_page.text
    csrf = csrf_of(reauth_page.text)
    options = options_for(client, "reauth", csrf)
    assert [c["id"] for c in options["allowCredentials"]] != []
    answer = ceremony(
        client, "/webauthn/authenticate/verify",
        {"purpose": "reauth", "credential": usb.get(options), "next": f"/account/methods/{ids['Laptop']}/remove"},
        csrf,
    )  # fmt: skip
    assert answer.status_code == 200 and answer.json()["redirect"] == f"/account/methods/{ids['Laptop']}/remove"
    form = client.get(answer.json()["redirect"])
    removed = client.post(
        f"/account/methods/{ids['Laptop']}/remove", data={"csrf_token": csrf_of(form.text)}, follow_redirects=False
    )
    assert removed.headers["location"] == "/account?notice=method_removed"
    assert list(passkey_ids(ctx)) == ["USB key"]
    mail = ctx.mail.sent[-1]  # type: ignore[attr-defined]
    assert mail.subject.endswith("A passkey was removed") and "Laptop" in mail.text
    sign_out(client)
    assert sign_in_with_passkey(client, laptop).status_code == 401
    assert sign_in_with_passkey(client, usb).status_code == 200


def test_a_passkey_is_renamed_from_my_account(client: TestClient, ctx: Context) -> None:
    laptop = SoftAuthenticator(aaguid=GOOGLE_PASSWORD_MANAGER, synced=True)
    passkey_user(client, ctx, laptop)
    assert sign_in_with_passkey(client, laptop).status_code == 200
    page = client.get("/account")
    assert "Saved in Google Password Manager." in page.text and "Synced" in page.text
    [factor_id] = passkey_ids(ctx).values()
    renamed = client.post(
        f"/account/passkeys/{factor_id}/name", data={"name": "Work phone", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )  # fmt: skip
    assert renamed.status_code == 303
    assert list(passkey_ids(ctx)) == ["Work phone"]
    empty = client.post(f"/account/passkeys/{factor_id}/name", data={"name": "  ", "csrf_token": csrf_of(page.text)})
    assert empty.status_code == 409 and list(passkey_ids(ctx)) == ["Work phone"]


def test_the_last_passkey_cannot_be_removed_while_two_step_is_required(client: TestClient, ctx: Context) -> None:
    laptop = SoftAuthenticator()
    passkey_user(client, ctx, laptop)
    assert sign_in_with_passkey(client, laptop).status_code == 200
    [factor_id] = passkey_ids(ctx).values()
    form = client.get(f"/account/methods/{factor_id}/remove")
    refused = client.post(f"/account/methods/{factor_id}/remove", data={"csrf_token": csrf_of(form.text)})
    assert refused.status_code == 409 and len(passkey_ids(ctx)) == 1


def test_an_administrator_sees_and_removes_a_users_passkey_audited(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    laptop, _usb = two_passkeys(client, ctx)
    sign_out(client)
    with TestClient(client.app, base_url="http://127.0.0.1:8000") as admin_client:
        make_user(ctx, "root@example.com", admin=True)
        login_password(admin_client, "root@example.com")
        enroll_totp(admin_client, clock)
        user_id = make_user_id(ctx, EMAIL)
        page = admin_client.get(f"/admin/users/{user_id}")
        assert page.text.count("Remove this passkey") == 2
        ids = passkey_ids(ctx)
        removed = admin_client.post(
            f"/admin/users/{user_id}/passkeys/{ids['Laptop']}/remove", data={"csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        )  # fmt: skip
        assert removed.headers["location"] == f"/admin/users/{user_id}?notice=passkey_removed"
        assert list(passkey_ids(ctx)) == ["USB key"]
        [event] = [e for e in events(ctx, "user_updated") if detail(e).get("action") == "remove_passkey"]
        assert event.actor_id is not None and detail(event)["factor_id"] == ids["Laptop"]
        assert [detail(e)["action"] for e in events(ctx, "authz_admin")][-1] == "remove_passkey"
        last = admin_client.post(
            f"/admin/users/{user_id}/passkeys/{ids['USB key']}/remove", data={"csrf_token": csrf_of(page.text)}
        )
        assert last.status_code == 422 and list(passkey_ids(ctx)) == ["USB key"]
    assert sign_in_with_passkey(client, laptop).status_code == 401


def make_user_id(ctx: Context, email: str) -> int:
    with ctx.db.transaction() as db:
        found = db.scalar(select(User.id).where(User.email == email))
    assert found is not None
    return found


def test_the_api_lists_a_passkey_first_among_the_methods(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    passkey_user(client, ctx, SoftAuthenticator())
    with ctx.db.transaction() as db:
        totp_row = Factor(user_id=make_user_id(ctx, EMAIL), kind="totp", label="", created_at=clock.now(),
                          confirmed_at=clock.now(), secret_sealed=b"")  # fmt: skip
        db.add(totp_row)
    key = apikeys.create(ctx, "portal", request=RequestInfo())
    answer = client.get(f"/api/v1/users/{EMAIL}/methods", headers={"Authorization": f"Bearer {key.key}"})
    assert answer.status_code == 200 and answer.json()["methods"] == ["passkey", "totp"]


def test_passwordless_options_are_limited_per_client_address(client: TestClient, ctx: Context) -> None:
    """Each one stores a challenge before anyone signs in: one address can't fill the table."""
    csrf = csrf_of(client.get("/login").text)
    for _ in range(passwordless.OPTIONS_PER_IP_PER_MINUTE):
        assert ceremony(client, "/webauthn/authenticate/options", {"purpose": "sign_in"}, csrf).status_code == 200
    refused = ceremony(client, "/webauthn/authenticate/options", {"purpose": "sign_in"}, csrf)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    with ctx.db.transaction() as db:  # one browser keeps only its newest challenge
        assert db.scalar(select(func.count()).select_from(PasskeyChallenge)) == 1


def test_a_control_character_in_a_ceremony_body_is_a_problem_not_a_page(client: TestClient, ctx: Context) -> None:
    csrf = csrf_of(client.get("/login").text)
    refused = ceremony(client, "/webauthn/authenticate/verify", {"purpose": "sign_in\u0000"}, csrf)
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"


def test_an_administrator_turns_passwordless_sign_in_off_and_on(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    make_user(ctx, "root@example.com", admin=True)
    login_password(client, "root@example.com")
    enroll_totp(client, clock)
    page = client.get("/admin/policy")
    assert 'name="passkey_sign_in"' in page.text and "checked" in page.text.split('name="passkey_sign_in"')[1][:40]
    form = {"csrf_token": csrf_of(page.text), "twofa_required": "all", "twofa_allowed_methods": ["passkey", "totp"],
            "twofa_grace_days": "0", "twofa_grace_sign_ins": "0", "remember_device_days": "14",
            "password_min_length": "12", "password_check_common": "1"}  # fmt: skip
    assert client.post("/admin/policy", data=form, follow_redirects=False).status_code == 303
    policy.apply(ctx, force=True)
    assert ctx.settings.passkey_sign_in is False
    assert "Sign in with a passkey" not in TestClient(client.app).get("/login").text
    client.post("/admin/policy", data={**form, "passkey_sign_in": "1"}, follow_redirects=False)
    policy.apply(ctx, force=True)
    assert ctx.settings.passkey_sign_in is True


# --- the password reset's second step -------------------------------------------------------------


def _reset_up_to_the_second_step(client: TestClient, ctx: Context) -> None:
    from tests.reset.test_password_reset import forgot, reset, reset_code

    mail = ctx.mail
    forgot(client, EMAIL)
    answer = reset(client, reset_code(mail))  # type: ignore[arg-type]
    assert answer.status_code == 303 and answer.headers["location"] == "/password/reset", answer.text[:300]


def test_a_passkey_completes_a_password_reset_and_signs_in(client: TestClient, ctx: Context) -> None:
    """A passkey-only account (its recovery codes aside) resets its password with the passkey as the
    second step, instead of spending a recovery code."""
    authenticator = SoftAuthenticator(synced=True)
    passkey_user(client, ctx, authenticator)
    _reset_up_to_the_second_step(client, ctx)
    page = client.get("/password/reset")
    assert 'data-passkey="reset"' in page.text and "Use your passkey" in page.text
    assert 'href="/password/reset?method=recovery"' in page.text  # the other way stays offered
    done = sign_in_with_passkey(client, authenticator, purpose="reset", page_path="/password/reset")
    assert done.status_code == 200
    assert done.json() == {"status": "signed_in", "redirect": "/account?notice=password_reset"}
    assert client.get("/account").status_code == 200
    method, _, second_step_at = signed_in_method(ctx)
    assert method == "passkey_synced" and second_step_at is not None  # amr: swk, as a passkey sign-in
    sign_out(client)
    from tests.reset.test_password_reset import NEW_PASSWORD

    assert login_password(client, EMAIL, NEW_PASSWORD).headers["location"] == "/login/code"
    [changed] = events(ctx, "authn_password_change")
    assert detail(changed)["second_step"] == "passkey"
    success = events(ctx, "authn_login_success")[-1]
    assert detail(success)["via"] == "reset" and detail(success)["phishing_resistant"] is True


def test_a_passkey_answer_is_refused_outside_a_pending_reset_and_for_another_session(
    client: TestClient, ctx: Context
) -> None:
    authenticator = SoftAuthenticator()
    passkey_user(client, ctx, authenticator)
    signed_out = client.get("/login")
    refused = ceremony(client, "/webauthn/authenticate/options", {"purpose": "reset"}, csrf_of(signed_out.text))
    assert refused.status_code == 401 and refused.json()["redirect"] == "/password/forgot?notice=expired"
    _reset_up_to_the_second_step(client, ctx)
    # A second-step challenge of a *sign-in* does not answer the reset: the challenge is bound to its session.
    other = TestClient(client.app, base_url=BASE_URL)
    login_password(other, EMAIL)
    sign_in_options = options_for(other, "second_step", csrf_of(other.get("/login/code").text))
    credential = authenticator.get(sign_in_options)
    csrf = csrf_of(client.get("/password/reset").text)
    wrong = ceremony(client, "/webauthn/authenticate/verify", {"purpose": "reset", "credential": credential}, csrf)
    assert wrong.status_code in (400, 401) and wrong.json()["title"] == "invalid"
    assert events(ctx, "authn_password_change") == []
