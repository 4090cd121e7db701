"""The cheapest possible "check" for bench/forward_auth.py's ``empty check`` row: a plain ASGI app that
answers every request 200 with the four identity headers empty, reading nothing. Served by the same
uvicorn (uvloop, httptools) and worker count as twostep, it measures what one HTTP hop from nginx to a
Python server costs on its own: the ceiling any Python check behind ``auth_request`` can reach.

    uvicorn --workers 2 --no-access-log bench.empty_check:app
"""

from __future__ import annotations

from typing import Any

_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", b"0"),
    (b"remote-user", b""),
    (b"remote-groups", b""),
    (b"remote-name", b""),
    (b"remote-email", b""),
]
_START = {"type": "http.response.start", "status": 200, "headers": _HEADERS}
_BODY = {"type": "http.response.body", "body": b""}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":  # lifespan: nothing to set up
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
        return
    await send(_START)
    await send(_BODY)
