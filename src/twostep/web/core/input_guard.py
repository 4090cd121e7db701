"""One gate for every piece of text a request brings in: control characters and lone surrogates are
refused before any handler runs (issue 12, item 6; the rule itself is ``domain.text_input``).

Checked: the path (and so every path parameter), every query parameter (names and values), every
form field of a urlencoded or multipart body (names, values, file names) and every
string (keys too) of a JSON body. Cookies are not refused but dropped: a cookie with such a
character is removed from the request before the app reads it, so a cookie planted by a sibling
subdomain ("cookie tossing"; ``"\\000"`` is printable and browsers keep it) can't lock anyone out of
every page. A refusal is a 422: on ``/api/`` the API's problem+json
(``invalid-request``), elsewhere a page saying what was wrong in an element with ``role="alert"``.
The one ASGI layer covers every route the app has or will have, so a new field can't forget it;
``POST /api/v1/verify``, answered before the app by its raw-ASGI endpoint, checks its JSON with the
same function (``web.api._object_from``).

Why here and not per field: a NUL byte in any text that reached PostgreSQL raised in the driver, the
request became a 500, and the exception closed the client's keep-alive connection.

Bodies are read whole before the app sees them (they are replayed to it unchanged), up to
``MAX_CHECKED_BODY`` bytes; a larger form or JSON body is refused with 413, since nothing twostep
accepts comes near it. The forms that take a file (``UPLOAD_FORMS``: the logo, the invitation list)
are read up to ``MAX_UPLOAD_BODY``, so that a photo sent as a logo gets its answer next to the field
from the page itself; past that, the 413 page names the limit and links back to the form (uvicorn
reads and drops the rest of the body, so a client still sending gets that page, not a reset).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request, cookie_parser
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twostep.domain.text_input import first_bad_json_string, forbidden_character
from twostep.web.core.pages import build_page

log = logging.getLogger("twostep")

MAX_CHECKED_BODY = 1024 * 1024
MAX_UPLOAD_BODY = 8 * 1024 * 1024
#: The forms that take a file: where each is posted, and the page that shows it again.
UPLOAD_FORMS = {"/admin/appearance/logo": "/admin/appearance", "/admin/users/invite": "/admin/users/invite"}
#: Fields that really hold several lines (tab, line feed and carriage return allowed): the reason
#: an administrator gives for a reset (a textarea on /admin/users/{id}), and the list of people to
#: invite (/admin/users/invite; rows pasted from a spreadsheet are tab-separated).
MULTILINE_FIELDS = frozenset({"reason", "people"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Refusal(Exception):
    def __init__(self, where: str, problem: str, *, status: int = 422) -> None:
        super().__init__(f"{where} contains {problem}")
        self.where = where
        self.problem = problem
        self.status = status

    @property
    def detail(self) -> str:
        return f"{self.where[:1].upper()}{self.where[1:]} contains {self.problem}, which is not allowed."


def _check(where: str, text: str, *, multiline: bool = False) -> None:
    problem = forbidden_character(text, multiline=multiline)
    if problem is not None:
        raise Refusal(where, problem)


def check_pairs(kind: str, pairs: Iterable[tuple[str, str]]) -> None:
    for name, value in pairs:
        _check(f"the {kind} name {name[:40]!r}", name)
        _check(f"the {kind} {name[:40]!r}", value, multiline=name in MULTILINE_FIELDS)


def check_head(scope: Scope) -> None:
    """Path and query string: Refusal for the first bad one."""
    _check("the address", scope["path"])
    query = scope.get("query_string", b"")
    if query:
        # As Starlette reads it (latin-1 bytes, then %-decoding as UTF-8), so the same text is checked.
        check_pairs("query parameter", parse_qsl(query.decode("latin-1"), keep_blank_values=True))


def _clean_cookie_header(value: bytes) -> bytes | None:
    """The Cookie header without the cookies ``forbidden_character`` refuses (name or value, read as
    Starlette reads them, one ``;``-separated piece at a time); None when nothing is left."""
    kept = []
    for piece in value.decode("latin-1").split(";"):
        parsed = cookie_parser(piece)
        if all(forbidden_character(k) is None and forbidden_character(v) is None for k, v in parsed.items()):
            kept.append(piece.strip())
    text = "; ".join(piece for piece in kept if piece)
    return text.encode("latin-1") if text else None


def without_bad_cookies(scope: Scope) -> Scope:
    """``scope`` itself when every cookie is clean, else a copy without the bad ones."""
    cookies = [value for name, value in scope["headers"] if name == b"cookie"]
    if not cookies or all(_clean_cookie_header(value) == value for value in cookies):
        return scope
    headers = []
    for name, value in scope["headers"]:
        if name == b"cookie":
            cleaned = _clean_cookie_header(value)
            if cleaned is None:
                continue
            value = cleaned
        headers.append((name, value))
    return {**scope, "headers": headers}


def _content_type(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"content-type":
            text: str = bytes(value).decode("latin-1")
            return text.split(";", 1)[0].strip().lower()
    return ""


def _kind_of_body(scope: Scope) -> str | None:
    if scope.get("method") not in _BODY_METHODS:
        return None
    content_type = _content_type(scope)
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return "form"
    if content_type == "application/json" or content_type.endswith("+json"):
        return "json"
    if not content_type and scope["path"].startswith("/api/"):
        return "json"  # the API reads a body without a content type as JSON
    return None


def body_limit(scope: Scope, kind: str) -> int:
    """How much of a body is read: more for the forms that take a file."""
    return MAX_UPLOAD_BODY if kind == "form" and scope["path"] in UPLOAD_FORMS else MAX_CHECKED_BODY


async def _read_body(receive: Receive, limit: int = MAX_CHECKED_BODY) -> tuple[bytes, list[Message]]:
    chunks: list[bytes] = []
    size = 0
    extra: list[Message] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            extra.append(message)  # http.disconnect: handed on after the body
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Refusal("the body", f"more than {limit} bytes", status=413)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), extra



def _replay(body: bytes, extra: list[Message], receive: Receive) -> Receive:
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}, *extra]

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def _form_pairs(items: Iterable[tuple[str, str | UploadFile]]) -> Iterator[tuple[str, str]]:
    for name, value in items:
        yield name, value if isinstance(value, str) else (value.filename or "")


async def check_body(scope: Scope, kind: str, body: bytes, extra: list[Message], receive: Receive) -> None:
    if kind == "json":
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return  # not JSON: the handler answers that itself
        found = first_bad_json_string(data)
        if found is not None:
            where, problem = found
            raise Refusal(f"the JSON field {where[:60]!r}" if where else "the JSON body", problem)
        return
    request = Request(scope, _replay(body, [], receive))
    try:
        form = await request.form()
    except Exception:  # malformed: FastAPI answers it (422) when the handler asks for the form
        return
    try:
        check_pairs("form field", _form_pairs(form.multi_items()))
    finally:
        await form.close()


#: (base URL, problem slug, detail) -> (status, headers, body): the API's problem+json (web.api).
ProblemBody = Callable[[str, str, str], tuple[int, dict[str, str], dict[str, Any]]]


class InputGuard:
    """ASGI middleware: ``check_head`` and ``check_body`` for every HTTP request, then the app.
    ``api_problem`` builds the answer under ``/api/`` (passed in by create_app: web.api imports this
    module for its raw endpoint, so this one does not import it back)."""

    def __init__(self, app: ASGIApp, *, api_problem: ProblemBody) -> None:
        self.app = app
        self.api_problem = api_problem

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = without_bad_cookies(scope)
        try:
            check_head(scope)
            kind = _kind_of_body(scope)
            if kind is not None:
                body, extra = await _read_body(receive, body_limit(scope, kind))
                await check_body(scope, kind, body, extra, receive)
                receive = _replay(body, extra, receive)
        except Refusal as refusal:
            response = await self.refusal_response(scope, refusal)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


    async def refusal_response(self, scope: Scope, refusal: Refusal) -> Response:
        if scope["path"].startswith(("/api/", "/webauthn/")):  # JSON clients: problem+json
            slug = "payload-too-large" if refusal.status == 413 else "invalid-request"
            base_url = scope["app"].state.web.ctx.settings.base_url
            status, headers, body = self.api_problem(base_url, slug, refusal.detail)
            return JSONResponse(body, status_code=status, headers=headers, media_type="application/problem+json")
        return await run_in_threadpool(_page, scope, refusal)


def _clean_scope(scope: Scope) -> Scope:
    """The request without what was refused, to render the answer page (language, session)."""
    return {**scope, "path": "/", "raw_path": b"/", "query_string": b"", "method": "GET"}


def _page(scope: Scope, refusal: Refusal) -> Response:

    try:
        page = build_page(Request(_clean_scope(scope)))
        title = page.gettext("The request was not understood.")
        back = ""
        if refusal.status == 413:
            limit = body_limit(scope, "form") // (1024 * 1024)
            error = page.gettext("What you sent is larger than %(limit)s MB, the most this form takes.") % {
                "limit": limit}
            back = UPLOAD_FORMS.get(scope["path"], "")
            if back:
                error += " " + page.gettext("Choose a smaller file and send it again.")
        else:
            error = page.gettext("The form contained a character that is not allowed (a control character).")
        return page.render("message.html", status_code=refusal.status, title=title, error=error, back=back)
    except Exception:  # the page itself could not be built (the database is down): still no 500
        log.warning("input refused and the answer page could not be rendered", exc_info=True)
        return HTMLResponse(
            '<!doctype html><title>Not understood</title><h1>The request was not understood.</h1>'
            '<p role="alert">The form contained a character that is not allowed.</p>',
            status_code=refusal.status,
        )
