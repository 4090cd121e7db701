"""The ceiling on consecutive wrong second-step codes (NIST SP 800-63B-4 §3.2.2: at most 100).

The 100th consecutive wrong code disables the authenticator it was tried against, whichever way the
code came in: the sign-in page, the verification API, re-authentication or a password reset's second
step — one helper (``services.guesses``) does it for all of them, and each is enumerated here. A
disabled authenticator is not offered and its codes are refused everywhere, the API's fast path
included; the owner gets a mail and the audit log an ``authn_token_disabled`` event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.api.test_api import verify
from tests.oob_helpers import post_form
from tests.support import PASSWORD, RecordingMail, code_for, csrf_of, login_password, make_user, submit_code
from twostep.domain import throttle as throttle_rules
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.services.api import apikeys
from twostep.services.core import throttling
from twostep.services.core.context import Context
from twostep.storage.models import AuditEvent, Factor, Throttle

EMAIL = "ada@example.com"


@dataclass
class Account:
    user_id: int
    secret: str


def account(ctx: Context) -> Account:
    user_id = make_user(ctx, EMAIL)
    secret = totp.new_secret()
    with ctx.db.transaction() as db:
        now = ctx.clock.now()
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
    return Account(user_id, secret)


def failures_so_far(ctx: Context, user_id: int, failures: int) -> None:
    """As if ``failures`` wrong codes had come in, days apart (no delay running now)."""
    with ctx.db.transaction() as db:
        key = throttling.second_step_key(user_id)
        row = db.get(Throttle, key)
        if row is None:
            db.add(Throttle(key=key, failures=failures, blocked_until=None, updated_at=ctx.clock.now()))
        else:
            row.failures, row.blocked_until = failures, None


def wrong(secret: str, clock: FrozenClock) -> str:
    return "000000" if code_for(secret, clock) != "000000" else "111111"


def disabled_at(ctx: Context, user_id: int) -> list[object]:
    with ctx.db.transaction() as db:
        return list(db.scalars(select(Factor.disabled_at).where(Factor.user_id == user_id)))


# Each caller: (prepare, one wrong code). ``prepare`` may sign in (a success clears the count), so the
# count is set to 99 between the two.
Step = Callable[[TestClient, Context, FrozenClock, RecordingMail, Account], None]


def _web_sign_in_prepare(client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail, a: Account) -> None:
    assert login_password(client, EMAIL).headers["location"] == "/login/code"


def _web_sign_in_wrong(client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail, a: Account) -> None:
    assert submit_code(client, wrong(a.secret, clock)).status_code in (401, 429)


def _api_prepare(client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail, a: Account) -> None:
    client.headers["x-test-key"] = apikeys.create(ctx, "app").key


def _api_wrong(client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail, a: Account) -> None:
    response = verify(client, client.headers["x-test-key"], wrong(a.secret, clock))
    assert response.status_code in (200, 429)


def _reauth_prepare(client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail, a: Account) -> None:
    login_password(client, EMAIL)
    assert submit_code(client, code_for(a.secret, clock)).status_code == 303
    clock.advance(minutes=10)  # no longer fresh
    page = client.get("/account/reauth?next=/account")
    step1 = client.post(
        "/account/reauth",
        data={"password": PASSWORD, "next": "/account", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert step1.status_code == 303


def _reauth_wrong(client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail, a: Account) -> None:
    page = client.get("/account/reauth/code?next=/account")
    client.post(
        "/account/reauth/code",
        data={"code": wrong(a.secret, clock), "next": "/account", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


def _reset_prepare(client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail, a: Account) -> None:
    from tests.reset.test_password_reset import forgot, reset, reset_code

    forgot(client, EMAIL)
    response = reset(client, reset_code(mail))
    assert response.status_code == 303, response.text


def _reset_wrong(client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail, a: Account) -> None:
    post_form(client, "/password/reset", code=wrong(a.secret, clock))


CALLERS: dict[str, tuple[Step, Step]] = {
    "web_sign_in": (_web_sign_in_prepare, _web_sign_in_wrong),
    "verification_api": (_api_prepare, _api_wrong),
    "reauthentication": (_reauth_prepare, _reauth_wrong),
    "password_reset_second_step": (_reset_prepare, _reset_wrong),
}


@pytest.mark.parametrize("caller", sorted(CALLERS))
def test_the_hundredth_wrong_code_disables_the_authenticator_on_every_path(
    caller: str, client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    a = account(ctx)
    prepare, wrong_code = CALLERS[caller]
    prepare(client, ctx, clock, mail, a)
    failures_so_far(ctx, a.user_id, throttle_rules.CONSECUTIVE_FAILURE_CEILING - 2)
    wrong_code(client, ctx, clock, mail, a)
    assert disabled_at(ctx, a.user_id) == [None], "the 99th failure disables nothing"
    failures_so_far(ctx, a.user_id, throttle_rules.CONSECUTIVE_FAILURE_CEILING - 1)
    wrong_code(client, ctx, clock, mail, a)
    assert all(disabled_at(ctx, a.user_id)), "the 100th failure disables the authenticator"
    with ctx.db.transaction() as db:
        events = list(db.scalars(select(AuditEvent).where(AuditEvent.event == "authn_token_disabled")))
    assert len(events) == 1 and events[0].user_id == a.user_id
    assert "A sign-in method was turned off" in mail.last_to(EMAIL).subject
    assert "recovery codes" in mail.last_to(EMAIL).text


def test_a_disabled_authenticator_verifies_nowhere(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    """Not on the API (its one-statement fast path included), not at sign-in; a success with
    another way back (a recovery code, an administrator's reset) is what undoes it."""
    a = account(ctx)
    key = apikeys.create(ctx, "app").key
    failures_so_far(ctx, a.user_id, throttle_rules.CONSECUTIVE_FAILURE_CEILING - 1)
    assert verify(client, key, wrong(a.secret, clock)).json().get("valid") is not True  # 429: a delay too
    assert all(disabled_at(ctx, a.user_id))
    failures_so_far(ctx, a.user_id, 0)  # even with no delay running
    clock.advance(seconds=30)
    assert verify(client, key, code_for(a.secret, clock)).json() == {"valid": False}
    login_password(client, EMAIL)
    response = submit_code(client, code_for(a.secret, clock, offset_steps=0))
    assert response.status_code != 303 or response.headers["location"] != "/account"
    assert response.status_code == 401
    assert client.get("/account", follow_redirects=False).headers["location"].startswith("/login")
    assert "/login/recover" in client.get("/login/code").text, "the way back is offered"
    methods = client.get("/api/v1/users/ada@example.com/methods", headers={"Authorization": f"Bearer {key}"})
    assert methods.json().get("methods") == []


def _calls(name: str, owner: str = "") -> set[tuple[str, str]]:
    """(module, enclosing function) of every call of ``<anything>.name(...)`` (``owner.name(...)`` when
    ``owner`` is given) under src/twostep."""
    import ast
    from pathlib import Path

    import twostep

    root = Path(twostep.__file__).parent
    found: set[tuple[str, str]] = set()
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef):
                continue
            for node in ast.walk(function):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == name
                    and (not owner or (isinstance(node.func.value, ast.Name) and node.func.value.id == owner))
                ):
                    found.add((path.relative_to(root).with_suffix("").as_posix(), function.name))
    return found


