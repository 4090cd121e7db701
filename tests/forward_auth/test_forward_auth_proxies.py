"""Forward-auth through real proxies: nginx (auth_request), Caddy (forward_auth) and Traefik (ForwardAuth),
each configured with the documented snippet (docs/forward-auth/) with only names and addresses changed,
in front of an upstream that echoes the headers it receives, and two twostep instances sharing one
database. Traefik runs twice: with traefik.yml (ForwardAuth's one address: the first instance) and as
"traefik-lb" with traefik-instances.yml (the checks balanced over both instances through an entry
point of Traefik's own). The browser here is httpx using the proxy as its HTTP proxy, so real host names and the
parent-domain cookie work as in a browser; tests/browser/test_forward_auth_journey.py runs Chromium.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher

from tests.forward_auth_support import (
    binary,
    caddyfile,
    echo_server,
    nginx_conf,
    traefik_command,
    traefik_instances_yml,
    traefik_yml,
)
from tests.real_servers import free_port

PASSWORD = "violet staple meadow 42"
AUTH = "http://auth.example.test"
APP = "http://app.example.test"
RULES_TOML = """
[[access_rules]]
hosts = ["app.example.test"]
paths = ["/public"]
level = "bypass"

[[access_rules]]
hosts = ["admin.example.test"]
roles = ["admin"]
level = "two_factor"

[[access_rules]]
hosts = ["admin.example.test"]
level = "deny"

[[access_rules]]
hosts = ["fresh.example.test"]
level = "two_factor"
two_factor_within = "2s"

