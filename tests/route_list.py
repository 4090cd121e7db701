"""Every route of an app, flattened: FastAPI 0.165 keeps included routers as lazy branches, so
``app.routes`` alone lists only the routes declared on the app itself."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Mount, Route


def flat_routes(app: FastAPI) -> Iterator[tuple[str, BaseRoute]]:
    """(full path, route) for every Route/APIRoute and Mount the app answers."""

    def walk(routes: Iterable[Any]) -> Iterator[tuple[str, BaseRoute]]:
        for route in routes:
            if hasattr(route, "effective_candidates"):  # an included router (FastAPI ≥ 0.165)
                yield from walk(route.effective_candidates())
            elif hasattr(route, "original_route"):
                yield route.path, route.original_route
            elif isinstance(route, Mount | Route | APIRoute):
                yield route.path, route

    yield from walk(app.routes)
