"""OpenID Connect endpoints (``/.well-known/openid-configuration``, ``/oauth2/...``): thin adapters from
HTTP to ``services.oidc.flow``. Token-style endpoints answer JSON (RFC 6749 §5.2 errors); the
authorization endpoint answers redirects, or an error page when there is nowhere safe to redirect."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from twostep.i18n import LANGUAGES
from twostep.services.core.context import Context, RequestInfo
from twostep.services.oidc import flow
from twostep.services.oidc.provider import HttpRequest, HttpResponse
from twostep.services.operations import health
from twostep.services.signin import login
from twostep.storage.database import is_unavailable
from twostep.web.core import input_guard, messages, metrics
from twostep.web.core.pages import Page, WebState, build_page
from twostep.web.core.security import client_ip, peer_ip, security_headers
from twostep.web.signin.return_address import SAFE_URL_CHARACTERS

log = logging.getLogger("twostep")

router = APIRouter()

TEXTS = messages.OIDC_TEXT


async def _http(request: Request) -> HttpRequest:
    form: list[tuple[str, str]] = []
    if request.method == "POST":
        data = await request.form()
        form = [(key, value) for key, value in data.multi_items() if isinstance(value, str)]
    return HttpRequest(
        method=request.method,
        url=str(request.url),
        headers={key.title(): value for key, value in request.headers.items()},
        query=list(request.query_params.multi_items()),
        form=form,
    )


def _json(response: HttpResponse) -> Response:
    headers = {key: value for key, value in response.headers if key.lower() != "content-type"}
    headers.setdefault("Cache-Control", "no-store")
    body = response.body if isinstance(response.body, dict | list) else {}
    return Response(json.dumps(body), status_code=response.status, headers=headers, media_type="application/json")


def _session_token(request: Request) -> str | None:
    web: WebState = request.app.state.web
    return request.cookies.get(web.cookies.session)


def _error_page(page: Page, code: str, description: str, status: int = 400) -> Response:
    detail = f"{page.gettext(TEXTS['error_detail'])} {code}: {description}".strip()
    return page.render("message.html", status_code=status, title=page.gettext(TEXTS["error_title"]), error=detail)


def _to_client(location: str) -> Response:
    """302 to a relying party: ``location`` is a redirect URI (or post-logout URI) registered for the
    client and matched exactly by services.oidc — never a URL taken from the request unchecked — so it
    does not go through ``Page.redirect``, which keeps visitors on this site."""
    return Response(status_code=302, headers={"Location": location, "Cache-Control": "no-store"})


def _to_client_after_sign_in(page: Page, location: str) -> Response:
    """The answer to the client at the end of a sign-in, as a page that moves on at once (``Refresh``,
    and a link). The browser reaches ``/oauth2/authorize/resume`` through the redirects that follow the
    sign-in form's POST, and twostep's CSP (``form-action 'self'``) governs those redirects too: a 302
    to the application's origin would be blocked by the browser. A refresh is a new navigation."""
    response = page.render("continue.html", target=location)
    response.headers["Refresh"] = f"0;url={quote(location, safe=SAFE_URL_CHARACTERS)}"
    return response


def _authorize_answer(request: Request, outcome: flow.AuthorizeOutcome, *, after_sign_in: bool = False) -> Response:
    if outcome.kind == "redirect" and outcome.response is not None:
        if after_sign_in:
            return _to_client_after_sign_in(build_page(request), outcome.response.header("Location"))
        return _to_client(outcome.response.header("Location"))
    page = build_page(request)
    if outcome.kind == "error_page":
        return _error_page(page, outcome.error, outcome.description)
    params = {"next": outcome.resume}
    if outcome.fresh:
        params["fresh"] = "1"
    wanted = [tag.split("-")[0].lower() for tag in outcome.ui_locales]
    language = next((tag for tag in wanted if tag in LANGUAGES), "")
    if language:
        params["lang"] = language
    return page.redirect(f"/login?{urlencode(params)}")


def _info(request: Request) -> RequestInfo:
    """Who calls a back-channel endpoint, for the audit log (no page: no session, no policy read)."""
    web: WebState = request.app.state.web
    return RequestInfo(
        ip=client_ip(request, web.trusted_proxies),
        user_agent=request.headers.get("user-agent", "")[:300],
        request_id=getattr(request.state, "request_id", ""),
    )


