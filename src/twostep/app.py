"""create_app(settings, clock=...) -> FastAPI: the single wiring point, no import-time state."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from twostep.delivery.mail import MailSender, build_mail_sender
from twostep.delivery.sms import FailoverSmsSender, build_sms_sender
from twostep.domain.clock import Clock, SystemClock
from twostep.domain.passwords import PasswordHashing
from twostep.domain.sealing import Digester, Sealer
from twostep.i18n import PACKAGE_DIR
from twostep.services.context import Context
from twostep.services.policy import password_rules
from twostep.settings import Settings
from twostep.storage.database import Database
from twostep.web import account, admin_apikeys, admin_policy, api, help, metrics, oob, reauth, recover, reminder, ui
from twostep.web import admin as admin_pages
from twostep.web.http_methods import HeadAsGet, allowed_methods
from twostep.web.input_guard import InputGuard
from twostep.web.pages import WebState, build_page
from twostep.web.security import CookieNames, Csrf, SecurityHeaders

log = logging.getLogger("twostep")


def build_context(
    settings: Settings,
    *,
    clock: Clock | None = None,
    mail: MailSender | None = None,
    sms: FailoverSmsSender | None = None,
    database: Database | None = None,
) -> Context:
    return Context(
        settings=settings,
        db=database or Database(settings.resolved_database_url),
        clock=clock or SystemClock(),
        hashing=PasswordHashing(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        ),
        sealer=Sealer(settings.secret_key_bytes),
        digester=Digester(settings.secret_key_bytes),
        mail=mail or build_mail_sender(settings),
        sms=sms or build_sms_sender(settings),
        password_policy=password_rules(settings),
    )


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    mail: MailSender | None = None,
    sms: FailoverSmsSender | None = None,
    context: Context | None = None,
) -> FastAPI:
    ctx = context or build_context(settings, clock=clock, mail=mail, sms=sms)
    app = FastAPI(
        title=f"{settings.service_name} API",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        **_no_telemetry(),
    )
    app.state.web = WebState(
        ctx=ctx,
        csrf=Csrf(settings.secret_key_bytes),
        cookies=CookieNames(settings),
        trusted_proxies=frozenset(p.strip() for p in settings.trusted_proxies.split(",") if p.strip()),
    )
    app.state.ctx = ctx
    app.add_middleware(HeadAsGet)
    # Inside SecurityHeaders, so its refusals carry the headers too.
    app.add_middleware(InputGuard, api_problem=api.problem_body)
    app.add_middleware(SecurityHeaders, hsts=settings.uses_https)

    # The request id (request.state.request_id, X-Request-ID) is set by web.metrics' ASGI middleware.

    app.mount("/static", StaticFiles(directory=str(PACKAGE_DIR / "static")), name="static")
    app.include_router(api.router)  # first: routes are matched in order, and this is the hot path
    app.include_router(api.docs_router)
    app.include_router(ui.router)
    app.include_router(oob.router)
    app.include_router(account.router)
    app.include_router(reauth.router)
    app.include_router(recover.router)
    app.include_router(admin_pages.router)
    app.include_router(help.router)
    app.include_router(admin_apikeys.router)
    app.include_router(admin_policy.router)
    app.include_router(reminder.router)
    app.state.verify_endpoint = api.VerifyEndpoint(app.state.web, hsts=settings.uses_https)
    metrics.install(app, ctx, fast_routes={("POST", "/api/v1/verify"): app.state.verify_endpoint})

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        if ctx.db.ping():
            return JSONResponse({"status": "ready", "database": "ok"})
        return JSONResponse({"status": "not ready", "database": "unreachable"}, status_code=503)

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

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"request_id": getattr(request.state, "request_id", "")})
        return _error_response(request, 500, "Something went wrong on our side.")

    return app


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
