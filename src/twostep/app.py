"""create_app(settings, clock=...) -> FastAPI: the single wiring point, no import-time state."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from twostep.delivery.mail import MailSender
from twostep.delivery.sms import FailoverSmsSender
from twostep.domain.clock import Clock
from twostep.i18n import PACKAGE_DIR
from twostep.services.core.context import Context
from twostep.services.operations import health
from twostep.services.wiring import build_context, sms_without_gateway
from twostep.settings import Settings
from twostep.storage.database import DATABASE_ERRORS, is_unavailable
from twostep.web.account import account, reauth
from twostep.web.admin import admin as admin_pages
from twostep.web.admin import admin_apikeys, admin_appearance, admin_home, admin_passkeys, admin_policy, admin_users
from twostep.web.admin import admin_oidc as oidc_admin_pages
from twostep.web.api import api
from twostep.web.api import oidc as oidc_pages
from twostep.web.api.api import unavailable_problem
from twostep.web.api.forward_auth import fast_routes as forward_auth_routes
from twostep.web.core import branding, metrics
from twostep.web.core.http_methods import HeadAsGet, allowed_methods
from twostep.web.core.input_guard import InputGuard
from twostep.web.core.pages import WebState, build_offline_page, build_page
from twostep.web.core.security import CookieNames, Csrf, SecurityHeaders, TrustedProxies
from twostep.web.enrollment import authenticator_app, email_and_phone, help, mailbox
from twostep.web.enrollment import passkey as passkey_enrollment_pages
from twostep.web.reset import invitation
from twostep.web.reset import password_reset as password_reset_pages
from twostep.web.signin import passkey as passkey_ceremonies
from twostep.web.signin import recover, reminder, sign_in
from twostep.web.signin.return_address import router as return_address_router

log = logging.getLogger("twostep")

__all__ = ["build_context", "create_app", "sms_without_gateway"]


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    mail: MailSender | None = None,
    sms: FailoverSmsSender | None = None,
    context: Context | None = None,
) -> FastAPI:
    ctx = context or build_context(settings, clock=clock, mail=mail, sms=sms, warn=True)
    app = metrics.FastApp(
        title=f"{settings.service_name} API",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=_background_purge(ctx),
        **_no_telemetry(),
    )
    app.state.web = WebState(
        ctx=ctx,
        csrf=Csrf(settings.secret_key_bytes),
        cookies=CookieNames(settings),
        trusted_proxies=TrustedProxies(settings.trusted_proxies),
    )
    app.state.ctx = ctx
    app.add_middleware(HeadAsGet)
    # Inside SecurityHeaders, so its refusals carry the headers too.
    app.add_middleware(InputGuard, api_problem=api.problem_body)
    app.add_middleware(SecurityHeaders, hsts=settings.uses_https, image_origin=settings.logo_origin)

    # The request id (request.state.request_id, X-Request-ID) is set by web.metrics' ASGI middleware.

    app.mount("/static", StaticFiles(directory=str(PACKAGE_DIR / "static")), name="static")
    app.include_router(api.router)  # first: routes are matched in order, and this is the hot path
    app.include_router(api.docs_router)
    app.include_router(sign_in.router)
    app.include_router(authenticator_app.router)
    app.include_router(passkey_enrollment_pages.router)
    app.include_router(passkey_ceremonies.router)
    app.include_router(mailbox.router)
    app.include_router(return_address_router)
    app.include_router(email_and_phone.router)
    app.include_router(password_reset_pages.router)
    app.include_router(account.router)
    app.include_router(reauth.router)
    app.include_router(recover.router)
    app.include_router(admin_home.router)
    app.include_router(admin_users.router)  # before admin_pages: /admin/users/new is not a user id
    app.include_router(admin_pages.router)
    app.include_router(invitation.router)
    app.include_router(help.router)
    app.include_router(branding.router)
    app.include_router(admin_apikeys.router)
    app.include_router(admin_policy.router)
    app.include_router(admin_appearance.router)
    app.include_router(admin_passkeys.router)
    app.include_router(reminder.router)
    app.include_router(oidc_pages.router)
    app.include_router(oidc_admin_pages.router)
    app.state.verify_endpoint = api.VerifyEndpoint(app.state.web, hsts=settings.uses_https)
    fast = [metrics.FastRoute(app.state.verify_endpoint, "POST", "/api/v1/verify")]
    fast += forward_auth_routes(app.state.web, hsts=settings.uses_https)  # docs/forward-auth.md
    app.state.oidc_back_channel = oidc_pages.back_channel_endpoints(app.state.web, hsts=settings.uses_https)
    fast += oidc_pages.fast_routes(app.state.oidc_back_channel)  # docs/oidc.md, "Throughput"
    metrics.install(app, ctx, fast_routes=fast)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz(request: Request) -> JSONResponse:
        """Ready when what serving needs works: the database takes a write (rolled back), and Redis,
        when configured, answers. 503 names the failing part (``"database"`` / ``"redis"``).
        ``?redis=optional`` still reports Redis but does not fail on it (the database stands in)."""
        body, ready = health.readiness(ctx, redis_required=request.query_params.get("redis") != "optional")
        return JSONResponse(body, status_code=200 if ready else 503, headers={"Cache-Control": "no-store"})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        response = _error_response(request, exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["Allow"] = ", ".join(allowed_methods(request))
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return _error_response(request, 422, "The request was not understood.")

    async def database_error(request: Request, exc: Exception) -> Response:
        """Database errors, answered here (Starlette's ExceptionMiddleware) rather than by the catch-all
        below, which re-raises to the server: uvicorn would then log a traceback per request."""
        if is_unavailable(exc):  # logged once per outage (Database.outage), not per request
            ctx.db.outage.failed(exc)
            return _unavailable_response(request)
        log.exception("unhandled error", extra={"request_id": getattr(request.state, "request_id", "")})
        return _error_response(request, 500, "Something went wrong on our side.")

    for kind in DATABASE_ERRORS:
        app.add_exception_handler(kind, database_error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        if is_unavailable(exc):
            ctx.db.outage.failed(exc)
            return _unavailable_response(request)
        log.exception("unhandled error", extra={"request_id": getattr(request.state, "request_id", "")})
        return _error_response(request, 500, "Something went wrong on our side.")

    return app


def _background_purge(ctx: Context) -> Any:
    """Each worker deletes expired rows every ``purge_interval_seconds`` (services.purge), in batches,
    and as often sends the invitations still waiting (services.admin.invitation_queue)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from twostep.services.admin import invitation_queue
        from twostep.services.operations import purge

        interval = ctx.settings.purge_interval_seconds
        jobs = (invitation_queue.send_queued, invitation_queue.forget_finished)
        task = asyncio.create_task(purge.run_periodically(ctx, interval, *jobs)) if interval > 0 else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task

    return lifespan


def _no_telemetry() -> dict[str, Any]:
    """Newer FastAPI releases look for an OpenTelemetry set-up on every request; twostep has its own
    metrics (``/metrics``), so that look-up is switched off where the option exists."""
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    return {}


def _error_response(request: Request, status: int, detail: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse(
            {"type": "about:blank", "title": detail, "status": status, "detail": detail},
            status_code=status,
            media_type="application/problem+json",
        )
    try:
        page = build_page(request)
        titles = {
            404: page.gettext("Page not found"),
            405: page.gettext("Not allowed"),
            422: page.gettext("The request was not understood."),
            500: page.gettext("Something went wrong on our side."),
        }
        return page.render("message.html", status_code=status, title=titles.get(status, detail), error="")
    except Exception:
        return HTMLResponse("<h1>Error</h1>", status_code=status)


def _unavailable_response(request: Request) -> Response:
    """503 while the database is unavailable: problem+json with ``Retry-After`` on the API, a page
    in the visitor's language saying it is temporary (built without touching the database)."""
    if request.url.path.startswith("/api/"):
        return unavailable_problem(request.app.state.web.ctx.settings.base_url)
    try:
        page = build_offline_page(request)
        response = page.render(
            "message.html",
            status_code=503,
            title=page.gettext("Temporarily unavailable"),
            error=page.gettext("The service is unavailable for a moment. Please try again in a minute."),
        )
    except Exception:
        log.exception("the unavailable page could not be rendered")
        response = HTMLResponse("<h1>Temporarily unavailable</h1>", status_code=503)
    response.headers["Retry-After"] = str(health.RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response