@router.api_route("/oauth2/authorize", methods=["GET", "POST"])
async def authorize(request: Request) -> Response:
    http = await _http(request)

    def run() -> Response:
        page = build_page(request)
        outcome = flow.authorize(page.ctx, http, _session_token(request), page.info)
        return _authorize_answer(request, outcome)

    return await run_in_threadpool(run)


@router.get("/oauth2/authorize/resume")
async def authorize_resume(request: Request) -> Response:
    http = await _http(request)

    def run() -> Response:
        page = build_page(request)
        resume_id = request.query_params.get("request", "")
        outcome = flow.authorize(page.ctx, http, _session_token(request), page.info, resume_id=resume_id)
        return _authorize_answer(request, outcome, after_sign_in=True)

    return await run_in_threadpool(run)


@router.post("/oauth2/token")
async def token(request: Request) -> Response:
    """Declared for routing (405 for other verbs); ``BackChannelEndpoint`` answers (see ``fast_routes``)."""
    return metrics.Delegate(request.app.state.oidc_back_channel[TOKEN_PATH])


@router.post("/oauth2/revoke")
async def revoke(request: Request) -> Response:
    return metrics.Delegate(request.app.state.oidc_back_channel[REVOKE_PATH])


@router.post("/oauth2/introspect")
async def introspect(request: Request) -> Response:
    return metrics.Delegate(request.app.state.oidc_back_channel[INTROSPECT_PATH])


@router.api_route("/oauth2/userinfo", methods=["GET", "POST"])
async def userinfo(request: Request) -> Response:
    ctx = request.app.state.web.ctx
    authorization = request.headers.get("authorization", "")
    return _json(await run_in_threadpool(flow.userinfo, ctx, authorization))


@router.api_route("/oauth2/logout", methods=["GET", "POST"])
async def logout(request: Request) -> Response:
    http = await _http(request)

    def run() -> Response:
        page = build_page(request)
        outcome = flow.logout(page.ctx, http, _session_token(request), page.info)
        if outcome.ended_session or page.session_token:
            page.set_session(None)
        if outcome.redirect:
            response = _to_client(outcome.redirect)
            page.finish(response)
            return response
        error = ""
        if outcome.error:
            login.logout(page.ctx, page.session_token, page.info)
            error = page.gettext(TEXTS["logout_error"])
        return page.render("message.html", title=page.gettext("You are signed out."), error=error)

    return await run_in_threadpool(run)


@router.get("/oauth2/jwks")
def jwks(request: Request) -> JSONResponse:
    ctx = request.app.state.web.ctx
    return JSONResponse(flow.jwks(ctx), headers={"Cache-Control": "public, max-age=300"})


@router.get("/.well-known/openid-configuration")
def openid_configuration(request: Request) -> JSONResponse:
    ctx = request.app.state.web.ctx
    return JSONResponse(flow.discovery(ctx), headers={"Cache-Control": "public, max-age=300"})


# --- the back channel: token, revocation and introspection as plain ASGI endpoints -------------------

TOKEN_PATH = "/oauth2/token"  # noqa: S105 (an address, not a password)
REVOKE_PATH = "/oauth2/revoke"
INTROSPECT_PATH = "/oauth2/introspect"
#: Far above any real request (a refresh is about 100 bytes, a code exchange with PKCE about 300).
MAX_FORM_BYTES = 16 * 1024
_FORM = "application/x-www-form-urlencoded"

UseCase = Callable[[Context, HttpRequest, RequestInfo], HttpResponse]


