"""Prometheus metrics (``/metrics``) and the access log, from one small ASGI middleware.

Series (all prefixed ``twostep_``):
  http_requests_total{method,route,status}           requests by route template and status
  http_request_duration_seconds{method,route}        latency histogram
  verifications_total{method,outcome,via}            valid | invalid | replayed | throttled (an unknown
                                                     user counts as method="totp", outcome="invalid");
                                                     via="api" counted by the API, via="web" from the
                                                     sign-in page's audit events (its throttled refusals
                                                     write no event, so they are not counted there)
  api_challenges_total{method,outcome}               sent | cooldown | hourly_limit | no_method (also an
                                                     unknown user) | delivery_failed
  messages_sent_total{channel}                       email | sms handed to the server or gateway, except
                                                     password-reset codes (see below)
  message_delivery_failures_total{channel}           refused by every server or gateway (same exception)
  active_sessions                                    signed-in sessions alive now (read at scrape time)

Routes are labelled by their template (``/api/v1/users/{email}/methods``), never by the raw path, so
a token in a URL can reach neither a label nor a log line. With several worker processes
(``twostep serve --workers N``) the CLI points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before
the workers start, and a scrape of any worker adds up the files of all of them.

Who may scrape (``scrape_allowed``): with ``TWOSTEP_METRICS_TOKEN`` set, only a request carrying
``Authorization: Bearer <token>``; without it, only a *local* request — the direct peer of the
connection (never a forwarded header) is a loopback address (127.0.0.0/8, ::1) and the request
carries none of ``Forwarded``, ``X-Forwarded-For``, ``X-Real-IP``: a reverse proxy on the same
machine (a trusted proxy or not) relays other people's requests from a loopback address, and those
are not local.

No series may tell an existing account from an unknown address (checklist X-18): every counter moves
the same way for both on each path anybody can reach (``/login``, ``/password/forgot``,
``/password/reset``; tests/operations/test_metrics.py checks each). So the reset-code mail, which leaves only
for an existing account, is not counted; the verification API's unknown user counts as a wrong
authenticator code, and ``/challenge``'s unknown user as ``no_method``.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twostep.delivery.mail import MailMessage, MailSender
from twostep.delivery.sms import FailoverSmsSender, SmsAttempt, SmsMessage
from twostep.services.core import audit
from twostep.services.core.context import Context
from twostep.services.operations import stats

access_log = logging.getLogger("twostep.access")

REGISTRY = CollectorRegistry(auto_describe=True)
HTTP_REQUESTS = Counter(
    "twostep_http_requests",
    "HTTP requests by route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "twostep_http_request_duration_seconds",
    "Time from the request's arrival to the end of the response.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
VERIFICATIONS = Counter(
    "twostep_verifications",
    "Second-step code checks by method and outcome.",
    ["method", "outcome", "via"],
    registry=REGISTRY,
)
API_CHALLENGES = Counter(
    "twostep_api_challenges", "Codes requested through /api/v1/challenge.", ["method", "outcome"], registry=REGISTRY
)
MESSAGES_SENT = Counter(
    "twostep_messages_sent", "Mails and SMS handed to a server or gateway.", ["channel"], registry=REGISTRY
)
DELIVERY_FAILURES = Counter(
    "twostep_message_delivery_failures",
    "Mails and SMS that no server or gateway accepted.",
    ["channel"],
    registry=REGISTRY,
)


def count_verification(method: str, outcome: str, *, via: str) -> None:
    if outcome == "unknown_user":  # counted as what a wrong code for an existing account counts as
        method, outcome = "totp", "invalid"
    VERIFICATIONS.labels(method, outcome, via).inc()


def _count_sign_in_checks(event: str, outcome: str, detail: dict[str, Any]) -> None:
    """Second-step checks on the web pages, from their audit events (the API counts its own)."""
    if detail.get("via") == "api":
        return
    method = str(detail.get("method") or "")
    if event == "authn_login_success" and method:
        VERIFICATIONS.labels(method, "valid", "web").inc()
    elif event in ("authn_login_fail", "authn_token_reuse") and detail.get("step") == "second":
        VERIFICATIONS.labels(
            method or "unknown", "replayed" if event == "authn_token_reuse" else "invalid", "web"
        ).inc()


def count_challenge(method: str, outcome: str) -> None:
    API_CHALLENGES.labels(method, "no_method" if outcome == "unknown_user" else outcome).inc()


class CountingMail:
    """Counts what the wrapped sender delivers or fails to; everything else is passed through."""

    def __init__(self, inner: MailSender) -> None:
        self.inner = inner

    def send(self, message: MailMessage) -> None:
        if message.reveals_account:  # sent only when an account exists: never counted
            self.inner.send(message)
            return
        try:
            self.inner.send(message)
        except Exception:
            DELIVERY_FAILURES.labels("email").inc()
            raise
        MESSAGES_SENT.labels("email").inc()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CountingSms(FailoverSmsSender):
    """The same failover chain, counted."""

    def __init__(self, inner: FailoverSmsSender) -> None:
        super().__init__(inner.gateways, inner.logger)
        self.inner = inner

    def send(self, message: SmsMessage) -> list[SmsAttempt]:
        try:
            attempts = self.inner.send(message)
        except Exception:
            DELIVERY_FAILURES.labels("sms").inc()
            raise
        MESSAGES_SENT.labels("sms").inc()
        return attempts


class _ActiveSessions(Collector):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily("twostep_active_sessions", "Signed-in sessions that have not expired.")
        try:
            gauge.add_metric([], stats.active_sessions(self.ctx))
        except Exception:  # the database is down: /readyz says so; the scrape still answers
            return
        yield gauge


class _Forward(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()


def exposition(ctx: Context) -> bytes:
    registry = CollectorRegistry(auto_describe=True)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Forward(REGISTRY))
    registry.register(_ActiveSessions(ctx))
    return generate_latest(registry)


def new_request_id() -> str:
    """32 random hex digits (``uuid4().hex`` without building a UUID object)."""
    return os.urandom(16).hex()


def _access_line(method: str, template: str, status: int, elapsed: float, request_id: str, user_id: object) -> None:
    duration_ms = round(elapsed * 1000, 2)
    access_log.info(
        "%s %s %s %.2fms",
        method,
        template,
        status,
        duration_ms,
        extra={
            "request_id": request_id,
            "http_method": method,
            "route": template,
            "status": status,
            "duration_ms": duration_ms,
            "user_id": user_id,
        },
    )


class MetricsMiddleware:
    """Per request: a request id (``request.state.request_id`` and the ``X-Request-ID`` header), the
    time taken, counts by route template and status, and one access-log line. Plain ASGI, so the
    cost is a few microseconds rather than BaseHTTPMiddleware's task group and streams. The hot
    paths (``FastRoute``) get the same from their own wrapper, before FastAPI."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        request_id = state["request_id"] = new_request_id()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
            await send(message)

        method = scope.get("method", "")
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            template = getattr(scope.get("route"), "path", None) or "unmatched"
            HTTP_REQUESTS.labels(method, template, str(status)).inc()
            HTTP_LATENCY.labels(method, template).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                _access_line(method, template, status, elapsed, request_id, state.get("user_id"))


