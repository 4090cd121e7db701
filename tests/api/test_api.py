"""The verification API: keys, problem+json errors, the web's rules (replay, throttle, audit), methods, challenge."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from tests.support import RecordingMail, RecordingSms, code_for, csrf_of, login_password, submit_code
from twostep import cli
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.services.api import apikeys
from twostep.services.core import accounts
from twostep.services.core.context import Context
from twostep.storage.models import ApiKey, AuditEvent, Factor, Throttle

EMAIL = "ada@example.com"


def totp_user(ctx: Context, email: str = EMAIL, *, admin: bool = False) -> str:
    """An account with a confirmed authenticator, made directly (as an import would); returns the seed."""
    user_id = accounts.create_user(ctx, email, None, admin=admin)
    secret = totp.new_secret()
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        db.add(
            Factor(
                user_id=user_id,
                kind="totp",
                secret_sealed=ctx.sealer.seal(secret, f"user:{user_id}:totp"),
                label="Phone",
                created_at=now,
                confirmed_at=now,
            )
        )
    return secret


def add_sent_code_method(ctx: Context, email: str, kind: str, target: str) -> None:
    with ctx.db.transaction() as db:
        user = accounts.find_user_by_email(db, email)
        assert user is not None
        now = ctx.clock.now()
        db.add(
            Factor(
                user_id=user.id,
                kind=kind,
                target_sealed=ctx.sealer.seal(target, f"user:{user.id}:{kind}"),
                target_digest=ctx.digester.digest(target, kind),
                label=target,
                created_at=now,
                confirmed_at=now,
            )
        )


@pytest.fixture
def key(ctx: Context) -> str:
    return apikeys.create(ctx, "Payroll app").key


def call(client: TestClient, key: str | None, path: str, body: object, **headers: str) -> Response:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers.setdefault("Content-Type", "application/json")
    return client.post(path, content=content, headers=headers)


def verify(client: TestClient, key: str | None, code: str, user: str = EMAIL) -> Response:
    return call(client, key, "/api/v1/verify", {"user": user, "code": code})


def assert_problem(response: Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail"}
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    return dict(body)


def events(ctx: Context, name: str) -> list[AuditEvent]:
    with ctx.db.transaction() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)))


# --- keys ---------------------------------------------------------------------------------------


def test_key_has_the_documented_shape_and_only_its_digest_is_stored(ctx: Context, key: str) -> None:
    prefix = apikeys.parse_prefix(key)
    assert key.startswith(f"ts_{prefix}_") and len(key) >= 50
    with ctx.db.transaction() as db:
        row = db.scalar(select(ApiKey))
        assert row is not None and row.prefix == prefix
        assert key not in (row.key_digest, row.name) and row.key_digest == ctx.digester.digest(key, "apikey")


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer ts_00000000_" + "A" * 43, "Bearer not-a-key"],
)
def test_missing_or_unknown_key_is_401_problem(
    client: TestClient, ctx: Context, key: str, authorization: str | None
) -> None:
    totp_user(ctx)
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = call(client, None, "/api/v1/verify", {"user": EMAIL, "code": "123456"}, **headers)
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert str(body["type"]).endswith("/api/docs#problem-unauthorized")


def test_revoked_key_is_refused_at_once(client: TestClient, ctx: Context, clock: FrozenClock, key: str) -> None:
    secret = totp_user(ctx)
    assert verify(client, key, "000000").status_code == 200
    apikeys.revoke(ctx, apikeys.parse_prefix(key) or "")
    assert_problem(verify(client, key, code_for(secret, clock)), 401)
    assert events(ctx, "apikey_revoked")


def test_each_key_has_a_rate_limit_with_retry_after(client: TestClient, ctx: Context, key: str) -> None:
    totp_user(ctx)
    ctx.settings = ctx.settings.model_copy(update={"api_rate_limit_per_minute": 2})
    assert verify(client, key, "000000").status_code == 200
    assert client.get(f"/api/v1/users/{EMAIL}/methods", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    limited = verify(client, key, "000000")
    assert_problem(limited, 429)
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    other = apikeys.create(ctx, "Other app").key
    assert verify(client, other, "000000").status_code == 200


# --- verify: the web's rules ----------------------------------------------------------------------


def test_valid_code_is_accepted_once_and_the_replay_is_refused(
    client: TestClient, ctx: Context, clock: FrozenClock, key: str, mail: RecordingMail
) -> None:
    secret = totp_user(ctx)
    code = code_for(secret, clock)
    first = verify(client, key, code)
    assert first.status_code == 200 and first.json() == {"valid": True}
    assert verify(client, key, code).json() == {"valid": False}
    [success] = events(ctx, "authn_login_success")
    detail = json.loads(success.detail)
    assert success.user_email == EMAIL and detail["via"] == "api" and detail["method"] == "totp"
    assert detail["api_key"] == apikeys.parse_prefix(key) and key not in success.detail
    [reuse] = events(ctx, "authn_token_reuse")
    assert reuse.outcome == "failure"
    assert any("reused" in m.text.lower() or "again" in m.text.lower() for m in mail.sent) or mail.sent
    # an older code than the one consumed is refused too; the next step's code works
    assert verify(client, key, code_for(secret, clock, -1)).json() == {"valid": False}
    clock.advance(seconds=30)
    assert verify(client, key, code_for(secret, clock)).json() == {"valid": True}


def test_a_right_code_forgets_earlier_wrong_ones_and_is_audited_in_full(
    client: TestClient, ctx: Context, clock: FrozenClock, key: str
) -> None:
    """On PostgreSQL the success path is one statement (compare-and-set, throttle, audit row): it must
    leave exactly what the multi-statement path leaves."""
    secret = totp_user(ctx)
    wrong = f"{(int(code_for(secret, clock)) + 1) % 1_000_000:06d}"
    for _ in range(3):
        assert verify(client, key, wrong).json() == {"valid": False}
    with ctx.db.transaction() as db:
        assert db.scalar(select(Throttle.failures)) == 3
    response = verify(client, key, code_for(secret, clock))
    assert response.json() == {"valid": True}
    with ctx.db.transaction() as db:
        assert db.scalars(select(Throttle)).all() == [], "earlier failures are forgotten"
        factor = db.scalars(select(Factor)).one()
        assert factor.last_used_step == totp.step_at(clock.now())
    [success] = events(ctx, "authn_login_success")
    assert success.outcome == "success" and success.user_id is not None and success.actor_id is None
    assert success.request_id == response.headers["x-request-id"] and success.ip and success.reason == ""
    assert json.loads(success.detail) == {
        "api_key": apikeys.parse_prefix(key),
        "method": "totp",
        "step": "second",
        "via": "api",
    }
    for _ in range(4):  # the count starts again: four free guesses before a block
        assert verify(client, key, wrong).json() == {"valid": False}
    assert_problem(verify(client, key, wrong), 429)


def test_wrong_code_is_not_valid_and_is_audited(client: TestClient, ctx: Context, clock: FrozenClock, key: str) -> None:
    secret = totp_user(ctx)
    wrong = f"{(int(code_for(secret, clock)) + 1) % 1_000_000:06d}"
    assert verify(client, key, wrong).json() == {"valid": False}
    assert verify(client, key, "12 34").json() == {"valid": False}
    fails = events(ctx, "authn_login_fail")
    assert len(fails) == 2 and all(json.loads(e.detail)["via"] == "api" for e in fails)
    assert all(wrong not in e.detail for e in fails)


def test_spaces_in_a_code_are_ignored_like_on_the_web(
    client: TestClient, ctx: Context, clock: FrozenClock, key: str
) -> None:
    secret = totp_user(ctx)
    code = code_for(secret, clock)
    assert verify(client, key, f"{code[:3]} {code[3:]}").json() == {"valid": True}


def test_unknown_user_gets_not_valid(client: TestClient, ctx: Context, key: str) -> None:
    totp_user(ctx)
    for user in ["nobody@example.com", "not an email"]:
        response = verify(client, key, "123456", user=user)
        assert response.status_code == 200 and response.json() == {"valid": False}


def test_throttling_answers_429_with_retry_after_and_is_shared_with_the_web(
    client: TestClient, ctx: Context, clock: FrozenClock, key: str
) -> None:
    secret = totp_user(ctx)
    wrong = f"{(int(code_for(secret, clock)) + 1) % 1_000_000:06d}"
    for _ in range(4):
        assert verify(client, key, wrong).json() == {"valid": False}
    blocked = verify(client, key, wrong)
    body = assert_problem(blocked, 429)
    assert blocked.headers["retry-after"] == "30" and str(body["type"]).endswith("#problem-too-many-attempts")
    # even the right code waits; so does the sign-in page for the same account
    assert_problem(verify(client, key, code_for(secret, clock)), 429)
    accounts_password = "violet staple meadow 42"
    with ctx.db.transaction() as db:
        user = accounts.find_user_by_email(db, EMAIL)
        assert user is not None
        user.password_hash = ctx.hashing.hash(accounts_password)
    login_password(client, EMAIL, accounts_password)
    page = submit_code(client, code_for(secret, clock))
    assert page.status_code == 429
    clock.advance(seconds=31)
    assert verify(client, key, code_for(secret, clock)).json() == {"valid": True}


# --- client mistakes are 4xx problems, never 500 --------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        (b"{not json", 400, "malformed-json"),
        (b"\xff\xfe", 400, "malformed-json"),
        (b"[1, 2]", 400, "malformed-json"),
        (b"", 400, "malformed-json"),
        (b'{"user": "ada@example.com"}', 422, "invalid-request"),
        (b'{"code": "123456"}', 422, "invalid-request"),
        (b'{"user": "ada@example.com", "code": 123456}', 422, "invalid-request"),
        (b'{"user": ["ada@example.com"], "code": "123456"}', 422, "invalid-request"),
        (b'{"user": "", "code": "123456"}', 422, "invalid-request"),
        (b'{"user": null, "code": "123456"}', 422, "invalid-request"),
        (json.dumps({"user": "a" * 400 + "@example.com", "code": "1"}).encode(), 422, "invalid-request"),
        (json.dumps({"user": EMAIL, "code": "1" * 5000}).encode(), 413, "payload-too-large"),
    ],
)
def test_client_mistakes_are_problem_json(
    client: TestClient, ctx: Context, key: str, body: bytes, status: int, slug: str
) -> None:
    totp_user(ctx)
    problem = assert_problem(call(client, key, "/api/v1/verify", body), status)
    assert str(problem["type"]).endswith(f"#problem-{slug}")


def test_wrong_content_type_and_unknown_routes_are_problems(client: TestClient, ctx: Context, key: str) -> None:
    payload = json.dumps({"user": EMAIL, "code": "123456"}).encode()
    assert_problem(call(client, key, "/api/v1/verify", payload, **{"Content-Type": "text/plain"}), 415)
    assert_problem(client.get("/api/v1/verify"), 405)
    assert_problem(client.get("/api/v1/nothing-here"), 404)


def test_streamed_oversized_body_is_413(client: TestClient, key: str) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b" " * 1000

    response = client.post(
        "/api/v1/verify",
        content=chunks(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert_problem(response, 413)


# --- methods and challenge -------------------------------------------------------------------------


def test_methods_are_listed_strongest_first(client: TestClient, ctx: Context, key: str) -> None:
    totp_user(ctx)
    add_sent_code_method(ctx, EMAIL, "email", "ada.codes@example.org")
    add_sent_code_method(ctx, EMAIL, "sms", "+48601234567")
    auth = {"Authorization": f"Bearer {key}"}
    response = client.get("/api/v1/users/ADA@example.com/methods", headers=auth)
    assert response.status_code == 200
    assert response.json() == {"user": EMAIL, "methods": ["totp", "sms", "email"]}
    assert_problem(client.get("/api/v1/users/nobody@example.com/methods", headers=auth), 404)
    assert_problem(client.get(f"/api/v1/users/{EMAIL}/methods"), 401)


def test_challenge_sends_a_single_use_code_by_sms(
    client: TestClient, ctx: Context, clock: FrozenClock, key: str, sms: RecordingSms
) -> None:
    totp_user(ctx)
    add_sent_code_method(ctx, EMAIL, "sms", "+48601234567")
    response = call(client, key, "/api/v1/challenge", {"user": EMAIL, "method": "sms"})
    assert response.status_code == 202 and response.json() == {"status": "sent", "method": "sms"}
    [message] = sms.sent
    assert message.to == "+48601234567"
    code = next(word for word in message.text.replace(":", " ").split() if word.isdigit() and len(word) == 6)
    assert verify(client, key, code).json() == {"valid": True}
    assert verify(client, key, code).json() == {"valid": False}
    [success] = events(ctx, "authn_login_success")
    assert json.loads(success.detail)["method"] == "sms"
    again = call(client, key, "/api/v1/challenge", {"user": EMAIL, "method": "sms"})
    assert_problem(again, 429)
    assert int(again.headers["retry-after"]) > 0


def test_challenge_by_email(client: TestClient, ctx: Context, key: str, mail: RecordingMail) -> None:
    totp_user(ctx)
    add_sent_code_method(ctx, EMAIL, "email", "ada.codes@example.org")
    response = call(client, key, "/api/v1/challenge", {"user": EMAIL, "method": "email"})
    assert response.status_code == 202
    assert mail.last_to("ada.codes@example.org")


def test_challenge_refusals_are_problems(client: TestClient, ctx: Context, key: str, mail: RecordingMail) -> None:
    totp_user(ctx)
    assert_problem(call(client, key, "/api/v1/challenge", {"user": EMAIL, "method": "sms"}), 409)
    assert_problem(call(client, key, "/api/v1/challenge", {"user": "nobody@example.com", "method": "sms"}), 404)
    assert_problem(call(client, key, "/api/v1/challenge", {"user": EMAIL, "method": "pigeon"}), 422)
    assert_problem(call(client, key, "/api/v1/challenge", {"user": EMAIL}), 422)
    add_sent_code_method(ctx, EMAIL, "email", "ada.codes@example.org")
    mail.down = True
    assert_problem(call(client, key, "/api/v1/challenge", {"user": EMAIL, "method": "email"}), 502)


# --- documentation and command line ------------------------------------------------------------------


def test_openapi_document_describes_the_api(client: TestClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert {"/api/v1/verify", "/api/v1/challenge", "/api/v1/users/{email}/methods"} <= set(document["paths"])
    verify_op = document["paths"]["/api/v1/verify"]["post"]
    assert verify_op["requestBody"]["content"]["application/json"]["schema"]["required"] == ["user", "code"]
    assert "429" in verify_op["responses"] and "401" in verify_op["responses"]
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"


def test_docs_page_is_self_contained_under_the_csp(client: TestClient) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    html = response.text
    assert "<script" not in html and "cdn" not in html.lower()
    assert "/api/v1/verify" in html and 'id="problem-unauthorized"' in html


def test_cli_creates_lists_and_revokes_keys(
    ctx: Context, settings: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TWOSTEP_DATA_DIR", str(ctx.settings.data_dir))
    monkeypatch.setenv("TWOSTEP_DATABASE_URL", ctx.settings.resolved_database_url)
    assert cli.main(["apikey", "create", "Billing"]) == 0
    created = capsys.readouterr()
    key = created.out.strip()
    assert apikeys.parse_prefix(key) and "not shown again" in created.err
    with ctx.db.transaction() as db:
        assert apikeys.authenticate(ctx, db, key) is not None
    assert cli.main(["apikey", "list"]) == 0
    listing = capsys.readouterr().out
    assert "Billing" in listing and key not in listing and "active" in listing
    assert cli.main(["apikey", "revoke", apikeys.parse_prefix(key) or ""]) == 0
    capsys.readouterr()
    assert cli.main(["apikey", "list", "--json"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["name"] == "Billing" and row["revoked_at"]
    assert cli.main(["apikey", "revoke", "nope"]) == 1
    assert cli.main(["apikey", "create", "   "]) == 1


# --- administration ------------------------------------------------------------------------------------


def signed_in_admin(client: TestClient, ctx: Context, clock: FrozenClock, *, admin: bool = True) -> None:
    email = "root@example.com"
    accounts.create_user(ctx, email, "violet staple meadow 42", admin=admin)
    secret = totp.new_secret()
    with ctx.db.transaction() as db:
        user = accounts.find_user_by_email(db, email)
        assert user is not None
        db.add(
            Factor(
                user_id=user.id,
                kind="totp",
                secret_sealed=ctx.sealer.seal(secret, f"user:{user.id}:totp"),
                created_at=clock.now(),
                confirmed_at=clock.now(),
            )
        )
    login_password(client, email)
    assert submit_code(client, code_for(secret, clock)).status_code == 303


def test_admin_creates_and_revokes_keys_with_csrf(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    signed_in_admin(client, ctx, clock)
    page = client.get("/admin/api-keys")
    assert page.status_code == 200 and "No keys yet" in page.text
    forged = client.post("/admin/api-keys", data={"name": "CRM", "csrf_token": "forged"})
    assert forged.status_code == 400 and not apikeys.list_keys(ctx)
    empty = client.post("/admin/api-keys", data={"name": " ", "csrf_token": csrf_of(page.text)})
    assert empty.status_code == 422 and 'aria-describedby="name-error"' in empty.text
    created = client.post("/admin/api-keys", data={"name": "CRM", "csrf_token": csrf_of(page.text)})
    assert created.status_code == 200 and 'role="status"' in created.text
    [info] = apikeys.list_keys(ctx)
    shown = created.text.split('id="new-key"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
    assert apikeys.parse_prefix(shown) == info.prefix
    assert shown not in client.get("/admin/api-keys").text  # shown once only
    revoked = client.post(f"/admin/api-keys/{info.id}/revoke", data={"csrf_token": csrf_of(page.text)})
    assert revoked.status_code == 200 and apikeys.list_keys(ctx)[0].revoked_at is not None
    assert events(ctx, "apikey_created") and events(ctx, "apikey_revoked")


def test_api_keys_page_is_for_administrators_only(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    assert client.get("/admin/api-keys", follow_redirects=False).headers["location"] == "/login"
    signed_in_admin(client, ctx, clock, admin=False)
    page = client.get("/admin/api-keys")
    assert page.status_code == 403
    assert client.post("/admin/api-keys", data={"name": "x", "csrf_token": csrf_of(page.text)}).status_code == 403
    assert not apikeys.list_keys(ctx)


def test_api_keys_page_needs_a_real_second_step_not_a_remembered_device(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    signed_in_admin(client, ctx, clock)
    with ctx.db.transaction() as db:  # the same session, but as if the code step had been skipped
        from twostep.storage.models import WebSession

        for row in db.scalars(select(WebSession)):
            row.via_remembered_device = True
    refused = client.get("/admin/api-keys", follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"] == "/account/reauth?next=/admin/api-keys"


def test_the_api_writes_the_same_lock_event_as_the_sign_in_page(
    client: TestClient, ctx: Context, clock: FrozenClock, key: str
) -> None:
    secret = totp_user(ctx)
    wrong = f"{(int(code_for(secret, clock)) + 1) % 1_000_000:06d}"
    for _ in range(5):  # the fifth wrong code in a row starts a wait (domain.throttle)
        verify(client, key, wrong)
    [lock] = events(ctx, "authn_login_lock")
    detail = json.loads(lock.detail)
    assert lock.outcome == "failure" and lock.user_email == EMAIL
    assert detail["via"] == "api" and detail["step"] == "second" and detail["seconds"] > 0
    assert detail["failures"] == 5
