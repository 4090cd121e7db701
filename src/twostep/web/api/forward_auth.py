"""Forward-auth endpoints (Authelia's contract), as plain ASGI fast routes like ``POST /api/v1/verify``.

``/api/authz/forward-auth`` (Traefik ForwardAuth, Caddy ``forward_auth``) reads ``X-Forwarded-Method``,
``-Proto``, ``-Host``, ``-Uri``; ``/api/authz/auth-request`` (nginx ``auth_request``) reads
``X-Original-Method`` and ``X-Original-URL``. Answers:

    200  allowed: Remote-User, Remote-Groups, Remote-Name, Remote-Email (always present, empty when
         unknown, so a proxy that copies them overwrites whatever the client sent), Remote-Auth-Methods,
         Remote-Auth-Time (Unix seconds of the last sign-in step); with
         TWOSTEP_FORWARD_AUTH_CACHE_SECONDS, X-Accel-Expires: how long nginx may keep it
    403  signed in, but no rule lets this user (or anyone) here
    302 / 303 to /login?rd=<target>&rm=<method>  not signed in, or a step-up is due (302 for GET/HEAD)
    401  the same, for XHR (X-Requested-With) or a client that does not accept HTML; on the nginx
         endpoint always 401 with Location (and Twostep-Redirect-Status: the 302/303/401 the
         documented snippet turns it into)
    400  metadata missing, repeated or malformed; 503 database unavailable — never a 200

Threats (issue 17): forwarded headers count only from ``TWOSTEP_TRUSTED_PROXIES`` (a client talking
to twostep directly gets 400, never a decision on the address it claims); headers twostep does not
define (``X-Forwarded-Prefix``) are never read; any parse error fails closed.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.requests import cookie_parser
from starlette.types import Message, Receive, Scope, Send

from twostep.domain import authz
from twostep.services import forward_auth
from twostep.services.operations import health
from twostep.storage.database import is_unavailable
from twostep.web.core import input_guard
from twostep.web.core.metrics import FastRoute
from twostep.web.core.pages import WebState
from twostep.web.core.security import security_headers

log = logging.getLogger("twostep")

FORWARD_AUTH_PATH = "/api/authz/forward-auth"
AUTH_REQUEST_PATH = "/api/authz/auth-request"
#: Methods a proxy may use for the subrequest (nginx repeats the original method).
SUBREQUEST_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_FORWARDED = (b"x-forwarded-method", b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-uri")
_ORIGINAL = (b"x-original-method", b"x-original-url")


class BadMetadata(ValueError):
    pass


def _one(headers: dict[bytes, list[bytes]], name: bytes) -> str:
    values = headers.get(name, [])
    if not values:
        raise BadMetadata(f"{name.decode()} is missing")
    if len(values) > 1:
        raise BadMetadata(f"{name.decode()} is repeated")
    try:
        value = values[0].decode("ascii").strip()
    except UnicodeDecodeError:
        raise BadMetadata(f"{name.decode()} is not ASCII") from None
    if not value:
        raise BadMetadata(f"{name.decode()} is empty")
    return value


def _method(value: str) -> str:
    method = value.upper()
    if method not in authz.METHODS:
        raise BadMetadata("the method is not an HTTP method")
    return method


def _target(method: str, proto: str, netloc: str, uri: str) -> tuple[authz.Target, str]:
    if proto.lower() not in ("http", "https"):
        raise BadMetadata("the protocol is not http or https")
    found = authz.split_host(netloc)
    if found is None:
        raise BadMetadata("the host is malformed")
    if len(uri) > authz.MAX_URL or not uri.startswith("/") or " " in uri:
        raise BadMetadata("the URI is malformed")
    path = authz.normalize_path(uri)
    if path is None:
        raise BadMetadata("the URI is malformed")
    return authz.Target(method, found[0], path), f"{proto.lower()}://{netloc.strip().lower()}{uri}"


def read_target(values: tuple[str, ...], *, nginx: bool) -> tuple[authz.Target, str]:
    """The protected request from the proxy's metadata header values (``_ORIGINAL`` or ``_FORWARDED``,
    in that order, each read by ``_one``), and its URL (for ``rd``)."""
    if nginx:
        method_value, url = values
        method = _method(method_value)
        try:
            parts = urlsplit(url)
        except ValueError:
            raise BadMetadata("X-Original-URL is malformed") from None
        uri = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if parts.fragment or "@" in parts.netloc:
            raise BadMetadata("X-Original-URL is malformed")
        return _target(method, parts.scheme, parts.netloc, uri)
    method_value, proto, host, uri = values
    return _target(_method(method_value), proto, host, uri)


def wants_html(headers: dict[bytes, list[bytes]]) -> bool:
    """A browser navigation: not XHR, and HTML (or anything) acceptable. A missing Accept counts as
    a browser; ``application/json`` alone does not."""
    if any(v.lower() == b"xmlhttprequest" for v in headers.get(b"x-requested-with", [])):
        return False
    accept = b",".join(headers.get(b"accept", [])).lower()
    return not accept or b"text/html" in accept or b"*/*" in accept or b"application/xhtml+xml" in accept


@dataclass(frozen=True)
class _Parsed:
    """One proxy's metadata, read: the target, its URL (for ``rd``), the rules that match it and the
    answer for an anonymous request (which never depends on the clock)."""

    target: authz.Target
    url: str
    rules: tuple[authz.Rule, ...]
    anonymous: authz.Decision


class ForwardAuthEndpoint:
    """One of the two endpoints (``nginx``: the auth-request flavour).

    The hot path, kept lean (bench/forward_auth.py): only the headers it reads are collected; the
    parsing of the metadata and the matching of the rules, pure functions of the header values, are
    kept per distinct value (``functools.lru_cache``, bounded); the session is read from the database
    on every check (``forward_auth.find_identity``), its rows parsed again only when they change; an
    allowed check writes no access line (it is counted; the proxy logs the request)."""

    def __init__(self, web: WebState, rules: tuple[authz.Rule, ...], *, nginx: bool, hsts: bool) -> None:
        self.web = web
        self.ctx = web.ctx
        self.rules = rules
        self.nginx = nginx
        self.cookie = web.cookies.session
        self.login_url = f"{web.ctx.settings.base_url}/login"
        self.headers = security_headers(hsts=hsts)
        self.metadata = _ORIGINAL if nginx else _FORWARDED
        self.read = {*self.metadata, b"cookie", b"accept", b"x-requested-with"}
        self.memo = forward_auth.RowMemo()
        self.cache_seconds = web.ctx.settings.forward_auth_cache_seconds
        self.parse = functools.lru_cache(maxsize=1024)(self._parse)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.setdefault("state", {})
        if scope.get("method") == "HEAD":  # the same status and headers, no body
            send = _without_body(send)
        try:
            await self._answer(scope, state, send)
        except Exception as error:
            if is_unavailable(error):
                self.ctx.db.outage.failed(error)
                retry = [(b"retry-after", str(health.RETRY_AFTER_SECONDS).encode())]
                await self._send(send, 503, b"unavailable\n", retry)
                return
            log.exception("unhandled error", extra={"request_id": state.get("request_id", "")})
            await self._send(send, 500, b"error\n", [])

    async def _answer(self, scope: Scope, state: dict[str, Any], send: Send) -> None:
        headers: dict[bytes, list[bytes]] = {}
        read = self.read
        for name, value in scope["headers"]:
            if name in read:
                headers.setdefault(name, []).append(value)
        client = scope.get("client")
        if client is None or client[0] not in self.web.trusted_proxies:
            # Forwarded metadata from anyone else is ignored, whatever it says.
            for name in self.metadata:
                headers.pop(name, None)
        try:
            input_guard.check_head(scope)
            parsed = self.parse(tuple(_one(headers, name) for name in self.metadata))
        except (BadMetadata, input_guard.Refusal) as error:
            detail = error.detail if isinstance(error, input_guard.Refusal) else str(error)
            await self._send(send, 400, f"bad forward-auth metadata: {detail}\n".encode(), [])
            return
        decision = parsed.anonymous
        identity = None
        now = self.ctx.clock.now()
        if decision.verdict != "allow":
            identity = forward_auth.find_identity(self.ctx, self._session_token(headers), self.memo)
            if identity is not None:
                state["user_id"] = identity.user_id
                decision = authz.decide_among(parsed.rules, identity.subject, now)
        if decision.verdict == "allow":
            values = identity.remote_values if identity is not None else _ANONYMOUS
            allowed = [(b"content-type", _TEXT), (b"content-length", b"0")]
            keep = forward_auth.cacheable_seconds(self.cache_seconds, identity, decision, now)
            if keep:  # before Cache-Control: nginx lets X-Accel-Expires overrule a no-store it has not read yet
                allowed.append((b"x-accel-expires", str(keep).encode()))
            allowed.append((b"cache-control", b"no-store"))  # for every other cache: browsers, CDNs
            allowed += [(name, value.encode()) for name, value in zip(_REMOTE, values, strict=True)]
            await send({"type": "http.response.start", "status": 200, "headers": allowed})
            await send(_EMPTY_BODY)
        elif decision.verdict == "forbidden":
            await self._send(send, 403, b"forbidden\n", [])
        else:
            await self._unauthenticated(send, headers, parsed.target, parsed.url)

    def _parse(self, values: tuple[str, ...]) -> _Parsed:
        target, url = read_target(values, nginx=self.nginx)
        rules = authz.matching(self.rules, target)
        return _Parsed(target, url, rules, authz.decide_among(rules, None, self.ctx.clock.now()))

    def _session_token(self, headers: dict[bytes, list[bytes]]) -> str | None:
        values = headers.get(b"cookie", [])
        if not values:
            return None
        cookies = cookie_parser(b"; ".join(values).decode("latin-1"))
        return cookies.get(self.cookie)

    async def _unauthenticated(
        self, send: Send, headers: dict[bytes, list[bytes]], target: authz.Target, url: str
    ) -> None:
        location = f"{self.login_url}?rd={quote(url, safe='')}&rm={target.method}".encode()
        status = (302 if target.method in ("GET", "HEAD") else 303) if wants_html(headers) else 401
        if self.nginx:
            extra = [(b"location", location), (b"twostep-redirect-status", str(status).encode())]
            await self._send(send, 401, b"unauthorized\n", extra)
        elif status == 401:
            await self._send(send, 401, b"unauthorized\n", [])
        else:
            await self._send(send, status, b"", [(b"location", location)])

    async def _send(self, send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
        """Every answer but an allowed check's: with the site's security headers, as the proxy may pass
        it on to the browser (Traefik and Caddy do for anything but a 2xx)."""
        headers = [
            (b"content-type", _TEXT),
            (b"content-length", str(len(body)).encode()),
            *self.headers,
            *extra,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


_TEXT = b"text/plain; charset=utf-8"
_REMOTE = (b"remote-user", b"remote-groups", b"remote-name", b"remote-email", b"remote-auth-methods",
           b"remote-auth-time")
_ANONYMOUS = ("", "", "", "", "", "")  # bypass: every identity header present and empty
_EMPTY_BODY = {"type": "http.response.body", "body": b""}


def _without_body(send: Send) -> Send:
    async def sender(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return sender


def fast_routes(web: WebState, *, hsts: bool) -> list[FastRoute]:
    """Both endpoints for every subrequest method; an allowed check (200) writes no access line."""
    rules = authz.parse_rules(list(web.ctx.settings.access_rules))
    forward = ForwardAuthEndpoint(web, rules, nginx=False, hsts=hsts)
    nginx = ForwardAuthEndpoint(web, rules, nginx=True, hsts=hsts)
    quiet = frozenset({200})
    routes: list[FastRoute] = []
    for method in SUBREQUEST_METHODS:
        routes.append(FastRoute(forward, method, FORWARD_AUTH_PATH, quiet_statuses=quiet))
        routes.append(FastRoute(nginx, method, AUTH_REQUEST_PATH, quiet_statuses=quiet))
    return routes
