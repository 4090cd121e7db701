"""OpenID Connect endpoints (``/.well-known/openid-configuration``, ``/oauth2/...``): thin adapters from
HTTP to ``services.oidc.flow``. Token-style endpoints answer JSON (RFC 6749 §5.2 errors); the
authorization endpoint answers redirects, or an error page when there is nowhere safe to redirect."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from twostep.i18n import LANGUAGES
from twostep.services.core.context import RequestInfo
from twostep.services.oidc import flow
from twostep.services.oidc.provider import HttpRequest, HttpResponse
from twostep.services.signin import login
from twostep.web.core import messages
from twostep.web.core.pages import Page, WebState, build_page
from twostep.web.core.security import client_ip
from twostep.web.signin.return_address import SAFE_URL_CHARACTERS

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
    http = await _http(request)
    ctx = request.app.state.web.ctx
    return _json(await run_in_threadpool(lambda: flow.token(ctx, http, _info(request))))


@router.post("/oauth2/revoke")
async def revoke(request: Request) -> Response:
    http = await _http(request)
    ctx = request.app.state.web.ctx
    return _json(await run_in_threadpool(lambda: flow.endpoint(ctx, "revocation", http, _info(request))))


@router.post("/oauth2/introspect")
async def introspect(request: Request) -> Response:
    http = await _http(request)
    ctx = request.app.state.web.ctx
    return _json(await run_in_threadpool(lambda: flow.endpoint(ctx, "introspection", http, _info(request))))


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