class FastRoute:
    """A hot-path endpoint (a plain ASGI app for one method and exact path: ``POST /api/v1/verify``,
    the forward-auth checks), answered by ``FastApp`` before FastAPI's middleware stack, routing and
    exception layers, none of which it uses. It gets what ``MetricsMiddleware`` gives every other
    route: a request id (``scope["state"]["request_id"]``, the ``X-Request-ID`` header), the counter
    and the latency histogram (their labelled series looked up once per status, not per request),
    and an access line, except for the statuses in ``quiet_statuses`` (forward-auth's 200s: the
    proxy logs those requests itself; they are still counted). The endpoint must answer every
    error itself (no ``ServerErrorMiddleware`` around it)."""

    def __init__(
        self, endpoint: ASGIApp, method: str, path: str, *, quiet_statuses: frozenset[int] = frozenset()
    ) -> None:
        self.endpoint = endpoint
        self.method = method
        self.path = path
        self.quiet_statuses = quiet_statuses
        self._latency = HTTP_LATENCY.labels(method, path)
        self._requests: dict[int, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        request_id = state["request_id"] = new_request_id()
        header = (b"x-request-id", request_id.encode())
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"].append(header)  # the endpoints build a fresh list per response
            await send(message)

        try:
            await self.endpoint(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            counter = self._requests.get(status)
            if counter is None:
                counter = self._requests[status] = HTTP_REQUESTS.labels(self.method, self.path, str(status))
            counter.inc()
            self._latency.observe(elapsed)
            if status not in self.quiet_statuses and access_log.isEnabledFor(logging.INFO):
                _access_line(self.method, self.path, status, elapsed, request_id, state.get("user_id"))


class Delegate(Response):
    """The answer of a FastAPI route declared for a ``FastRoute`` (for routing, 405s and the OpenAPI
    document): the route's plain ASGI endpoint answers the request itself."""

    def __init__(self, endpoint: ASGIApp) -> None:
        super().__init__()
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.endpoint(scope, receive, send)


class FastApp(FastAPI):
    """The application: FastAPI, with ``fast_routes`` ((method, exact path) → ``FastRoute``) answered
    first, before anything else runs."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fast_routes: dict[tuple[str, str], FastRoute] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = self.fast_routes.get((scope["method"], scope["path"]))
            if route is not None:
                await route(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def install(app: FastApp, ctx: Context, *, fast_routes: Sequence[FastRoute] = ()) -> None:
    """Counting senders, the middleware (outermost, so it times everything), ``GET /metrics`` and
    the hot-path endpoints (``FastRoute``), answered before all of it."""
    audit.subscribe(_count_sign_in_checks)
    if not isinstance(ctx.mail, CountingMail):
        ctx.mail = CountingMail(ctx.mail)
    if not isinstance(ctx.sms, CountingSms):
        ctx.sms = CountingSms(ctx.sms)
    app.add_middleware(MetricsMiddleware)
    for route in fast_routes:
        app.fast_routes[(route.method, route.path)] = route

    token = ctx.settings.metrics_token.get_secret_value() if ctx.settings.metrics_token else ""

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        peer = request.client.host if request.client else ""
        if not scrape_allowed(request.headers, peer, token):
            text = (
                "A bearer token is required (TWOSTEP_METRICS_TOKEN).\n"
                if token
                else "Metrics are served to local clients only; set TWOSTEP_METRICS_TOKEN to scrape from elsewhere.\n"
            )
            return Response(
                text,
                status_code=401 if token else 403,
                media_type="text/plain",
                headers={"WWW-Authenticate": 'Bearer realm="twostep-metrics"'} if token else {},
            )
        return Response(exposition(ctx), media_type=CONTENT_TYPE_LATEST)


_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def scrape_allowed(headers: Mapping[str, str], peer: str, token: str) -> bool:
    """With a token: ``Authorization: Bearer <token>``, compared in constant time. Without one: a
    local request (see the module docstring)."""
    if token:
        scheme, _, presented = headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())
    return is_loopback(peer) and not any(headers.get(name) for name in _FORWARDING_HEADERS)


def is_loopback(address: str) -> bool:
    """127.0.0.0/8 or ::1 (an IPv4-mapped loopback too); a host name or garbage is not."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback
