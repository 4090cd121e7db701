"""Links and redirects built from the request stay on this site (issue 12, item 10).

``GET //evil.example/phish`` used to render language links to ``//evil.example/phish?lang=…``. The
places that build a link or a redirect from the request's path or a ``next`` parameter all go through
``web.links.same_origin_path``: the language switcher, the templates' ``path``, ``Page.redirect``
(every page redirect), the re-authentication ``next`` and the admin gates' way back. The tests send
hostile paths and parameters to every GET route, signed out and as a signed-in administrator, and
read every link and redirect that comes back; a source scan finds every place that reads the path.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from tests.route_list import flat_routes
from tests.support import enrolled_user, login_password, pyotp_now, submit_code
from twostep.domain.clock import FrozenClock
from twostep.services.admin import admin
from twostep.services.core.context import Context, RequestInfo
from twostep.web.account.reauth import safe_next
from twostep.web.core.links import same_origin_path

BASE = "http://127.0.0.1:8000"
HOSTILE_PATHS = ["//evil.example/phish", "/\\evil.example/phish", "//evil.example", "///evil.example/x"]
HOSTILE_QUERY = "next=//evil.example/x&rd=https://evil.example/y&lang=pl"
LINK = re.compile(r'(?:href|action|src|formaction)="([^"]*)"')
WEB = Path(__file__).resolve().parents[2] / "src" / "twostep" / "web"


def off_site(link: str) -> bool:
    link = link.replace("&amp;", "&")
    if link.startswith(("data:", "#", "mailto:")):
        return False
    parts = urlsplit(link)
    if parts.netloc:
        return "evil" in parts.netloc
    return not link.startswith("/") or link.startswith(("//", "/\\")) or "\\" in urlsplit(link).path


def links_of(response: object) -> list[str]:
    found = LINK.findall(getattr(response, "text", "") or "")
    location = getattr(response, "headers", {}).get("location")
    return [*found, *([location] if location else [])]


def get_paths(app: FastAPI) -> list[str]:
    paths = []
    for full_path, route in flat_routes(app):
        if isinstance(route, Mount) or "GET" not in (getattr(route, "methods", None) or {"GET"}):
            continue
        if full_path.endswith(".pdf"):  # a document without links (and the slowest page to build)
            continue
        paths.append(re.sub(r"{(\w+)(:\w+)?}", lambda m: "1" if m.group(2) else "ada%40example.com", full_path))
    return sorted(set(paths))


def check_every_get_route(client: TestClient, app: FastAPI, *, hostile_prefix: bool = True) -> list[str]:
    problems = []
    for path in get_paths(app):
        urls = [f"{BASE}{path}?{HOSTILE_QUERY}"] + ([f"{BASE}//evil.example{path}"] if hostile_prefix else [])
        for url in urls:
            response = client.get(url, follow_redirects=False)
            problems += [f"{url} -> {link}" for link in links_of(response) if off_site(link)]
    return problems


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_language_links_of_a_hostile_path_stay_on_the_site(client: TestClient, path: str) -> None:
    response = client.get(f"{BASE}{path}", follow_redirects=False)
    links = links_of(response)
    assert any("lang=" in link for link in links)  # the switcher was rendered
    assert [link for link in links if off_site(link)] == []


def test_no_get_route_links_or_redirects_off_site_when_signed_out(client: TestClient, app: FastAPI) -> None:
    assert len(get_paths(app)) > 25
    assert check_every_get_route(client, app) == []


def test_no_get_route_links_or_redirects_off_site_for_a_signed_in_administrator(
    client: TestClient, app: FastAPI, ctx: Context, clock: FrozenClock
) -> None:
    secret = enrolled_user(client, ctx, clock)
    admin.set_admin(ctx, admin.CLI, 1, True, RequestInfo())
    login_password(client, "ada@example.com")
    assert submit_code(client, pyotp_now(secret, clock)).status_code == 303
    assert check_every_get_route(client, app, hostile_prefix=False) == []
    clock.advance(minutes=10)  # no longer fresh: the admin gates send the browser to re-authenticate
    assert check_every_get_route(client, app, hostile_prefix=False) == []


@pytest.mark.parametrize(
    "raw",
    [
        "//evil.example/x",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "/\t/evil.example",
        "/a\x00b",
        "evil.example",
        "",
        "/" + "a" * 3000,
    ],
)
def test_same_origin_path_refuses_what_would_leave_the_site(raw: str) -> None:
    assert same_origin_path(raw, default="/fallback") == "/fallback"
    assert safe_next(raw) == "/account"


@pytest.mark.parametrize("raw", ["/account", "/admin/users/3?notice=granted", "/enroll/email", "/a/b%2F%2Fc"])
def test_same_origin_path_keeps_local_paths(raw: str) -> None:
    assert same_origin_path(raw) == raw


def test_every_place_that_reads_the_request_path_goes_through_the_helper() -> None:
    """Source scan of web/: the path or a next/return parameter only reaches a link or redirect
    through ``same_origin_path`` (directly, or via ``reauth_url``/``safe_next``, which use it)."""
    allowed = ("same_origin_path(", "reauth_url(", "safe_next(", "record_denied(")
    offenders = []
    sources = sorted(WEB.rglob("*.py"))
    assert len(sources) > 20  # the scan covers every feature folder of web/
    for source in sources:
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#", 1)[0]
            if "url.path" in code and not any(name in code for name in allowed):
                offenders.append(f"{source.name}:{number}: {line.strip()}")
            if "RedirectResponse(" in code and source.name != "pages.py":
                offenders.append(f"{source.name}:{number}: a redirect outside Page.redirect: {line.strip()}")
    assert offenders == []
