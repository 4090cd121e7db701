"""The OpenID Connect use cases the web layer calls: authorize (with the sign-in hand-off), token,
userinfo, revocation, introspection, logout, discovery and JWKS. Each runs in one transaction.

Authorization with no session, or with one too old for ``prompt=login`` / ``max_age``, is stored
here (``OidcPendingRequest``) and resumed at ``/oauth2/authorize/resume?request=ID`` after sign-in;
the stored request, not the browser, says what was asked.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from authlib.oidc.core.errors import LoginRequiredError
from sqlalchemy.orm import Session

from twostep.domain.amr import acr_for, amr_for
from twostep.domain.clock import as_utc
from twostep.domain.login_flow import Stage
from twostep.services.core import accounts, sessions
from twostep.services.core.context import Context, RequestInfo
from twostep.services.oidc import claims, clients, keys, verified_email
from twostep.services.oidc.provider import (
    ACCESS_TOKEN_LIFETIME,
    HttpRequest,
    HttpResponse,
    Provider,
    Request,
    SignedIn,
    find_token,
)
from twostep.storage.models import OidcPendingRequest, User

PENDING_LIFETIME = timedelta(minutes=30)
RESUME_PATH = "/oauth2/authorize/resume"


@dataclass(frozen=True)
class AuthorizeOutcome:
    """``redirect``: to the client (a code or an error); ``error_page``: nothing safe to redirect to
    (unknown client, unregistered redirect URI); ``login``: sign in first, then ``resume``."""

    kind: Literal["redirect", "error_page", "login"]
    response: HttpResponse | None = None
    error: str = ""
    description: str = ""
    resume: str = ""
    fresh: bool = False
    ui_locales: list[str] = field(default_factory=list)


def signed_in(ctx: Context, db: Session, token: str | None) -> SignedIn | None:
    row = sessions.load(ctx, db, token)
    if row is None or row.stage != Stage.SIGNED_IN.value:
        return None
    user = db.get(User, row.user_id)
    if user is None:
        return None
    times = [as_utc(moment) for moment in (row.password_at, row.second_step_at) if moment is not None]
    auth_time = max(times) if times else as_utc(row.created_at)
    amr = amr_for(
        password=row.password_at is not None,
        second_step_method=row.method if row.second_step_at is not None else None,
        remembered_device=row.via_remembered_device,
    )
    return SignedIn(
        user_id=user.id,
        session_id=row.id,
        auth_time=int(auth_time.timestamp()),
        password_at=as_utc(row.password_at) if row.password_at else None,
        second_step_at=as_utc(row.second_step_at) if row.second_step_at else None,
        has_methods=bool(accounts.confirmed_methods(db, user.id)),
        amr=amr,
        acr=acr_for(amr),
        email_verified=verified_email.proven(db, user),
    )


def _fresh_since(user: SignedIn, moment: datetime) -> bool:
    """Password AND (when the account has one) the second step were done at or after ``moment``."""
    if user.password_at is None or user.password_at < moment:
        return False
    return not user.has_methods or (user.second_step_at is not None and user.second_step_at >= moment)


def _redirect_error(provider: Provider, request: Request, error: OAuth2Error, redirect_uri: str) -> AuthorizeOutcome:
    error.redirect_uri = redirect_uri
    error.state = request.payload.state
    return AuthorizeOutcome("redirect", response=provider.handle_error_response(request, error))


def authorize(
    ctx: Context,
    http: HttpRequest,
    session_token: str | None,
    info: RequestInfo,
    *,
    resume_id: str | None = None,
) -> AuthorizeOutcome:
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        pending: OidcPendingRequest | None = None
        if resume_id is not None:
            pending = db.get(OidcPendingRequest, resume_id[:64]) if resume_id else None
            if pending is None or as_utc(pending.expires_at) <= now:
                return AuthorizeOutcome(
                    "error_page", error="request_expired",
                    description="This sign-in request has expired. Go back to the application and start again.",
                )
            http = HttpRequest("GET", http.url, http.headers, query=parse_qsl(pending.query, keep_blank_values=True))
        provider = Provider(ctx, db, info=info, session_token=session_token)
        request = Request(http)
        user = signed_in(ctx, db, session_token)
        try:
            grant = provider.get_consent_grant(request, end_user=user)
        except OAuth2Error as error:
            if error.redirect_uri:
                return AuthorizeOutcome("redirect", response=provider.handle_error_response(request, error))
            return AuthorizeOutcome("error_page", error=error.error, description=error.get_error_description())
        data = request.payload.data
        prompts = (data.get("prompt") or "").split()
        ui_locales = (data.get("ui_locales") or "").split()
        max_age: int | None = None
        if data.get("max_age"):
            try:
                max_age = int(data["max_age"])
                if max_age < 0:
                    raise ValueError
            except ValueError:
                return _redirect_error(provider, request, InvalidRequestError("Invalid 'max_age'."), grant.redirect_uri)
        since = as_utc(pending.created_at) if pending is not None else now
        need_login = user is None
        fresh = False
        if user is not None and "login" in prompts and not _fresh_since(user, since):
            need_login = fresh = True
        too_old = user is not None and max_age is not None and user.auth_time + max_age < int(now.timestamp())
        if user is not None and too_old and (pending is None or not _fresh_since(user, since)):
            # OpenID Connect Core §3.1.2.1: re-authenticate; twostep re-runs both steps.
            need_login = fresh = True
        if need_login:
            if "none" in prompts:
                return _redirect_error(provider, request, LoginRequiredError(), grant.redirect_uri)
            if pending is None:
                pending = OidcPendingRequest(
                    id=secrets.token_urlsafe(24),
                    query=urlencode(http.query + http.form),
                    created_at=now,
                    expires_at=now + PENDING_LIFETIME,
                )
                db.add(pending)
            fresh = fresh or "login" in prompts or max_age is not None
            return AuthorizeOutcome(
                "login", resume=f"{RESUME_PATH}?{urlencode({'request': pending.id})}", fresh=fresh,
                ui_locales=ui_locales,
            )
        if pending is not None:
            db.delete(pending)
        response = provider.create_authorization_response(request, grant_user=user, grant=grant)
        return AuthorizeOutcome("redirect", response=response)


def token(ctx: Context, http: HttpRequest, info: RequestInfo) -> HttpResponse:
    with ctx.db.transaction() as db:
        response: HttpResponse = Provider(ctx, db, info=info).create_token_response(Request(http))
        return response


def endpoint(ctx: Context, name: str, http: HttpRequest, info: RequestInfo) -> HttpResponse:
    """``revocation`` or ``introspection``."""
    with ctx.db.transaction() as db:
        response: HttpResponse = Provider(ctx, db, info=info).create_endpoint_response(name, Request(http))
        return response


@dataclass(frozen=True)
class LogoutOutcome:
    redirect: str | None
    ended_session: bool
    error: str = ""


def logout(ctx: Context, http: HttpRequest, session_token: str | None, info: RequestInfo) -> LogoutOutcome:
    """RP-Initiated Logout 1.0: end the twostep session; redirect only to a post-logout URI registered
    for the client exactly (with ``state``), else show our own page."""
    with ctx.db.transaction() as db:
        provider = Provider(ctx, db, info=info, session_token=session_token)
        request = Request(http)
        try:
            validated = provider.validate_endpoint_request("end_session", request)
        except OAuth2Error as error:
            return LogoutOutcome(None, False, error=error.get_error_description() or error.error)
        response = provider.create_endpoint_response("end_session", validated)
        location = response.header("Location") if isinstance(response, HttpResponse) else ""
        return LogoutOutcome(location or None, provider.ended_session)


def userinfo(ctx: Context, authorization: str) -> HttpResponse:
    """OpenID Connect Core §5.3 with a Bearer access token (RFC 6750 errors)."""
    scheme, _, value = authorization.partition(" ")
    challenge = 'Bearer error="invalid_token"'
    if scheme.lower() != "bearer" or not value.strip():
        return HttpResponse(401, {"error": "invalid_token"}, [("WWW-Authenticate", "Bearer")])
    with ctx.db.transaction() as db:
        record = find_token(ctx, db, value.strip(), "access_token")
        if record is None or record.as_refresh or record.is_revoked() or record.is_expired():
            return HttpResponse(401, {"error": "invalid_token"}, [("WWW-Authenticate", challenge)])
        if "openid" not in record.row.scope.split():
            return HttpResponse(
                403, {"error": "insufficient_scope"}, [("WWW-Authenticate", 'Bearer error="insufficient_scope"')]
            )
        user = db.get(User, record.row.user_id)
        if user is None:
            return HttpResponse(401, {"error": "invalid_token"}, [("WWW-Authenticate", challenge)])
        body = claims.user_claims(db, user, record.row.scope, email_verified=record.row.email_verified)
        return HttpResponse(200, body, [])


def discovery(ctx: Context) -> dict[str, Any]:
    base = ctx.settings.base_url.rstrip("/")
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth2/authorize",
        "token_endpoint": f"{base}/oauth2/token",
        "userinfo_endpoint": f"{base}/oauth2/userinfo",
        "jwks_uri": f"{base}/oauth2/jwks",
        "end_session_endpoint": f"{base}/oauth2/logout",
        "revocation_endpoint": f"{base}/oauth2/revoke",
        "introspection_endpoint": f"{base}/oauth2/introspect",
        "scopes_supported": list(clients.SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(keys.ALGORITHMS),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash",
            "name", "preferred_username", "locale", "email", "email_verified", "groups",
        ],
        "prompt_values_supported": ["none", "login"],
        "ui_locales_supported": ["en", "pl", "nl", "sv"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": False,
    }


def jwks(ctx: Context) -> dict[str, Any]:
    with ctx.db.transaction() as db:
        return keys.jwks(ctx, db)


__all__ = ["ACCESS_TOKEN_LIFETIME", "AuthorizeOutcome", "authorize", "discovery", "jwks", "token", "userinfo"]
