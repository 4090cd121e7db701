"""Forward-auth over HTTP (no proxy): the Authelia header contract, trusted proxies, fail-closed
parsing, the return address (rd) through the sign-in, step-up, sign-out (docs/forward-auth.md)."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support import PASSWORD, code_for, csrf_of, submit_code
from twostep.app import create_app
from twostep.domain.clock import FrozenClock
from twostep.services.core.context import Context
from twostep.settings import Settings, load_settings
from twostep.storage.models import UserRole

RULES = [
    {"hosts": ["app.example.test"], "paths": ["/public"], "level": "bypass"},
    {"hosts": ["admin.example.test"], "roles": ["admin"], "level": "two_factor"},
    {"hosts": ["admin.example.test"], "level": "deny"},
    {"hosts": ["fresh.example.test"], "level": "two_factor", "two_factor_within": "5m"},
    {"hosts": ["strict.example.test"], "level": "two_factor", "allow_remembered_device": False},
    {"hosts": ["app.example.test"], "level": "two_factor"},
]
FA = "/api/authz/forward-auth"
AR = "/api/authz/auth-request"


def forward_auth_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    """twostep on auth.example.test, its cookie for example.test, ``RULES``."""
    values: dict[str, object] = {"base_url": "http://auth.example.test", "cookie_domain": "example.test",
                                 "access_rules": RULES, **overrides}
    return load_settings(data_dir=tmp_path / "data", database_url=database_url, **values)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return forward_auth_settings(tmp_path, database_url)


def ask(proxy: TestClient, url: str, *, method: str = "GET", cookie: str | None = None,
        headers: dict[str, str] | None = None, endpoint: str = FA) -> httpx.Response:
    parts = urlsplit(url)
    sent = {"Accept": "text/html"}
    if endpoint == FA:
        sent |= {"X-Forwarded-Method": method, "X-Forwarded-Proto": parts.scheme, "X-Forwarded-Host": parts.netloc,
                 "X-Forwarded-Uri": parts.path + (f"?{parts.query}" if parts.query else ""),
                 "X-Forwarded-For": "203.0.113.9"}
    else:
        sent |= {"X-Original-Method": method, "X-Original-URL": url, "X-Forwarded-For": "203.0.113.9"}
    if cookie:
        sent["Cookie"] = f"twostep_session={cookie}"
    return proxy.get(endpoint, headers=sent | (headers or {}))


def session_cookie(browser: TestClient) -> str:
    jar = browser.cookies.jar
    found = [c.value for c in jar if c.name == "twostep_session" and c.domain.lstrip(".") == "example.test"]
    assert len(found) == 1 and found[0], "no session cookie for the parent domain"
    return found[0]


def landing(browser: TestClient, response: httpx.Response) -> str:
    """Where the browser ends up: local redirects followed, then /login/continue's Refresh target."""
    while response.status_code in (302, 303) and response.headers["location"].startswith("/"):
        response = browser.get(response.headers["location"], follow_redirects=False)
    if response.status_code in (302, 303):
        return response.headers["location"]
    refresh = response.headers.get("refresh", "")
    if not refresh:
        return response.url.path
    assert f'href="{refresh[6:]}"' in response.text  # and a link, for when refreshing is off
    return refresh[6:]


def sign_in_from(browser: TestClient, location: str, secret: str, clock: FrozenClock,
                 *, remember: bool = False) -> httpx.Response:
    """Follow forward-auth's Location to the sign-in page, pass both steps; the last response."""
    parts = urlsplit(location)
    page = browser.get(f"{parts.path}?{parts.query}")
    assert 'name="rd"' in page.text
    rd = parse_qs(parts.query)["rd"][0]
    browser.post("/login", data={"email": "ada@example.com", "password": PASSWORD,
                                 "csrf_token": csrf_of(page.text), "rd": rd}, follow_redirects=False)
    clock.advance(seconds=30)
    return submit_code(browser, code_for(secret, clock), remember=remember)