class _BadRequest(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


class BackChannelEndpoint:
    """``POST /oauth2/token`` (and revoke, introspect) as a plain ASGI app, answered by
    ``metrics.FastApp`` before FastAPI, as ``POST /api/v1/verify`` is. Applications call these
    server to server, in a loop for refreshes: measured (docs/oidc.md, "Throughput"), FastAPI's
    request, form and response machinery was about half of a refresh grant's server CPU.

    What the middleware stack gives other routes is done here: the input guard's checks (path,
    query and every form field; a refusal is an RFC 6749 ``invalid_request``, not an HTML page),
    the security headers, and JSON errors for a database outage (503, ``temporarily_unavailable``)
    or a bug (500, ``server_error``). The use case runs on the event loop, like the verification
    API's: a few short statements and one signature, no wait on anything but the database."""

    def __init__(self, web: WebState, use_case: UseCase, *, hsts: bool) -> None:
        self.web = web
        self.ctx = web.ctx
        self.use_case = use_case
        self.headers = {name.decode(): value.decode() for name, value in security_headers(hsts=hsts)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.setdefault("state", {})
        try:
            response = await self._answer(scope, state, receive)
        except _BadRequest as error:
            body = {"error": "invalid_request", "error_description": error.description}
            response = HttpResponse(error.status, body, [])
        except Exception as error:
            if not is_unavailable(error):
                log.exception("unhandled error", extra={"request_id": state.get("request_id", "")})
                body = {"error": "server_error", "error_description": "Something went wrong on our side."}
                response = HttpResponse(500, body, [])
            else:  # logged once per outage (Database.outage), not per request
                self.ctx.db.outage.failed(error)
                body = {"error": "temporarily_unavailable", "error_description": "Try again in a few seconds."}
                response = HttpResponse(503, body, [("Retry-After", str(health.RETRY_AFTER_SECONDS))])
        await self._send(send, response)

    async def _answer(self, scope: Scope, state: dict[str, object], receive: Receive) -> HttpResponse:
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1").title(), value.decode("latin-1"))
        try:
            input_guard.check_head(scope)
        except input_guard.Refusal as refusal:
            raise _BadRequest(400, refusal.detail) from None
        body = await _read_body(receive, headers.get("Content-Length", ""))
        form: list[tuple[str, str]] = []
        if body:
            if headers.get("Content-Type", "").split(";", 1)[0].strip().lower() != _FORM:
                raise _BadRequest(400, f"Send the parameters as {_FORM} (RFC 6749).")
            # As Starlette's form parser reads it (latin-1 bytes, %-decoding as UTF-8).
            form = parse_qsl(body.decode("latin-1"), keep_blank_values=True)
            try:
                input_guard.check_pairs("form field", form)
            except input_guard.Refusal as refusal:
                raise _BadRequest(400, refusal.detail) from None
        client = scope.get("client")
        info = RequestInfo(
            ip=peer_ip(client[0] if client else "", headers.get("X-Forwarded-For", ""), self.web.trusted_proxies),
            user_agent=headers.get("User-Agent", "")[:300],
            request_id=str(state.get("request_id", "")),
        )
        query = scope.get("query_string", b"").decode("latin-1")
        host = headers.get("Host") or "{}:{}".format(*scope.get("server") or ("localhost", 80))
        http = HttpRequest(
            method="POST",
            url=f"{scope.get('scheme', 'http')}://{host}{scope['path']}" + (f"?{query}" if query else ""),
            headers=headers,
            query=parse_qsl(query, keep_blank_values=True),
            form=form,
        )
        return self.use_case(self.ctx, http, info)

    async def _send(self, send: Send, response: HttpResponse) -> None:
        body = response.body if isinstance(response.body, dict | list) else {}
        content = json.dumps(body, separators=(",", ":")).encode()
        headers = dict(self.headers)
        headers.update((key.lower(), value) for key, value in response.headers if key.lower() != "content-type")
        raw = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
        raw += [(key.encode("latin-1"), value.encode("latin-1")) for key, value in headers.items()]
        await send({"type": "http.response.start", "status": response.status, "headers": raw})
        await send({"type": "http.response.body", "body": content})


async def _read_body(receive: Receive, declared: str) -> bytes:
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise _BadRequest(413, f"The body has {int(declared)} bytes; the limit is {MAX_FORM_BYTES}.")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise _BadRequest(413, f"The body is larger than {MAX_FORM_BYTES} bytes.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _token(ctx: Context, http: HttpRequest, info: RequestInfo) -> HttpResponse:
    return flow.token(ctx, http, info)


def _revocation(ctx: Context, http: HttpRequest, info: RequestInfo) -> HttpResponse:
    return flow.endpoint(ctx, "revocation", http, info)


def _introspection(ctx: Context, http: HttpRequest, info: RequestInfo) -> HttpResponse:
    return flow.endpoint(ctx, "introspection", http, info)


def back_channel_endpoints(web: WebState, *, hsts: bool) -> dict[str, BackChannelEndpoint]:
    """Path -> endpoint; ``create_app`` keeps them in ``app.state.oidc_back_channel`` and answers them
    first through ``fast_routes``."""
    return {
        TOKEN_PATH: BackChannelEndpoint(web, _token, hsts=hsts),
        REVOKE_PATH: BackChannelEndpoint(web, _revocation, hsts=hsts),
        INTROSPECT_PATH: BackChannelEndpoint(web, _introspection, hsts=hsts),
    }


def fast_routes(endpoints: dict[str, BackChannelEndpoint]) -> list[metrics.FastRoute]:
    return [metrics.FastRoute(endpoint, "POST", path) for path, endpoint in endpoints.items()]
