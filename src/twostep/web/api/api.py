"""The JSON verification API (``/api/v1``) for other applications, its OpenAPI document and docs page.

Every error is RFC 9457 ``application/problem+json`` with ``type``, ``title``, ``status`` and
``detail``; client mistakes (no key, bad JSON, wrong types, oversized bodies) are always 4xx.
Bodies are read and checked here by hand — size first, then JSON, then field types — so each
mistake gets its own precise answer and the hot path stays short.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from twostep.domain.text_input import first_bad_json_string
from twostep.services.api import verification_api
from twostep.services.core.context import RequestInfo
from twostep.services.operations import health
from twostep.storage.database import is_unavailable
from twostep.web.core import input_guard, metrics
from twostep.web.core.pages import Page, WebState, build_page
from twostep.web.core.security import client_ip, peer_ip, security_headers

log = logging.getLogger("twostep")

API_VERSION = "1.0.0"
MAX_BODY_BYTES = 4096
MAX_FIELD_CHARS = 320
PROBLEM_JSON = "application/problem+json"

router = APIRouter(prefix="/api/v1", tags=["verification"])
docs_router = APIRouter()

# type slug -> (title, status, description for the docs page)
PROBLEMS: dict[str, tuple[str, int, str]] = {
    "malformed-json": ("Malformed JSON", 400, "The body is not a JSON object."),
    "unauthorized": (
        "Unauthorized",
        401,
        "No API key, or the key is unknown or revoked. Send `Authorization: Bearer <key>`.",
    ),
    "not-found": ("Not found", 404, "No account has this email address."),
    "no-such-method": ("Method not set up", 409, "The account has no confirmed method of this kind."),
    "payload-too-large": ("Payload too large", 413, f"Bodies are limited to {MAX_BODY_BYTES} bytes."),
    "unsupported-media-type": ("Unsupported media type", 415, "Send `Content-Type: application/json`."),
    "invalid-request": ("Invalid request", 422, "A field is missing or has the wrong type or size."),
    "too-many-attempts": (
        "Too many attempts",
        429,
        "Too many wrong codes for this account; wait `Retry-After` seconds (the same limit as the sign-in page).",
    ),
    "rate-limited": ("Rate limit reached", 429, "This API key made too many requests this minute; see `Retry-After`."),
    "code-cooldown": ("Code recently sent", 429, "A code was sent moments ago, or the hourly cap is reached."),
    "delivery-failed": ("Delivery failed", 502, "The mail server or SMS gateway refused the message; try again."),
    "unavailable": (
        "Temporarily unavailable",
        503,
        "The database cannot be reached right now; retry after `Retry-After` seconds. Nothing was checked or changed.",
    ),
}


class VerifyRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"example": {"user": "ada@example.com", "code": "492039"}}
    )

    user: str = Field(min_length=1, max_length=MAX_FIELD_CHARS, description="The account's email address.")
    code: str = Field(min_length=1, max_length=64, description="The code the person typed (6 digits; spaces ignored).")


class VerifyResponse(BaseModel):
    valid: bool = Field(description="True only for a correct, unused code; a code is accepted once.")


class ChallengeRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"example": {"user": "ada@example.com", "method": "sms"}}
    )

    user: str = Field(min_length=1, max_length=MAX_FIELD_CHARS, description="The account's email address.")
    method: Literal["email", "sms"] = Field(description="`email` or `sms`: where to send a one-time code.")


class ChallengeResponse(BaseModel):
    status: Literal["sent"] = Field(description="`sent`")
    method: Literal["email", "sms"]


class MethodsResponse(BaseModel):
    user: str
    methods: list[str] = Field(
        description="Confirmed methods, strongest first: `passkey`, `totp`, `sms`, `email`. A passkey is used in the "
        "browser on twostep's own pages (WebAuthn); `/verify` does not check it."
    )


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str


class BadRequest(Exception):
    def __init__(self, slug: str, detail: str) -> None:
        super().__init__(detail)
        self.slug = slug
        self.detail = detail


def problem_body(
    base_url: str, slug: str, detail: str, retry_after: int | None = None
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """(status, headers, body) of the problem ``slug``; also used by web.input_guard."""
    title, status, _ = PROBLEMS[slug]
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, retry_after))
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="twostep"'
    body = {"type": f"{base_url}/api/docs#problem-{slug}", "title": title, "status": status, "detail": detail}
    return status, headers, body


def unavailable_problem(base_url: str) -> JSONResponse:
    """503 while the database is unavailable (``app``'s error handler), with ``Retry-After``."""
    status, headers, body = problem_body(
        base_url, "unavailable", "The service is unavailable for a moment.", health.RETRY_AFTER_SECONDS
    )
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def problem(request: Request, slug: str, detail: str, *, retry_after: int | None = None) -> JSONResponse:
    base = _state(request).ctx.settings.base_url
    status, headers, body = problem_body(base, slug, detail, retry_after)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _info(request: Request) -> RequestInfo:
    return RequestInfo(
        ip=client_ip(request, _state(request).trusted_proxies),
        user_agent=request.headers.get("user-agent", "")[:300],
        request_id=getattr(request.state, "request_id", ""),
    )


def _check_body_headers(content_type_header: str, declared: str) -> None:
    content_type = content_type_header.split(";", 1)[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise BadRequest("unsupported-media-type", f"Expected application/json, got {content_type[:60] or 'nothing'}.")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BadRequest("payload-too-large", f"The body has {int(declared)} bytes; the limit is {MAX_BODY_BYTES}.")


def _add_chunk(chunks: list[bytes], size: int, chunk: bytes) -> int:
    size += len(chunk)
    if size > MAX_BODY_BYTES:
        raise BadRequest("payload-too-large", f"The body is larger than {MAX_BODY_BYTES} bytes.")
    chunks.append(chunk)
    return size


def _object_from(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("malformed-json", "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BadRequest("malformed-json", "The body must be a JSON object.")
    # The same rule as web.input_guard, here for the raw-ASGI verify endpoint that runs before it.
    found = first_bad_json_string(data)
    if found is not None:
        where, bad = found
        raise BadRequest("invalid-request", f"The JSON field {where[:60]!r} contains {bad}, which is not allowed.")
    return data


async def _json_object(request: Request) -> dict[str, Any]:
    _check_body_headers(
        request.headers.get("content-type", "application/json"), request.headers.get("content-length", "")
    )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size = _add_chunk(chunks, size, chunk)
    return _object_from(b"".join(chunks))


def _text(data: dict[str, Any], name: str, max_length: int) -> str:
    value = data.get(name)
    if value is None:
        raise BadRequest("invalid-request", f"The field '{name}' is required.")
    if not isinstance(value, str):
        raise BadRequest("invalid-request", f"The field '{name}' must be a string.")
    if not value.strip():
        raise BadRequest("invalid-request", f"The field '{name}' must not be empty.")
    if len(value) > max_length:
        raise BadRequest("invalid-request", f"The field '{name}' is longer than {max_length} characters.")
    return value


def _refused(request: Request, refused: verification_api.Refused) -> JSONResponse:
    if refused.reason == "unauthorized":
        return problem(request, "unauthorized", "A valid API key is required.")
    return problem(
        request,
        "rate-limited",
        "This API key has used up its requests for this minute.",
        retry_after=refused.wait_seconds,
    )


def _responses(*slugs: str) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {}
    for slug in slugs:
        title, status, _ = PROBLEMS[slug]
        entry = out.setdefault(
            status, {"description": title, "content": {PROBLEM_JSON: {"schema": Problem.model_json_schema()}}}
        )
        if entry["description"] != title:
            entry["description"] += f" / {title}"
    return out


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


COMMON = (
    "malformed-json",
    "unauthorized",
    "payload-too-large",
    "unsupported-media-type",
    "invalid-request",
    "rate-limited",
    "unavailable",
)


@router.post(
    "/verify",
    response_model=VerifyResponse,
    summary="Check a code",
    description=(
        "Checks a code from the person's authenticator app, or a code sent by `/challenge`, and consumes it: "
        "the same code is accepted once. Wrong codes count towards the account's throttle, shared with the "
        'sign-in page; each check is written to the audit log. Unknown accounts get `{"valid": false}`.'
    ),
    openapi_extra=_body_schema(VerifyRequest),
    responses=_responses(*COMMON, "too-many-attempts"),
)
async def verify(request: Request) -> Response:
    """Declared here for routing (405 for other verbs) and the OpenAPI document; the answer comes from
    ``VerifyEndpoint``, which ``metrics.FastApp`` calls before FastAPI for ``POST /api/v1/verify``."""
    endpoint: VerifyEndpoint = request.app.state.verify_endpoint
    return metrics.Delegate(endpoint)


class VerifyEndpoint:
    """``POST /api/v1/verify`` as a plain ASGI app: the verification API's hot path.

    Measured (bench/README.md): FastAPI's request, dependency and response machinery cost about a
    quarter of a check. This reads the headers and body straight from ASGI, checks them with the same
    functions as the other endpoints, and sends the JSON with the site's security headers. Metrics,
    the request id and the access log come from ``metrics.FastRoute``, which ``metrics.FastApp`` answers
    before FastAPI's middleware stack.
    """

    def __init__(self, web: WebState, *, hsts: bool) -> None:
        self.web = web
        self.ctx = web.ctx
        self.base_url = web.ctx.settings.base_url
        self.headers = security_headers(hsts=hsts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.setdefault("state", {})
        try:
            await self._answer(scope, state, receive, send)
        except Exception as error:
            if is_unavailable(error):  # logged once per outage (Database.outage), not per request
                self.ctx.db.outage.failed(error)
                detail = "The service is unavailable for a moment."
                await self._problem(send, "unavailable", detail, retry_after=health.RETRY_AFTER_SECONDS)
                return
            log.exception("unhandled error", extra={"request_id": state.get("request_id", "")})
            detail = "Something went wrong on our side."
            body = {"type": "about:blank", "title": detail, "status": 500, "detail": detail}
            await self._send(send, 500, body, PROBLEM_JSON, {})

    async def _answer(self, scope: Scope, state: dict[str, Any], receive: Receive, send: Send) -> None:
        try:
            input_guard.check_head(scope)  # what the guard checks for every other route (no body here)
        except input_guard.Refusal as refusal:
            await self._problem(send, "invalid-request", refusal.detail)
            return
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, value)  # the first of repeated headers, as Starlette reads them
        try:
            _check_body_headers(
                headers.get(b"content-type", b"application/json").decode("latin-1"),
                headers.get(b"content-length", b"").decode("latin-1"),
            )
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                size = _add_chunk(chunks, size, message.get("body", b""))
                if not message.get("more_body", False):
                    break
            data = _object_from(b"".join(chunks))
            user = _text(data, "user", MAX_FIELD_CHARS)
            code = _text(data, "code", 64)
        except BadRequest as error:
            await self._problem(send, error.slug, error.detail)
            return
        scheme, _, value = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        api_key = value.strip() if scheme.lower() == "bearer" else ""
        client = scope.get("client")
        info = RequestInfo(
            ip=peer_ip(
                client[0] if client else "",
                headers.get(b"x-forwarded-for", b"").decode("latin-1"),
                self.web.trusted_proxies,
            ),
            user_agent=headers.get(b"user-agent", b"").decode("latin-1")[:300],
            request_id=state.get("request_id", ""),
        )
        # On the event loop, not in a worker thread: a few short statements and no wait on anything
        # but the database. Measured (bench/README.md): in worker threads, a thread holding the SQLite
        # write lock waited for the GIL, and on PostgreSQL throughput fell and p99 doubled.
        result = verification_api.verify(self.ctx, api_key, user, code, info)
        if isinstance(result, verification_api.Refused):
            if result.reason == "unauthorized":
                await self._problem(send, "unauthorized", "A valid API key is required.")
            else:
                detail = "This API key has used up its requests for this minute."
                await self._problem(send, "rate-limited", detail, retry_after=result.wait_seconds)
            return
        state["user_id"] = result.user_id
        metrics.count_verification(result.method or "unknown", result.outcome, via="api")
        if result.outcome == "throttled":
            detail = "Too many wrong codes for this account. Try again later."
            await self._problem(send, "too-many-attempts", detail, retry_after=result.wait_seconds)
        else:
            await self._send(send, 200, {"valid": result.valid}, "application/json", {})
        if result.notices:  # mailed after the answer
            await run_in_threadpool(verification_api.send_notices, self.ctx, result, info)

    async def _problem(self, send: Send, slug: str, detail: str, *, retry_after: int | None = None) -> None:
        status, headers, body = problem_body(self.base_url, slug, detail, retry_after)
        await self._send(send, status, body, PROBLEM_JSON, headers)

    async def _send(
        self, send: Send, status: int, body: dict[str, Any], media_type: str, extra: dict[str, str]
    ) -> None:
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = [
            (b"content-type", media_type.encode()),
            (b"content-length", str(len(content)).encode()),
            *self.headers,
            *((name.lower().encode(), value.encode()) for name, value in extra.items()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


@router.post(
    "/challenge",
    status_code=202,
    response_model=ChallengeResponse,
    summary="Send a code by email or SMS",
    description=(
        "Sends a one-time code (6 digits, valid 10 minutes, single use) to the account's confirmed email address "
        "or phone; check it with `/verify`. Sends share the web's cooldown and hourly caps."
    ),
    openapi_extra=_body_schema(ChallengeRequest),
    responses=_responses(*COMMON, "not-found", "no-such-method", "code-cooldown", "delivery-failed"),
)
async def challenge(request: Request) -> Response:
    try:
        data = await _json_object(request)
        user = _text(data, "user", MAX_FIELD_CHARS)
        method = _text(data, "method", 16)
        if method not in ("email", "sms"):
            raise BadRequest("invalid-request", "The field 'method' must be 'email' or 'sms'.")
    except BadRequest as error:
        return problem(request, error.slug, error.detail)
    ctx = _state(request).ctx
    result = await run_in_threadpool(verification_api.challenge, ctx, _bearer(request), user, method, _info(request))
    if isinstance(result, verification_api.Refused):
        return _refused(request, result)
    request.state.user_id = result.user_id
    metrics.count_challenge(method, result.outcome)
    if result.outcome == "unknown_user":
        return problem(request, "not-found", "No account has this email address.")
    if result.outcome == "no_method":
        return problem(request, "no-such-method", f"The account has no confirmed {method} method.")
    if result.outcome in ("cooldown", "hourly_limit"):
        detail = "A code was sent moments ago." if result.outcome == "cooldown" else "Too many codes this hour."
        return problem(request, "code-cooldown", detail, retry_after=result.wait_seconds)
    if result.outcome == "delivery_failed":
        return problem(request, "delivery-failed", f"The {method} could not be sent. Try again later.")
    return JSONResponse({"status": "sent", "method": method}, status_code=202)


@router.get(
    "/users/{email}/methods",
    response_model=MethodsResponse,
    summary="List an account's methods",
    description="The account's confirmed second-step methods, strongest first.",
    responses=_responses("unauthorized", "rate-limited", "not-found", "invalid-request"),
)
async def user_methods(request: Request, email: str) -> Response:
    if len(email) > MAX_FIELD_CHARS:
        return problem(request, "invalid-request", f"The email address is longer than {MAX_FIELD_CHARS} characters.")
    ctx = _state(request).ctx
    result = await run_in_threadpool(verification_api.methods, ctx, _bearer(request), email)
    if isinstance(result, verification_api.Refused):
        return _refused(request, result)
    if result.user_id is None:
        return problem(request, "not-found", "No account has this email address.")
    request.state.user_id = result.user_id
    return JSONResponse({"user": email.strip().lower(), "methods": result.methods})


def openapi_document(request: Request) -> dict[str, Any]:
    cached: dict[str, Any] | None = getattr(request.app.state, "api_openapi", None)
    if cached is not None:
        return cached
    settings = _state(request).ctx.settings
    document = get_openapi(
        title=f"{settings.service_name} verification API",
        version=API_VERSION,
        description=(
            "Check second-step codes for your own application's users. Authenticate with "
            "`Authorization: Bearer <API key>` (create one with `twostep apikey create NAME`). "
            "Errors are RFC 9457 problem details."
        ),
        routes=router.routes,
        servers=[{"url": settings.base_url}],
    )
    document.setdefault("components", {})["securitySchemes"] = {
        "apiKey": {"type": "http", "scheme": "bearer", "description": "An API key: ts_<prefix>_<secret>"}
    }
    document["security"] = [{"apiKey": []}]
    request.app.state.api_openapi = document
    return document


@router.get("/openapi.json", include_in_schema=False)
async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document(request))


@docs_router.get("/api/docs", include_in_schema=False)
def api_docs(request: Request) -> Response:
    """Rendered on the server from the OpenAPI document: no script, no CDN, the site's CSP holds."""
    page: Page = build_page(request)
    document = openapi_document(request)
    operations = []
    for path, item in document["paths"].items():
        for verb, op in item.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            responses = [(code, resp.get("description", "")) for code, resp in op.get("responses", {}).items()]
            operations.append(
                {
                    "verb": verb.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "example": json.dumps(body.get("example"), indent=2) if body.get("example") else "",
                    "fields": [
                        (name, spec.get("type", ""), spec.get("description", ""))
                        for name, spec in body.get("properties", {}).items()
                    ],
                    "responses": responses,
                }
            )
    problems = [(slug, title, status, text) for slug, (title, status, text) in PROBLEMS.items()]
    return page.render(
        "api_docs.html",
        title=document["info"]["title"],
        intro=document["info"]["description"],
        operations=operations,
        problems=problems,
        base_url=_state(request).ctx.settings.base_url,
    )