def test_anonymous_get_is_sent_to_sign_in_with_the_target_and_method(proxy: TestClient, secret: str) -> None:
    response = ask(proxy, "http://app.example.test/wiki/page?x=1")
    assert response.status_code == 302
    location = response.headers["location"]
    target = quote("http://app.example.test/wiki/page?x=1", safe="")
    assert location == f"http://auth.example.test/login?rd={target}&rm=GET"
    assert ask(proxy, "http://app.example.test/form", method="POST").status_code == 303


def test_xhr_and_non_html_clients_get_401(proxy: TestClient, secret: str) -> None:
    xhr = ask(proxy, "http://app.example.test/x", headers={"X-Requested-With": "XMLHttpRequest"})
    json_only = ask(proxy, "http://app.example.test/x", headers={"Accept": "application/json"})
    assert xhr.status_code == 401 and json_only.status_code == 401
    assert "location" not in xhr.headers


def test_auth_request_endpoint_always_answers_401_with_location(proxy: TestClient, secret: str) -> None:
    for method, status in (("GET", "302"), ("POST", "303")):
        response = ask(proxy, "http://app.example.test/x", method=method, endpoint=AR)
        assert response.status_code == 401, method
        assert response.headers["location"].startswith("http://auth.example.test/login?rd=")
        assert response.headers["twostep-redirect-status"] == status


def test_after_password_and_code_the_browser_returns_to_rd_and_headers_name_the_user(
    proxy: TestClient, browser: TestClient, secret: str, clock: FrozenClock
) -> None:
    location = ask(proxy, "http://app.example.test/wiki").headers["location"]
    done = sign_in_from(browser, location, secret, clock)
    assert done.status_code == 303 and done.headers["location"] == "/login/continue"
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("twostep_session="))
    assert landing(browser, done) == "http://app.example.test/wiki"
    assert "Domain=example.test" in cookie and "HttpOnly" in cookie
    for endpoint in (FA, AR):
        allowed = ask(proxy, "http://app.example.test/wiki", cookie=session_cookie(browser), endpoint=endpoint)
        assert allowed.status_code == 200, endpoint
        h = allowed.headers
        assert h["remote-user"] == "ada@example.com" and h["remote-email"] == "ada@example.com"
        assert h["remote-groups"] == "" and "remote-name" in h
        assert h["remote-auth-methods"] == "pwd,otp,mfa" and int(h["remote-auth-time"]) == int(clock.now().timestamp())


def test_bypass_answers_200_with_every_identity_header_present_and_empty(proxy: TestClient) -> None:
    response = ask(proxy, "http://app.example.test/public/logo.png")
    assert response.status_code == 200
    for name in ("remote-user", "remote-groups", "remote-name", "remote-email"):
        assert response.headers[name] == "", name


def test_open_redirect_rd_is_refused(browser: TestClient, secret: str, clock: FrozenClock) -> None:
    page = browser.get("/login?rd=" + quote("https://evil.example/", safe="") + "&rm=GET")
    assert 'name="rd"' not in page.text
    browser.post("/login", data={"email": "ada@example.com", "password": PASSWORD,
                                 "csrf_token": csrf_of(page.text), "rd": "https://evil.example/"},
                 follow_redirects=False)
    clock.advance(seconds=30)
    done = submit_code(browser, code_for(secret, clock))
    assert done.headers["location"] == "/account" and landing(browser, done) == "/account"


def test_wrong_role_is_403_and_the_role_opens_the_rule(
    proxy: TestClient, browser: TestClient, ctx: Context, secret: str, clock: FrozenClock
) -> None:
    location = ask(proxy, "http://admin.example.test/").headers["location"]
    sign_in_from(browser, location, secret, clock)
    cookie = session_cookie(browser)
    assert ask(proxy, "http://admin.example.test/", cookie=cookie).status_code == 403
    with ctx.db.transaction() as db:
        db.add(UserRole(user_id=1, role="admin"))
    allowed = ask(proxy, "http://admin.example.test/", cookie=cookie)
    assert allowed.status_code == 200 and allowed.headers["remote-groups"] == "admin"


def test_step_up_after_the_freshness_window_then_back_to_rd(
    proxy: TestClient, browser: TestClient, secret: str, clock: FrozenClock
) -> None:
    location = ask(proxy, "http://fresh.example.test/").headers["location"]
    sign_in_from(browser, location, secret, clock)
    cookie = session_cookie(browser)
    assert ask(proxy, "http://fresh.example.test/", cookie=cookie).status_code == 200
    clock.advance(minutes=5, seconds=30)
    browser.get("/account")  # keeps the session from idling out
    stale = ask(proxy, "http://fresh.example.test/", cookie=session_cookie(browser))
    assert stale.status_code == 302
    parts = urlsplit(stale.headers["location"])
    step_up = browser.get(f"{parts.path}?{parts.query}", follow_redirects=False)
    assert step_up.headers["location"].startswith("/account/reauth?next=/login/continue")
    page = browser.get(step_up.headers["location"])
    page = browser.post("/account/reauth", data={"password": PASSWORD,
                                                          "next": "/login/continue",
                                                          "csrf_token": csrf_of(page.text)})
    clock.advance(seconds=30)
    done = browser.post("/account/reauth/code", data={"code": code_for(secret, clock), "next": "/login/continue",
                                                      "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert landing(browser, done) == "http://fresh.example.test/"
    assert ask(proxy, "http://fresh.example.test/", cookie=session_cookie(browser)).status_code == 200


def test_remembered_device_is_refused_where_the_rule_says_so(
    proxy: TestClient, browser: TestClient, secret: str, clock: FrozenClock
) -> None:
    location = ask(proxy, "http://strict.example.test/").headers["location"]
    sign_in_from(browser, location, secret, clock, remember=True)
    browser.post("/logout", data={"csrf_token": csrf_of(browser.get("/account").text)})
    page = browser.get("/login")
    browser.post("/login", data={"email": "ada@example.com", "password": PASSWORD,
                                 "csrf_token": csrf_of(page.text)})
    cookie = session_cookie(browser)
    assert ask(proxy, "http://app.example.test/", cookie=cookie).status_code == 200
    assert ask(proxy, "http://strict.example.test/", cookie=cookie).status_code == 302


def test_sign_out_ends_access_at_the_next_request(
    proxy: TestClient, browser: TestClient, secret: str, clock: FrozenClock
) -> None:
    location = ask(proxy, "http://app.example.test/").headers["location"]
    sign_in_from(browser, location, secret, clock)
    cookie = session_cookie(browser)
    assert ask(proxy, "http://app.example.test/", cookie=cookie).status_code == 200
    browser.post("/logout", data={"csrf_token": csrf_of(browser.get("/account").text)})
    assert ask(proxy, "http://app.example.test/", cookie=cookie).status_code == 302


def test_allowed_checks_write_no_access_line_but_refusals_do(
    proxy: TestClient, browser: TestClient, secret: str, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    """An allowed check comes with every request of every protected page and the proxy logs that
    request: twostep writes no access line for it (docs/operations.md, Logs). Refusals are logged."""
    location = ask(proxy, "http://app.example.test/").headers["location"]
    sign_in_from(browser, location, secret, clock)
    cookie = session_cookie(browser)
    caplog.clear()  # the sign-in's own lines
    with caplog.at_level(logging.INFO, logger="twostep.access"):
        for endpoint in (FA, AR):
            assert ask(proxy, "http://app.example.test/", cookie=cookie, endpoint=endpoint).status_code == 200
        allowed = [r for r in caplog.records if r.name == "twostep.access"]
        assert ask(proxy, "http://app.example.test/").status_code == 302
        assert ask(proxy, "http://admin.example.test/", cookie=cookie).status_code == 403
        assert ask(proxy, "http://app.example.test/", headers={"X-Forwarded-Uri": "x"}).status_code == 400
    refused = [r for r in caplog.records if r.name == "twostep.access"]
    assert allowed == []
    assert [(r.status, r.route) for r in refused] == [(302, FA), (403, FA), (400, FA)]  # type: ignore[attr-defined]
    assert refused[1].user_id is not None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "broken",
    [
        {"X-Forwarded-Host": ""},
        {"X-Forwarded-Uri": "no-slash"},
        {"X-Forwarded-Uri": "/a b"},
        {"X-Forwarded-Uri": "/%ff"},
        {"X-Forwarded-Proto": "gopher"},
        {"X-Forwarded-Method": "FETCH"},
        {"X-Forwarded-Host": "user@app.example.test"},
        {"X-Forwarded-Host": "app.example.test:99:1"},
    ],
)
def test_missing_or_malformed_metadata_is_400(proxy: TestClient, broken: dict[str, str]) -> None:
    assert ask(proxy, "http://app.example.test/x", headers=broken).status_code == 400


def test_metadata_missing_entirely_is_400_on_both_endpoints(proxy: TestClient) -> None:
    assert proxy.get(FA).status_code == 400 and proxy.get(AR).status_code == 400
    assert proxy.get(AR, headers={"X-Original-Method": "GET", "X-Original-URL": "ftp://x/"}).status_code == 400


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(app: FastAPI) -> None:
    with TestClient(app, base_url="http://auth.example.test", client=("198.51.100.7", 40000),
                    follow_redirects=False) as stranger:
        response = ask(stranger, "http://app.example.test/public/x")
        assert response.status_code == 400
        assert ask(stranger, "http://app.example.test/public/x", endpoint=AR).status_code == 400


def test_a_malformed_session_cookie_is_treated_as_signed_out(proxy: TestClient) -> None:
    for cookie in ("x" * 500, "garbage", "%00"):
        assert ask(proxy, "http://app.example.test/", cookie=cookie).status_code == 302


def test_access_rules_are_checked_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"access_rules\[1\]\.level"):
        Settings(data_dir=tmp_path, access_rules=[{"level": "maybe"}])
    with pytest.raises(ValueError, match="TWOSTEP_COOKIE_DOMAIN"):
        Settings(data_dir=tmp_path, base_url="https://auth.example.org", cookie_domain="example.com")


def test_https_session_cookie_for_a_parent_domain_is_secure_prefixed(tmp_path: Path, database_url: str) -> None:
    settings = load_settings(data_dir=tmp_path / "d", database_url=database_url, base_url="https://auth.example.org",
                             cookie_domain=".example.org")
    app = create_app(settings)
    names = app.state.web.cookies
    assert names.session == "__Secure-twostep_session" and names.device == "__Host-twostep_device"
    assert settings.cookie_domain == "example.org"
    app.state.ctx.db.dispose()


def password_with_rd(browser: TestClient, location: str, email: str = "ada@example.com") -> httpx.Response:
    parts = urlsplit(location)
    page = browser.get(f"{parts.path}?{parts.query}")
    rd = parse_qs(parts.query)["rd"][0]
    return browser.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(page.text),
                                        "rd": rd}, follow_redirects=False)