def test_every_second_step_code_goes_through_the_one_check() -> None:
    """Every caller that judges a second-step code calls ``second_step_check.check`` (throttle, verify,
    bookkeeping, lock event, audit, notices); only the check and the recovery-codes download (which
    counts each unknown code it is shown) call the failure bookkeeping itself. A new caller of
    ``record_failure`` fails here until it is placed on one side or the other."""
    checks = {module for module, _ in _calls("check", owner="second_step_check")}
    assert {
        "services/signin/login",  # web sign-in (second_step)
        "services/api/verification_api",  # the API (_decide)
        "services/account/reauth",  # re-authentication (confirm_code)
        "services/reset/password_reset",  # the reset's second step (confirm_second_step)
        "services/recovery/recovery_login",  # sign-in with a recovery code
    } == checks
    assert _calls("second_step_failed") == {
        ("services/signin/second_step_check", "check"),
        ("services/recovery/recovery_login", "codes_for_download"),  # codes shown for download (never disabled)
    }
    assert _calls("record_failure") == {
        ("services/signin/guesses", "second_step_failed"),  # the helper itself
        ("services/signin/login", "password_step"),  # passwords: the account's and a remembered browser's keys
        ("services/account/reauth", "_failed"),  # the re-authentication password (its code step uses the check)
        ("services/account/account_changes", "change_password"),  # the current password
        ("services/reset/password_reset", "confirm_code"),  # the emailed reset code, per address
        ("services/enrollment/enrollment", "confirm_totp"),  # a pending authenticator's first code: nothing to disable
        ("services/enrollment/oob_enrollment", "confirm"),  # a pending email/SMS method's first code: likewise
        ("services/enrollment/mailbox_check", "confirm"),  # the emailed mailbox-check code before a first method
    }


def test_the_account_page_says_which_method_was_turned_off(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    a = account(ctx)
    login_password(client, EMAIL)
    assert submit_code(client, code_for(a.secret, clock)).status_code == 303
    with ctx.db.transaction() as db:
        factor = db.scalar(select(Factor).where(Factor.user_id == a.user_id))
        assert factor is not None
        factor.disabled_at = clock.now()
    page = client.get("/account")
    assert "Turned off after too many wrong codes" in page.text