[[access_rules]]
hosts = ["app.example.test"]
level = "two_factor"
"""
PROXIES = ("nginx", "caddy", "traefik", "traefik-lb")
CACHE_SECONDS = 6  # TWOSTEP_FORWARD_AUTH_CACHE_SECONDS: how long nginx-cache.conf may keep an allowed answer


@dataclass
class Stack:
    proxies: dict[str, int]
    instances: list[int]
    users: Iterator[tuple[str, str]]
    admins: Iterator[tuple[str, str]]
    env: dict[str, str]


def wait_until(check: object, what: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            err = process.stderr.read().decode(errors="replace")[-2000:] if process.stderr else ""
            raise AssertionError(f"{what} exited with {process.returncode}: {err}")
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} did not come up")


def _users_csv(path: Path, count: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    hashed = PasswordHasher().hash(PASSWORD)
    users, admins = [], []
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "roles", "password_hash", "totp_secret"])
        for index in range(count):
            admin = index % 4 == 0
            email, secret = f"user{index}@example.test", pyotp.random_base32(32)
            writer.writerow([email, f"User {index}", "admin" if admin else "staff", hashed, secret])
            (admins if admin else users).append((email, secret))
    return users, admins


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("forward-auth")
    config = tmp / "twostep.toml"
    config.write_text(RULES_TOML)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    env |= {
        "TWOSTEP_DATA_DIR": str(tmp / "data"),
        "TWOSTEP_BASE_URL": AUTH,
        "TWOSTEP_COOKIE_DOMAIN": "example.test",
        "TWOSTEP_CONFIG": str(config),
        "TWOSTEP_PURGE_INTERVAL_SECONDS": "0",
        "TWOSTEP_FORWARD_AUTH_CACHE_SECONDS": str(CACHE_SECONDS),  # only nginx-cache.conf keeps answers
        "XDG_DATA_HOME": str(tmp / "xdg-data"),
        "XDG_CONFIG_HOME": str(tmp / "xdg-config"),
        "HOME": str(tmp),
    }
    users_file = tmp / "users.csv"
    users, admins = _users_csv(users_file, 48)
    twostep = [sys.executable, "-m", "twostep.cli"]
    subprocess.run([*twostep, "migrate"], env=env, check=True, capture_output=True, timeout=60)
    subprocess.run([*twostep, "user", "import", str(users_file)], env=env, check=True, capture_output=True,
                   timeout=60)
    cleanup = ExitStack()
    upstream = cleanup.enter_context(echo_server())
    instances = [free_port(), free_port()]
    proxies = {name: free_port() for name in (*PROXIES, "nginx-cache")}
    processes: list[subprocess.Popen[bytes]] = []

    def start(command: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   **kwargs)  # type: ignore[call-overload]
        processes.append(process)
        return process

    try:
        for port in instances:
            server = start([*twostep, "serve", "--no-migrate", "--port", str(port)])
            wait_until(lambda p=port: httpx.get(f"http://127.0.0.1:{p}/healthz").status_code == 200,
                       "twostep", server)
        prefix = tmp / "nginx"
        prefix.mkdir()
        (prefix / "nginx.conf").write_text(nginx_conf(prefix, proxies["nginx"], instances, upstream))
        cache_prefix = tmp / "nginx-cache"
        cache_prefix.mkdir()
        reachable = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="twostep-nginx-cache-")))
        reachable.chmod(0o755)  # pytest's directories are private to the user; nginx's workers may be nobody
        (cache_prefix / "nginx.conf").write_text(nginx_conf(
            cache_prefix, proxies["nginx-cache"], instances, upstream, snippet="nginx-cache.conf",
            cache=reachable / "cache"))
        caddy_file = tmp / "Caddyfile"
        caddy_file.write_text(caddyfile(proxies["caddy"], instances, upstream))
        traefik_file = tmp / "traefik.yml"
        traefik_file.write_text(traefik_yml(instances, upstream))
        traefik_lb_file = tmp / "traefik-instances.yml"
        traefik_lb_authz = free_port()
        traefik_lb_file.write_text(traefik_instances_yml(instances, upstream, traefik_lb_authz))
        started = {
            "nginx": start([binary("nginx"), "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                            "-g", "daemon off;"]),
            "nginx-cache": start([binary("nginx"), "-p", str(cache_prefix), "-c", str(cache_prefix / "nginx.conf"),
                                  "-g", "daemon off;"]),
            "caddy": start([binary("caddy"), "run", "--config", str(caddy_file), "--adapter", "caddyfile"]),
            "traefik": start(traefik_command(traefik_file, proxies["traefik"])),
            "traefik-lb": start(traefik_command(traefik_lb_file, proxies["traefik-lb"], traefik_lb_authz)),
        }
        for name, process in started.items():
            with httpx.Client(proxy=f"http://127.0.0.1:{proxies[name]}", timeout=2) as probe:
                wait_until(lambda c=probe: c.get(f"{APP}/public/ready").status_code == 200, name, process)
        yield Stack(proxies, instances, iter(users), iter(admins), env)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        cleanup.close()


def browser(stack: Stack, proxy: str) -> httpx.Client:
    return httpx.Client(proxy=f"http://127.0.0.1:{stack.proxies[proxy]}", follow_redirects=False, timeout=10,
                        headers={"Accept": "text/html"})


def csrf(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


def sign_in(client: httpx.Client, user: tuple[str, str], start: str) -> httpx.Response:
    """From an anonymous request for ``start`` through the sign-in (password, then TOTP) and back."""
    first = client.get(start)
    assert first.status_code == 302, first.text
    page = client.get(first.headers["location"])
    assert page.status_code == 200
    rd = parse_qs(urlsplit(first.headers["location"]).query)["rd"][0]
    password = client.post(f"{AUTH}/login", data={"email": user[0], "password": PASSWORD,
                                                  "csrf_token": csrf(page.text), "rd": rd})
    assert password.status_code == 303 and password.headers["location"] == "/login/code", password.text[-500:]
    code_page = client.get(f"{AUTH}/login/code")
    done = client.post(f"{AUTH}/login/code", data={"code": pyotp.TOTP(user[1]).now(),
                                                   "csrf_token": csrf(code_page.text)})
    assert done.status_code == 303 and done.headers["location"] == "/login/continue", done.text[-500:]
    onward = client.get(f"{AUTH}/login/continue")
    assert onward.status_code == 200, onward.text[-500:]
    return onward


def sign_out(client: httpx.Client) -> None:
    account = client.get(f"{AUTH}/account")
    assert account.status_code == 200
    assert client.post(f"{AUTH}/logout", data={"csrf_token": csrf(account.text)}).status_code == 303


@pytest.mark.parametrize("proxy", PROXIES)
def test_anonymous_get_is_sent_to_sign_in_with_the_right_rd(stack: Stack, proxy: str) -> None:
    with browser(stack, proxy) as client:
        response = client.get(f"{APP}/wiki/page?x=1")
    assert response.status_code == 302
    rd = quote(f"{APP}/wiki/page?x=1", safe="")
    assert response.headers["location"] == f"{AUTH}/login?rd={rd}&rm=GET"


@pytest.mark.parametrize("proxy", PROXIES)
def test_anonymous_post_gets_303_and_xhr_gets_401(stack: Stack, proxy: str) -> None:
    with browser(stack, proxy) as client:
        post = client.post(f"{APP}/form", data={"a": "1"})
        xhr = client.get(f"{APP}/api/items", headers={"X-Requested-With": "XMLHttpRequest"})
        json_only = client.get(f"{APP}/api/items", headers={"Accept": "application/json"})
    assert post.status_code == 303 and post.headers["location"].endswith("&rm=POST")
    assert xhr.status_code == 401 and json_only.status_code == 401


@pytest.mark.parametrize("proxy", PROXIES)
def test_after_password_and_totp_the_upstream_sees_remote_user(stack: Stack, proxy: str) -> None:
    user = next(stack.users)
    with browser(stack, proxy) as client:
        onward = sign_in(client, user, f"{APP}/wiki")
        assert onward.headers["refresh"] == f"0;url={APP}/wiki"
        seen = client.get(onward.headers["refresh"][6:]).json()
    assert seen["remote-user"] == user[0] and seen["remote-email"] == user[0]
    assert seen["remote-groups"] == "staff" and seen["remote-name"] == f"User {user[0][4:-13]}"


@pytest.mark.parametrize("proxy", PROXIES)
def test_wrong_role_is_403_and_the_right_role_passes(stack: Stack, proxy: str) -> None:
    with browser(stack, proxy) as client:
        sign_in(client, next(stack.users), "http://admin.example.test/")
        assert client.get("http://admin.example.test/").status_code == 403
    with browser(stack, proxy) as client:
        sign_in(client, next(stack.admins), "http://admin.example.test/")
        assert client.get("http://admin.example.test/").json()["remote-groups"] == "admin"


@pytest.mark.parametrize("proxy", PROXIES)
def test_client_sent_remote_user_never_reaches_the_upstream(stack: Stack, proxy: str) -> None:
    forged = {"Remote-User": "admin", "Remote-Groups": "admin", "Remote-Email": "admin@example.test",
              "Remote-Name": "Admin"}
    user = next(stack.users)
    with browser(stack, proxy) as client:
        bypass = client.get(f"{APP}/public/x", headers=forged)
        assert bypass.status_code == 200
        assert all(bypass.json().get(name.lower(), "") == "" for name in forged), bypass.json()
        assert client.get(f"{APP}/wiki", headers=forged).status_code == 302  # signed out: never upstream
        sign_in(client, user, f"{APP}/wiki")
        seen = client.get(f"{APP}/wiki", headers=forged).json()
        assert seen["remote-user"] == user[0] and seen["remote-groups"] == "staff"
        bypass_signed_in = client.get(f"{APP}/public/x", headers=forged).json()
        assert all(bypass_signed_in.get(name.lower(), "") == "" for name in forged), bypass_signed_in


@pytest.mark.parametrize("proxy", PROXIES)
def test_spoofed_forwarded_headers_from_the_client_are_ignored(stack: Stack, proxy: str) -> None:
    spoofed = {"X-Forwarded-Uri": "/public/x", "X-Forwarded-Host": "app.example.test",
               "X-Forwarded-Prefix": "/public", "X-Forwarded-Method": "GET", "X-Forwarded-Proto": "http",
               "X-Original-URL": f"{APP}/public/x", "X-Original-Method": "GET"}
    with browser(stack, proxy) as client:
        response = client.get(f"{APP}/secret", headers=spoofed)
        dotted = client.get(f"{APP}/public/%2e%2e/secret")
    assert response.status_code == 302
    assert "rd=" + quote(f"{APP}/secret", safe="") in response.headers["location"]
    assert dotted.status_code in (302, 400, 404)  # never the upstream on a bypass prefix


@pytest.mark.parametrize("proxy", PROXIES)
def test_open_redirect_rd_is_refused(stack: Stack, proxy: str) -> None:
    user = next(stack.users)
    with browser(stack, proxy) as client:
        page = client.get(f"{AUTH}/login?rd=" + quote("https://evil.example/", safe="") + "&rm=GET")
        password = client.post(f"{AUTH}/login", data={"email": user[0], "password": PASSWORD,
                                                      "csrf_token": csrf(page.text), "rd": "https://evil.example/"})
        assert password.headers["location"] == "/login/code"
        code_page = client.get(f"{AUTH}/login/code")
        done = client.post(f"{AUTH}/login/code", data={"code": pyotp.TOTP(user[1]).now(),
                                                       "csrf_token": csrf(code_page.text)})
    assert done.status_code == 303 and done.headers["location"] == "/account"


@pytest.mark.parametrize("proxy", PROXIES)
def test_step_up_after_the_freshness_window(stack: Stack, proxy: str) -> None:
    with browser(stack, proxy) as client:
        sign_in(client, next(stack.users), "http://fresh.example.test/")
        assert client.get("http://fresh.example.test/").status_code == 200
        wait_until(lambda: client.get("http://fresh.example.test/").status_code == 302, "step-up", timeout=15)
        stale = client.get("http://fresh.example.test/")
        again = client.get(stale.headers["location"])  # signed in already: re-authenticate, then back
        assert again.status_code == 303 and again.headers["location"].startswith("/account/reauth?next=/login/continue")


def checks_answered(port: int) -> float:
    """Forward-auth checks this instance has answered (its /metrics, scraped from loopback)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("twostep_http_requests_total{") and "/api/authz/" in line)


