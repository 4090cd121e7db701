"""One sign-in completion: every successful sign-in ends in ``services.signin.completion``, which also
resumes a ``continue_to`` target carried safely through the whole flow (``/login?next=…``/``?rd=…``)."""

from __future__ import annotations

import ast
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.support import code_for, csrf_of, enrolled_user, make_user, sign_out, submit_code
from twostep.domain.clock import FrozenClock
from twostep.services.core.context import Context
from twostep.services.signin import completion

SRC = Path(completion.__file__).resolve().parents[3]


def login_with(client: TestClient, query: str, email: str = "ada@example.com") -> Response:
    page = client.get(f"/login?{query}")
    action = page.text.split('<form method="post" action="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    from tests.support import PASSWORD

    return client.post(
        action, data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(page.text)}, follow_redirects=False
    )


@pytest.mark.parametrize(
    "raw",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "https://user:pw@app.example.com/",
        "https://app.example.com\t/x",
        "ftp://app.example.com/",
        "",
        "/" + "a" * 3000,
    ],
)
def test_continue_target_refuses_what_would_leave_for_an_unregistered_place(ctx: Context, raw: str) -> None:
    completion.allow_destinations(ctx, lambda url: urlsplit(url).hostname == "app.example.com")
    assert completion.continue_target(ctx, raw) is None


def test_continue_target_keeps_local_paths_and_registered_hosts_only(ctx: Context) -> None:
    assert completion.continue_target(ctx, "/account/security?x=1") == "/account/security?x=1"
    assert completion.continue_target(ctx, "https://app.example.com/wiki") is None
    completion.allow_destinations(ctx, lambda url: urlsplit(url).hostname == "app.example.com")
    assert completion.continue_target(ctx, "https://app.example.com/wiki") == "https://app.example.com/wiki"
    assert completion.continue_target(ctx, "https://APP.example.com:8443/") == "https://APP.example.com:8443/"
    assert completion.continue_target(ctx, "https://app.example.com.evil.example/") is None


def test_a_local_next_target_is_resumed_after_the_second_step(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    secret = enrolled_user(client, ctx, clock)
    assert login_with(client, "next=/account/security").headers["location"] == "/login/code"
    done = submit_code(client, code_for(secret, clock))
    assert done.status_code == 303 and done.headers["location"] == "/account/security"


def test_a_forward_auth_rd_target_is_followed_only_for_a_registered_host(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    secret = enrolled_user(client, ctx, clock)
    login_with(client, "rd=https://wiki.example.com/page")
    assert submit_code(client, code_for(secret, clock)).headers["location"] == "/account"
    sign_out(client)
    clock.advance(seconds=30)
    completion.allow_destinations(ctx, lambda url: urlsplit(url).hostname == "wiki.example.com")
    login_with(client, "rd=https://wiki.example.com/page")
    # From the code form's POST, the last hop to another host is a GET page (CSP form-action 'self').
    assert submit_code(client, code_for(secret, clock)).headers["location"] == "/login/continue"
    onward = client.get("/login/continue", follow_redirects=False)
    assert onward.headers["refresh"] == "0;url=https://wiki.example.com/page"
    assert client.get("/login/continue", follow_redirects=False).headers["location"] == "/account"  # used up
    # Already signed in: /login?next=… continues at once (a GET: straight there).
    again = client.get("/login?next=https://wiki.example.com/other", follow_redirects=False)
    assert again.headers["location"] == "https://wiki.example.com/other"


def test_a_password_only_sign_in_on_a_remembered_device_resumes_the_target(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    secret = enrolled_user(client, ctx, clock)
    login_with(client, "")
    submit_code(client, code_for(secret, clock), remember=True)
    sign_out(client)
    response = login_with(client, "next=/account/security")
    assert response.status_code == 303 and response.headers["location"] == "/account/security"


def test_the_target_belongs_to_the_sign_in_it_was_given_to(ctx: Context, client: TestClient) -> None:
    """An off-site target given to /login is never written into the form or followed."""
    make_user(ctx)
    page = client.get("/login?next=https://evil.example/")
    assert '<form method="post" action="/login" novalidate>' in page.text
    response = login_with(client, "next=https://evil.example/")
    assert "evil.example" not in response.headers.get("location", "")


def test_every_successful_sign_in_is_recorded_by_the_one_completion() -> None:
    """Source scan: ``authn_login_success`` is written by the completion alone (the verification API
    answers another application and signs nobody in here: its check writes its own)."""
    writers = set()
    for path in sorted((SRC / "twostep").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value == "authn_login_success":
                writers.add(path.relative_to(SRC / "twostep").as_posix())
    readers = {
        "web/core/metrics.py",  # counts sign-ins by method for /metrics
        "services/admin/dashboard.py",  # counts them for the console's dashboard
        "web/core/messages.py",  # the event's name in words for the audit log
    }
    assert writers - readers == {"services/signin/completion.py", "services/api/verification_api.py"}


def test_a_first_sign_in_that_must_enroll_continues_to_the_target_after_enrolling(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    from tests.support import otpauth_uri, prove_mailbox, secret_of

    make_user(ctx)
    assert login_with(client, "next=/account/security").headers["location"] == "/enroll"
    prove_mailbox(client, "/enroll/totp")
    page = client.get("/enroll/totp")
    secret = secret_of(otpauth_uri(page.text))
    done = client.post("/enroll/totp", data={"code": code_for(secret, clock), "csrf_token": csrf_of(page.text)})
    # The confirmation page's "Continue" is the one resume point, which hands out the target once.
    assert done.status_code == 200 and 'href="/login/continue"' in done.text
    assert client.get("/login/continue", follow_redirects=False).headers["location"] == "/account/security"
    assert client.get("/login/continue", follow_redirects=False).headers["location"] == "/account"


def test_a_target_is_resumed_once_only(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    """Used up by the completion: a later page of the same session never sends the browser there again."""
    secret = enrolled_user(client, ctx, clock)
    login_with(client, "next=/account/security")
    assert submit_code(client, code_for(secret, clock)).headers["location"] == "/account/security"
    assert completion.take_target(ctx, client.cookies.get("twostep_session")) is None
