"""Cookies, CSRF tokens and security headers.

CSRF (checklist S-11/S-12): every form carries ``csrf_token`` = HMAC(key, binding), where the
binding is the session token when there is a session and otherwise a random pre-session cookie.
Rotating the session id therefore also rotates the token; a forged cross-site form has neither.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twostep.domain.sealing import derive_key
from twostep.settings import Settings

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'"
)


class CookieNames:
    """Cookie names and attributes. With ``TWOSTEP_COOKIE_DOMAIN`` (forward-auth across subdomains)
    the session cookie carries ``Domain=`` and so the ``__Secure-`` prefix (``__Host-`` forbids a
    domain); every other cookie stays host-only."""

    def __init__(self, settings: Settings) -> None:
        prefix = "__Host-" if settings.uses_https else ""
        self.session_domain = settings.cookie_domain or None
        session_prefix = "__Secure-" if settings.uses_https and self.session_domain else prefix
        self.session = f"{session_prefix}twostep_session"
        self.device = f"{prefix}twostep_device"
        self.presession = f"{prefix}twostep_pre"
        self.language = "twostep_lang"
        self.secure = settings.uses_https

    def domain_for(self, name: str) -> str | None:
        return self.session_domain if name == self.session else None


class Csrf:
    def __init__(self, master_key: bytes) -> None:
        self._key = derive_key(master_key, "twostep/csrf/v1")

    def token_for(self, binding: str) -> str:
        return hmac.new(self._key, binding.encode(), hashlib.sha256).hexdigest()

    def valid(self, binding: str | None, submitted: str | None) -> bool:
        if not binding or not submitted:
            return False
        # As bytes: compare_digest raises TypeError on a str with non-ASCII characters (a 500 before).
        return hmac.compare_digest(self.token_for(binding).encode(), submitted.encode("utf-8", "replace"))


def new_presession_value() -> str:
    return secrets.token_urlsafe(24)


def set_cookie(
    response: Response,
    names: CookieNames,
    name: str,
    value: str,
    *,
    max_age: int | None = None,
    http_only: bool = True,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        domain=names.domain_for(name),
        secure=names.secure,
        httponly=http_only,
        samesite="lax",
    )


def clear_cookie(response: Response, names: CookieNames, name: str) -> None:
    response.delete_cookie(
        name, path="/", domain=names.domain_for(name), secure=names.secure, httponly=True, samesite="lax"
    )


def security_headers(*, hsts: bool, static: bool = False, image_origin: str = "") -> list[tuple[bytes, bytes]]:
    """The headers every response carries (``SecurityHeaders`` adds them; the raw API endpoint sends them).
    ``image_origin``: the operator's logo host (``TWOSTEP_LOGO_URL``), the one other place images may come from."""
    csp = CSP.replace("img-src 'self' data:;", f"img-src 'self' data: {image_origin};") if image_origin else CSP
    headers = [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    ]
    if not static:
        headers.append((b"cache-control", b"no-store"))
    if hsts:
        headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return headers


class SecurityHeaders:
    """CSP without inline script, no framing, no referrer, no caching of anything but static files.

    A plain ASGI middleware: it only adds headers to the response start, without the task group
    and streams BaseHTTPMiddleware spends on every request (measured on the verification API).
    """

    def __init__(self, app: ASGIApp, *, hsts: bool, image_origin: str = "") -> None:
        self.app = app
        self.hsts = hsts
        static = security_headers(hsts=hsts, static=True, image_origin=image_origin)
        self._static = [(n.decode(), v.decode()) for n, v in static]
        self._dynamic = [(n.decode(), v.decode()) for n, v in security_headers(hsts=hsts, image_origin=image_origin)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._static if scope["path"].startswith("/static/") else self._dynamic

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class TrustedProxies:
    """The peers whose forwarded headers are believed: addresses or networks (``127.0.0.1/32,::1/128``).

    Membership is cached per peer address, so the check costs a dictionary look-up on the hot path.
    """

    def __init__(self, spec: str) -> None:
        try:
            self.networks = tuple(
                ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip()
            )
        except ValueError as error:
            raise ValueError(f"TWOSTEP_TRUSTED_PROXIES: {error}") from None
        self._known: dict[str, bool] = {}

    def __contains__(self, peer: object) -> bool:
        if not isinstance(peer, str):
            return False
        known = self._known.get(peer)
        if known is None:
            try:
                address = ipaddress.ip_address(peer.removeprefix("[").removesuffix("]"))
            except ValueError:
                known = False
            else:
                mapped = getattr(address, "ipv4_mapped", None)
                known = any((mapped or address) in network for network in self.networks)
            if len(self._known) < 10_000:
                self._known[peer] = known
        return known


def client_ip(request: Request, trusted_proxies: TrustedProxies) -> str:
    """X-Forwarded-For is believed only when the direct peer is a configured proxy (checklist S-18)."""
    peer = request.client.host if request.client else ""
    return peer_ip(peer, request.headers.get("x-forwarded-for", ""), trusted_proxies)


def peer_ip(peer: str, forwarded: str, trusted_proxies: TrustedProxies) -> str:
    """``client_ip`` from the raw peer address and X-Forwarded-For header."""
    if peer in trusted_proxies and forwarded:
        return forwarded.split(",")[-1].strip()[:64]
    return peer