@pytest.mark.parametrize("proxy", ["nginx", "caddy", "traefik-lb"])
def test_two_instances_alternate_without_a_loop_and_sign_out_on_one_ends_access_on_both(
    stack: Stack, proxy: str
) -> None:
    with browser(stack, proxy) as client:
        sign_in(client, next(stack.users), f"{APP}/wiki")  # the steps land on both instances in turn
        before = [checks_answered(port) for port in stack.instances]
        assert [client.get(f"{APP}/wiki").status_code for _ in range(4)] == [200] * 4
        allowed = [checks_answered(port) for port in stack.instances]
        sign_out(client)
        assert [client.get(f"{APP}/wiki").status_code for _ in range(4)] == [302] * 4
        refused = [checks_answered(port) for port in stack.instances]
    # Both instances answered checks, while signed in and after the sign-out (made on one of them).
    assert all(after > first for after, first in zip(allowed, before, strict=True)), (before, allowed)
    assert all(after > first for after, first in zip(refused, allowed, strict=True)), (allowed, refused)


def test_each_instance_ends_access_after_a_sign_out_on_the_other(stack: Stack) -> None:
    """Without a proxy's balancing in between: the check on instance B right after the sign-out on A."""
    user = next(stack.users)
    with browser(stack, "nginx") as client:
        sign_in(client, user, f"{APP}/wiki")
        cookie = next(c.value for c in client.cookies.jar if c.name == "twostep_session")
        sign_out(client)
    for port in stack.instances:
        response = httpx.get(f"http://127.0.0.1:{port}/api/authz/forward-auth", headers={
            "X-Forwarded-Method": "GET", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "app.example.test",
            "X-Forwarded-Uri": "/wiki", "Cookie": f"twostep_session={cookie}", "Accept": "text/html"})
        assert response.status_code == 302, port




