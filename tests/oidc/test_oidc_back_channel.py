"""The token, revocation and introspection endpoints are plain ASGI apps answered before FastAPI
(``web.api.oidc.BackChannelEndpoint``, for speed): they must still answer like every other route —
security headers, a request id, JSON errors in RFC 6749's shape — and refuse what the middleware
they skip would have refused."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.oidc_helpers import refresh, register
from twostep.services.core.context import Context
from twostep.web.api.oidc import MAX_FORM_BYTES

BACK_CHANNEL = ("/oauth2/token", "/oauth2/revoke", "/oauth2/introspect")


@pytest.mark.parametrize("path", BACK_CHANNEL)
def test_back_channel_answers_carry_the_security_headers_and_a_request_id(
    client: TestClient, ctx: Context, path: str
) -> None:
    rp = register(ctx)
    answer = client.post(path, data={"token": "nope", "grant_type": "refresh_token", "refresh_token": "nope"},
                         auth=rp.basic())
    assert answer.status_code in (200, 400) and answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store" and answer.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert len(answer.headers["x-request-id"]) >= 16


def test_a_wrong_client_secret_gets_invalid_client_with_a_challenge(client: TestClient, ctx: Context) -> None:
    rp = register(ctx)
    answer = client.post("/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": "x"},
                         auth=(rp.client_id, "not the secret"))
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    assert answer.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize("path", BACK_CHANNEL)
def test_a_body_that_is_not_a_form_is_refused_with_invalid_request(client: TestClient, path: str) -> None:
    answer = client.post(path, content=json.dumps({"grant_type": "refresh_token"}),
                         headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_request",
        "error_description": "Send the parameters as application/x-www-form-urlencoded (RFC 6749).",
    }


def test_a_body_over_the_limit_is_refused_before_it_is_read_whole(client: TestClient) -> None:
    big = "refresh_token=" + "a" * MAX_FORM_BYTES
    declared = client.post("/oauth2/token", content=big, headers={"content-type": "application/x-www-form-urlencoded"})
    assert declared.status_code == 413 and declared.json()["error"] == "invalid_request"

    def chunks():  # type: ignore[no-untyped-def]  # no Content-Length: the size is counted while reading
        for _ in range(MAX_FORM_BYTES // 1024 + 2):
            yield b"a" * 1024

    streamed = client.post("/oauth2/token", content=chunks(),
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert streamed.status_code == 413


def test_a_refused_character_in_a_token_request_is_named(client: TestClient, ctx: Context) -> None:
    rp = register(ctx)
    answer = client.post("/oauth2/token", content=b"grant_type=refresh_token&refresh_token=a%00b",
                         headers={"content-type": "application/x-www-form-urlencoded"}, auth=rp.basic())
    assert answer.status_code == 400
    assert answer.json()["error_description"] == (
        "The form field 'refresh_token' contains a control character (U+0000), which is not allowed."
    )


def test_other_methods_are_not_allowed(client: TestClient) -> None:
    for path in BACK_CHANNEL:
        answer = client.get(path)
        assert answer.status_code == 405 and answer.headers["allow"] == "POST"


def test_an_unknown_refresh_token_is_invalid_grant(client: TestClient, ctx: Context) -> None:
    rp = register(ctx)
    answer = refresh(client, rp, "never-issued")
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
