"""Control characters and lone surrogates are refused wherever text enters, on every route, on
SQLite and PostgreSQL: never a 500, and a real server keeps the client's keep-alive connection
(issue 12, item 6). The routes are enumerated from the app itself, so a new route is fuzzed too."""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from tests.route_list import flat_routes
from twostep.domain.text_input import forbidden_character
from twostep.web.core import input_guard
from twostep.web.core.input_guard import MULTILINE_FIELDS, InputGuard

#: What is sent, as it travels in a URL or form body (%-encoded UTF-8) and as a JSON escape.
BAD = {
    "NUL": ("%00", "\\u0000"),
    "SOH": ("%01", "\\u0001"),
    "DEL": ("%7F", "\\u007f"),
    # A lone surrogate can't be UTF-8: in a URL or a form its bytes decode to U+FFFD (harmless); in
    # JSON the \\ud800 escape produces it for real.
    "lone surrogate": ("%ED%A0%80", "\\ud800"),
}
#: Read by hand in handlers, not declared; the guard doesn't look at names, so one stands for all.
CONTRACT_QUERY = ("lang",)


@dataclass(frozen=True)
class Case:
    verb: str
    path: str
    query: str = ""
    form: str | None = None
    json_body: str | None = None
    must_refuse: bool = True  # False: only "never a 500" (a surrogate after UTF-8 decoding)

    @property
    def label(self) -> str:
        return f"{self.verb} {self.path}?{self.query} form={self.form} json={self.json_body}"


def _path_params(path: str) -> list[str]:
    return re.findall(r"{(\w+)(?::\w+)?}", path)


def _fill(path: str, bad_param: str | None = None, bad: str = "") -> str:
    def value(match: re.Match[str]) -> str:
        return bad if match.group(1) == bad_param else ("1" if match.group(2) else "ada%40example.com")

    return re.sub(r"{(\w+)(:\w+)?}", value, path)


def _json_fields(route: APIRoute) -> list[str]:
    extra = route.openapi_extra or {}
    schema = extra.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    return list(schema.get("properties", {}))


def cases(app: FastAPI) -> Iterator[Case]:
    for full_path, route in flat_routes(app):
        if isinstance(route, Mount):
            for name, (encoded, _) in BAD.items():
                yield Case("GET", f"{full_path}/style.css", query=f"v={encoded}", must_refuse=name != "lone surrogate")
            continue
        if not isinstance(route, Route | APIRoute):
            continue
        verbs = sorted((route.methods or {"GET"}) - {"HEAD"})
        declared_query = [p.alias for p in route.dependant.query_params] if isinstance(route, APIRoute) else []
        form_fields = [p.alias for p in route.dependant.body_params] if isinstance(route, APIRoute) else []
        json_fields = _json_fields(route) if isinstance(route, APIRoute) else []
        for verb in verbs:
            for name, (encoded, escaped) in BAD.items():
                surrogate = name == "lone surrogate"
                for param in _path_params(full_path):
                    yield Case(verb, _fill(full_path, param, encoded), must_refuse=not surrogate)
                for query in sorted({*declared_query, *(CONTRACT_QUERY if verb == "GET" else ())}):
                    yield Case(verb, _fill(full_path), query=f"{query}={encoded}", must_refuse=not surrogate)
                if verb == "POST" and not full_path.startswith("/api/"):  # the API takes JSON only
                    for field in form_fields or ["field"]:
                        others = "&".join(f"{f}=x" for f in form_fields if f != field)
                        body = f"{field}={encoded}" + (f"&{others}" if others else "")
                        yield Case(verb, _fill(full_path), form=body, must_refuse=not surrogate)
                if verb == "POST":
                    for field in json_fields or (["user"] if full_path.startswith("/api/") else []):
                        values = {f: "x" for f in json_fields}
                        text = json.dumps(values)[:-1].rstrip() if values else "{"
                        sep = ", " if values else ""
                        body = f'{text}{sep}"{field}": "a{escaped}@b.cd"}}'
                        yield Case(verb, _fill(full_path), json_body=body)


#: Called by applications, not people: a refusal is RFC 6749's ``invalid_request`` (400, JSON).
OAUTH_BACK_CHANNEL = frozenset({"/oauth2/token", "/oauth2/revoke", "/oauth2/introspect"})


def send(client: TestClient, case: Case) -> tuple[int, str, str]:
    url = case.path + (f"?{case.query}" if case.query else "")
    headers = {}
    content: bytes | None = None
    if case.form is not None:
        headers["content-type"] = "application/x-www-form-urlencoded"
        content = case.form.encode()
    if case.json_body is not None:
        headers["content-type"] = "application/json"
        content = case.json_body.encode()
    response = client.request(case.verb, url, content=content, headers=headers)
    return response.status_code, response.headers.get("content-type", ""), response.text


def test_every_route_refuses_control_characters_and_never_answers_500(app: FastAPI, client: TestClient) -> None:
    all_cases = list(cases(app))
    assert len({c.path.split("?")[0] for c in all_cases}) > 40  # the enumeration found the app's routes
    failures = []
    for case in all_cases:
        status, content_type, body = send(client, case)
        back_channel = case.path.split("?")[0] in OAUTH_BACK_CHANNEL
        if status >= 500 or (case.must_refuse and status != (400 if back_channel else 422)):
            failures.append(f"{status}: {case.label}")
            continue
        if case.must_refuse:
            if back_channel:  # OAuth clients: RFC 6749's error JSON, naming what was refused
                answer = json.loads(body)
                ok = answer["error"] == "invalid_request" and "is not allowed" in answer["error_description"]
            elif case.path.startswith(("/api/", "/webauthn/")):  # JSON clients: problem+json
                ok = content_type.startswith("application/problem+json") and json.loads(body)["status"] == 422
            else:
                ok = content_type.startswith("text/html") and 'role="alert"' in body
            if not ok:
                failures.append(f"{status} without the problem shown: {case.label}")
    assert not failures, "\n".join(failures[:30])


