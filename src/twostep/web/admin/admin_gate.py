"""The one gate in front of every ``/admin`` route (users, audit, policy, roles, API keys…).

It is a route class (``AdminRoute``), so it runs before FastAPI reads any path parameter, query
parameter or form field: a non-administrator gets 403 for any input, never a 422 that would tell
them which inputs the console accepts. In this order:

1. signed in (else the sign-in page; a half-finished sign-in goes to its own step);
2. the admin role (else 403 and the OWASP ``authz_fail`` event);
3. a real second step in this session — a remembered device is not enough (checklist A-01):
   redirect to ``/account/reauth?next=…``;
4. for every change (any method but GET/HEAD), password and second step given again within the
   last five minutes (S-09): the same redirect, back to the page the form was on.

A router is gated by ``APIRouter(route_class=AdminRoute)``; handlers take ``AdminPageDep`` and
``ActorDep``. ``tests/admin/test_admin.py`` enumerates every /admin route and checks each is one.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from twostep.domain.login_flow import Area, Stage
from twostep.services.admin import admin_access
from twostep.services.admin.admin import Actor
from twostep.web.account.reauth import reauth_url
from twostep.web.core import messages
from twostep.web.core.links import same_origin_path
from twostep.web.core.pages import Page, build_page

FORBIDDEN = messages.ADMIN_FORBIDDEN
READ_METHODS = frozenset({"GET", "HEAD"})

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def returns_to(template: str) -> Callable[[Endpoint], Endpoint]:
    """Where a change sends the browser back after re-authentication, when that is not the path
    itself: ``@returns_to("/admin/users/{user_id}")`` on ``POST /admin/users/{user_id}/unlock``."""

    def mark(endpoint: Endpoint) -> Endpoint:
        endpoint.admin_returns_to = template  # type: ignore[attr-defined]
        return endpoint

    return mark


def _back(request: Request, template: str | None) -> str:
    if template is None:
        return same_origin_path(request.url.path)
    raw: dict[str, Any] = request.scope.get("path_params", {})
    return template.format(**{key: quote(str(value), safe="") for key, value in raw.items()})


def check(request: Request, *, change: bool, back_template: str | None) -> Response | None:
    """None when the request may go on (the page and actor are then on ``request.state``), else the
    response that refuses it. Reads nothing but the session cookie and the path."""
    page = build_page(request)
    request.state.admin_page = page
    if page.stage is None:
        return page.redirect("/login")
    if page.stage is not Stage.SIGNED_IN:
        return page.guard(Area.SIGNED_IN) or page.redirect("/login")
    access = admin_access.console_access(page.ctx, page.session_token)
    if access is None:
        return page.redirect("/login")
    if not access.is_admin:
        admin_access.record_denied(page.ctx, access.user_id, request.url.path, page.info)
        return page.render(
            "message.html", status_code=403, title=page.gettext("Not allowed"), error=page.message(FORBIDDEN)
        )
    if not access.real_second_step or (change and not access.fresh):
        return page.redirect(reauth_url(_back(request, back_template)))
    request.state.admin_actor = Actor(id=access.user_id, email=access.email)
    return None


class AdminRoute(APIRoute):
    """An APIRoute whose handler runs only after ``check`` let the request through."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        change = not (set(self.methods or ()) <= READ_METHODS)
        back_template: str | None = getattr(self.endpoint, "admin_returns_to", None)

        async def gated(request: Request) -> Response:
            refusal = await run_in_threadpool(check, request, change=change, back_template=back_template)
            if refusal is not None:
                return refusal
            return await handler(request)

        return gated


def admin_page(request: Request) -> Page:
    """The page the gate built for this request (so the session is read once)."""
    page: Page = request.state.admin_page
    return page


def admin_actor(request: Request) -> Actor:
    """The administrator the gate let through."""
    actor: Actor = request.state.admin_actor
    return actor


AdminPageDep = Annotated[Page, Depends(admin_page)]
ActorDep = Annotated[Actor, Depends(admin_actor)]