def test_nginx_cache_keeps_allowed_answers_only_as_long_as_twostep_says_and_per_cookie(stack: Stack) -> None:
    """docs/forward-auth/nginx-cache.conf with TWOSTEP_FORWARD_AUTH_CACHE_SECONDS: an allowed answer is
    kept per session cookie; the browser that signs out is refused at once (its cookie is gone, so its
    next request is another key); a copy of that cookie elsewhere is refused within the configured
    seconds; refusals are never kept; another browser on the same URL is asked about itself."""
    user, other = next(stack.users), next(stack.users)
    with browser(stack, "nginx-cache") as client, browser(stack, "nginx-cache") as second:
        sign_in(client, user, f"{APP}/wiki")
        sign_in(second, other, f"{APP}/wiki")
        assert client.get(f"{APP}/wiki").json()["remote-user"] == user[0]  # now kept
        asked = sum(checks_answered(port) for port in stack.instances)
        assert all(client.get(f"{APP}/wiki").json()["remote-user"] == user[0] for _ in range(5))
        assert sum(checks_answered(port) for port in stack.instances) == asked  # answered by nginx alone
        assert second.get(f"{APP}/wiki").json()["remote-user"] == other[0]
        with browser(stack, "nginx-cache") as anonymous:
            assert anonymous.get(f"{APP}/wiki").status_code == 302
        forged = client.get(f"{APP}/wiki", headers={"Remote-User": "admin"}).json()
        assert forged["remote-user"] == user[0]  # a kept answer still overwrites client-sent identity
        copied = client.build_request("GET", f"{APP}/wiki").headers["cookie"]  # the very same cache key
        with browser(stack, "nginx-cache") as thief:
            assert thief.get(f"{APP}/wiki", headers={"Cookie": copied}).json()["remote-user"] == user[0]
            sign_out(client)
            signed_out = time.monotonic()
            assert client.get(f"{APP}/wiki").status_code == 302  # at once
            wait_until(lambda: thief.get(f"{APP}/wiki", headers={"Cookie": copied}).status_code == 302,
                       "the revocation", timeout=CACHE_SECONDS + 5)
            assert time.monotonic() - signed_out <= CACHE_SECONDS + 1
            assert thief.get(f"{APP}/wiki", headers={"Cookie": copied}).status_code == 302  # not kept
        assert second.get(f"{APP}/wiki").json()["remote-user"] == other[0]


def test_nginx_cache_never_keeps_an_answer_past_the_step_up_window(stack: Stack) -> None:
    """fresh.example.test asks for the second step again after 2 s; twostep lets nginx keep its answers
    for CACHE_SECONDS (6), but never past that window: the step-up comes at 2 s, not at 6."""
    with browser(stack, "nginx-cache") as client:
        sign_in(client, next(stack.users), "http://fresh.example.test/")
        signed_in = time.monotonic()
        assert client.get("http://fresh.example.test/").status_code == 200
        wait_until(lambda: client.get("http://fresh.example.test/").status_code == 302, "step-up", timeout=15)
        assert time.monotonic() - signed_in < CACHE_SECONDS - 2