def test_a_refused_field_is_named_in_the_api_problem(client: TestClient) -> None:
    response = client.post(
        "/api/v1/verify",
        content=b'{"user": "\\ud800@b.cd", "code": "123456"}',
        headers={"content-type": "application/json", "authorization": "Bearer nope"},
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail == "The JSON field 'user' contains a lone surrogate (U+D800), which is not allowed."


def test_the_reset_reason_textarea_may_hold_several_lines_but_no_other_control_character() -> None:
    """The reset reason and the console's list of people to invite (a textarea; pasted spreadsheet
    rows are tab-separated) are the only multi-line fields."""
    assert {"reason", "people"} == MULTILINE_FIELDS
    assert forbidden_character("lost phone\r\nreported by phone", multiline=True) is None
    assert forbidden_character("lost phone\x00", multiline=True) == "a control character (U+0000)"
    assert forbidden_character("ada@example.com\n") == "a control character (U+000A)"


# --- a real server: the keep-alive connection survives ------------------------------------------


@pytest.fixture
def server(app: FastAPI) -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    instance = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", timeout_keep_alive=30))
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield port
    finally:
        instance.should_exit = True
        thread.join(10)
        sock.close()


KEEP_ALIVE_CASES = [
    ("POST", "/login", "application/x-www-form-urlencoded", b"email=a%00%40b.cd&password=x"),
    ("POST", "/password/forgot", "application/x-www-form-urlencoded", b"email=a%00%40b.cd"),
    ("POST", "/enroll/email", "application/x-www-form-urlencoded", b"email=a%00%40b.cd"),
    ("GET", "/api/v1/users/a%00%40b.cd/methods", "", b""),
    ("POST", "/api/v1/challenge", "application/json", b'{"user": "a\\u0000@b.cd", "method": "sms"}'),
    ("POST", "/api/v1/verify", "application/json", b'{"user": "\\ud800@b.cd", "code": "123456"}'),
    ("POST", "/api/v1/challenge", "application/json", b'{"user": "\\ud800@b.cd", "method": "email"}'),
    ("GET", "/login?lang=%01", "", b""),
]


def test_refused_input_keeps_the_keep_alive_connection_of_a_real_server(server: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    try:
        first_socket = None
        for verb, path, content_type, body in KEEP_ALIVE_CASES:
            headers = {"content-type": content_type} if content_type else {}
            connection.request(verb, path, body=body or None, headers=headers)
            response = connection.getresponse()
            response.read()
            assert response.status == 422, (verb, path, response.status)
            assert not response.will_close, (verb, path)
            first_socket = first_socket or connection.sock
            assert connection.sock is first_socket, f"{verb} {path}: the connection was dropped"
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read()) == {"status": "ok"}
        assert connection.sock is first_socket
    finally:
        connection.close()


def _multipart(field: str, size: int) -> tuple[bytes, str]:
    boundary = "twostepboundary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="big.png"\r\n'
            "Content-Type: image/png\r\n\r\n").encode()
    return head + bytes(size) + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_every_form_that_takes_a_file_reads_up_to_the_upload_limit_and_names_its_page(app: FastAPI) -> None:
    """The class: a route with a file field that is not in UPLOAD_FORMS would refuse any file over
    1 MB with the generic page instead of its own answer next to the field."""
    with_files = {
        path for path, route in flat_routes(app)
        if isinstance(route, APIRoute) and "POST" in route.methods
        and any("UploadFile" in str(param.field_info.annotation)
                for param in route.dependant.body_params)
    }
    assert with_files == set(input_guard.UPLOAD_FORMS)
    pages = {path for path, route in flat_routes(app) if isinstance(route, APIRoute) and "GET" in route.methods}
    assert set(input_guard.UPLOAD_FORMS.values()) <= pages


def test_an_oversized_body_gets_the_page_with_its_limit_not_a_reset_connection(server: int) -> None:
    """Over the upload limit: the 413 page names the limit and links back to the form, and a client
    still sending its body reads that page (a real server); other forms: 1 MB."""
    cases = [
        ("/admin/appearance/logo", "logo", 9 * 1024 * 1024, "larger than 8 MB", 'href="/admin/appearance"'),
        ("/login", "email", 2 * 1024 * 1024, "larger than 1 MB", None),
    ]
    for path, field, size, limit, back in cases:
        body, content_type = _multipart(field, size)
        connection = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
        try:
            connection.request("POST", path, body=body, headers={"content-type": content_type})
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        assert response.status == 413, path
        assert re.search(rf'role="alert">What you sent is {limit}', text), text[-600:]
        assert (back in text and "Back to the form" in text) if back else "Back to the form" not in text


def test_a_cookie_with_a_control_character_is_dropped_not_a_lock_out() -> None:
    """A planted cookie (``"\\000"`` is printable text, so browsers keep it, and a sibling subdomain
    can set one) must not refuse every page: the bad cookie is removed, the others reach the app."""
    seen: list[dict[str, str]] = []

    async def echo(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(dict(Request(scope).cookies))
        await PlainTextResponse("ok")(scope, receive, send)

    guard = InputGuard(echo, api_problem=lambda *_: (422, {}, {}))
    header = 'twostep_session=good; planted="\\000"; twostep_lang=pl; x\x7fy=1'
    response = TestClient(guard).get("/login", headers={"cookie": header})
    assert response.status_code == 200
    assert seen == [{"twostep_session": "good", "twostep_lang": "pl"}]
