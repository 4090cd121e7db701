"""HTTP method semantics the framework leaves out (issue 12, item 14).

* ``HEAD`` is answered on every page like ``GET`` without the body (RFC 9110 §9.3.2: "identical to
  GET except that the server MUST NOT send content"); FastAPI's routes list only ``GET``, so a
  monitoring probe or a link checker got 405.
* A 405 names the methods the path does allow in ``Allow`` (RFC 9110 §15.5.6: "MUST generate an
  Allow header"), gathered over every route of the path: ``GET /login`` and ``POST /login`` are two
  routes, and the router alone reports only the first.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBED = ("GET", "POST", "PUT", "PATCH", "DELETE")


class HeadAsGet:
    """ASGI middleware: a ``HEAD`` request runs as ``GET``; its status and headers go out, the body not."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


def allowed_methods(request: Request) -> list[str]:
    """The methods some route answers at this path (``HEAD`` wherever ``GET`` is)."""
    allowed: list[str] = []
    for method in PROBED:
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    if "GET" in allowed:
        allowed.insert(1, "HEAD")
    return allowed
