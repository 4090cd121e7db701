"""HEAD behaves like GET without a body on every page, every 405 names the allowed methods in
``Allow``, and the OpenAPI document lists ``/challenge``'s methods (issue 12, item 14)."""

from __future__ import annotations

import re
from collections import defaultdict

from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from tests.route_list import flat_routes

VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def methods_by_path(app: FastAPI) -> dict[str, set[str]]:
    """Concrete path (parameters filled) -> the methods its routes declare."""
    found: dict[str, set[str]] = defaultdict(set)
    for full_path, route in flat_routes(app):
        if isinstance(route, Mount):
            continue
        path = re.sub(r"{(\w+)(:\w+)?}", lambda m: "1" if m.group(2) else "ada%40example.com", full_path)
        found[path] |= set(getattr(route, "methods", None) or {"GET"}) - {"HEAD"}
    return found


def test_head_answers_every_get_route_like_get_without_a_body(client: TestClient, app: FastAPI) -> None:
    paths = [path for path, verbs in methods_by_path(app).items() if "GET" in verbs]
    assert len(paths) > 25
    for path in [*paths, "/static/style.css"]:
        got = client.get(path, follow_redirects=False)
        head = client.head(path, follow_redirects=False)
        assert head.status_code == got.status_code != 405, path
        assert head.content == b"", path
        assert head.headers.get("content-type") == got.headers.get("content-type"), path
        assert head.headers.get("location") == got.headers.get("location"), path


def test_every_405_names_the_allowed_methods_in_allow(client: TestClient, app: FastAPI) -> None:
    checked = 0
    for path, verbs in methods_by_path(app).items():
        expected = {*verbs, *({"HEAD"} if "GET" in verbs else set())}
        for verb in VERBS:
            if verb in verbs:
                continue
            response = client.request(verb, path, follow_redirects=False)
            assert response.status_code == 405, (verb, path, response.status_code)
            allow = {part.strip() for part in response.headers.get("allow", "").split(",") if part.strip()}
            assert allow == expected, (verb, path, allow)
            checked += 1
    assert checked > 100


def test_login_allows_both_of_its_routes_methods(client: TestClient) -> None:
    """``GET /login`` and ``POST /login`` are two routes; the router alone named only the first."""
    assert client.put("/login").headers["allow"] == "GET, HEAD, POST"


def test_openapi_lists_the_challenge_methods_as_an_enum(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    body = document["paths"]["/api/v1/challenge"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["method"]["enum"] == ["email", "sms"]
    assert "method" in body["required"]