def test_rd_is_carried_through_a_first_enrollment(proxy: TestClient, browser: TestClient, ctx: Context,
                                                  clock: FrozenClock) -> None:
    from tests.recovery.test_recovery_codes import enroll_and_keep_codes
    from tests.support import make_user, prove_mailbox

    make_user(ctx, "ada@example.com")
    location = ask(proxy, "http://app.example.test/new").headers["location"]
    assert password_with_rd(browser, location).headers["location"] == "/enroll"
    prove_mailbox(browser)
    enroll_and_keep_codes(browser, clock)  # its confirmation page's "Continue" leads to /login/continue
    assert landing(browser, browser.get("/login/continue", follow_redirects=False)) == "http://app.example.test/new"


def test_rd_is_carried_through_a_recovery_code_sign_in(proxy: TestClient, browser: TestClient, ctx: Context,
                                                       clock: FrozenClock) -> None:
    from tests.recovery.test_recovery_codes import use_recovery_code, user_with_codes

    _, codes = user_with_codes(browser, ctx, clock)
    location = ask(proxy, "http://app.example.test/lost").headers["location"]
    assert password_with_rd(browser, location).headers["location"] == "/login/code"
    used = use_recovery_code(browser, codes[0])
    page = browser.get(used.headers["location"])
    assert 'href="/login/continue"' in page.text
    assert landing(browser, browser.get("/login/continue", follow_redirects=False)) == "http://app.example.test/lost"


def test_forward_auth_checks_keep_the_session_from_idling_out(
    proxy: TestClient, browser: TestClient, secret: str, clock: FrozenClock
) -> None:
    location = ask(proxy, "http://app.example.test/").headers["location"]
    sign_in_from(browser, location, secret, clock)
    cookie = session_cookie(browser)
    for _ in range(4):  # 40 minutes of work in the protected application only, a check every 10 minutes
        clock.advance(minutes=10)
        assert ask(proxy, "http://app.example.test/", cookie=cookie).status_code == 200
    clock.advance(minutes=31)
    assert ask(proxy, "http://app.example.test/", cookie=cookie).status_code == 302


def test_a_removed_role_ends_access_at_the_next_check(
    proxy: TestClient, browser: TestClient, ctx: Context, secret: str, clock: FrozenClock
) -> None:
    with ctx.db.transaction() as db:
        db.add(UserRole(user_id=1, role="admin"))
    location = ask(proxy, "http://admin.example.test/").headers["location"]
    sign_in_from(browser, location, secret, clock)
    cookie = session_cookie(browser)
    assert ask(proxy, "http://admin.example.test/", cookie=cookie).status_code == 200
    with ctx.db.transaction() as db:
        db.query(UserRole).delete()
    assert ask(proxy, "http://admin.example.test/", cookie=cookie).status_code == 403


def test_head_subrequests_get_the_same_answer_without_a_body(proxy: TestClient) -> None:
    headers = {"X-Forwarded-Method": "HEAD", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "app.example.test",
               "X-Forwarded-Uri": "/public/x"}
    response = proxy.head(FA, headers=headers)
    assert response.status_code == 200 and response.content == b"" and response.headers["remote-user"] == ""
    assert proxy.head(FA).status_code == 400


def test_every_cookie_is_written_through_the_one_helper_that_knows_the_cookie_domain() -> None:
    """Source scan: only web/core/security.py calls Starlette's set_cookie/delete_cookie, so the session
    cookie always gets its ``Domain=`` and the others never do (a stray delete without the domain
    would leave the parent-domain session cookie in place at sign-out)."""
    source = Path(__file__).resolve().parents[2] / "src" / "twostep"
    offenders = [
        f"{path.relative_to(source)}:{number}"
        for path in sorted(source.rglob("*.py"))
        if path.name != "security.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if ".set_cookie(" in line or ".delete_cookie(" in line
    ]
    assert offenders == []


def test_sign_out_clears_the_parent_domain_session_cookie(browser: TestClient, secret: str,
                                                          clock: FrozenClock) -> None:
    page = browser.get("/login")
    browser.post("/login", data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": csrf_of(page.text)})
    submit_code(browser, code_for(secret, clock))
    response = browser.post("/logout", data={"csrf_token": csrf_of(browser.get("/account").text)},
                            follow_redirects=False)
    cleared = [c for c in response.headers.get_list("set-cookie") if c.startswith("twostep_session=")]
    assert len(cleared) == 1 and "Domain=example.test" in cleared[0] and "Max-Age=0" in cleared[0]
