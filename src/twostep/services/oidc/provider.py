"""The Authlib authorization server behind twostep's OpenID Connect endpoints (a framework-free adapter).

Authlib does the protocol (RFC 6749 code and refresh grants, RFC 7636 PKCE, RFC 7009 revocation,
RFC 7662 introspection, OpenID Connect Core ID tokens, RP-Initiated Logout); this module supplies the
storage and twostep's rules. One ``Provider`` serves one HTTP request inside one database transaction,
so a code's consumption and the tokens it yields commit together.

Rules kept here (each named after its threat):
- Codes are single use, 10 minutes, consumed by a compare-and-set on ``used_at`` (RFC 6749 §4.1.2);
  a second use answers ``invalid_grant`` and revokes every token issued from the code.
- Refresh tokens rotate at each use and are bound to their client; a used one presented again
  revokes the whole family (OAuth 2.0 Security BCP, RFC 9700 §4.14.2).
- PKCE: only ``S256``; required for public clients (RFC 9700 §2.1.1).
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from twostep.domain.clock import as_utc
from twostep.services.core import audit, sessions
from twostep.services.core.context import Context, RequestInfo
from twostep.services.oidc import claims, clients, keys, token_store
from twostep.storage.models import OidcAuthorizationCode, OidcToken, User

# Authlib logs issued tokens and client ids at DEBUG ("Issue token %r to %r"): never let a debug log
# level elsewhere put tokens in twostep's logs.
logging.getLogger("authlib").setLevel(logging.INFO)

CODE_LIFETIME = timedelta(minutes=10)
ACCESS_TOKEN_LIFETIME = timedelta(hours=1)
REFRESH_TOKEN_LIFETIME = timedelta(days=30)
TOKEN_PURPOSE = "oidc-token"  # noqa: S105 - a digest purpose, not a token
CODE_PURPOSE = "oidc-code"
CLIENT_AUTH = ["client_secret_basic", "client_secret_post", "none"]


@dataclass(frozen=True)
class HttpRequest:
    """What the web adapter hands in: nothing framework-specific."""

    method: str
    url: str
    headers: dict[str, str]
    query: list[tuple[str, str]] = field(default_factory=list)
    form: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: Any
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str:
        return next((value for key, value in self.headers if key.lower() == name.lower()), "")


@dataclass(frozen=True)
class SignedIn:
    """The twostep session an authorization is granted from, and what it proved."""

    user_id: int
    session_id: str
    auth_time: int
    password_at: datetime | None
    second_step_at: datetime | None
    has_methods: bool
    amr: list[str]
    acr: str
    email_verified: bool


class _Payload(OAuth2Payload):
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class Request(OAuth2Request):
    def __init__(self, http: HttpRequest) -> None:
        # Authlib refuses plain-http URLs; whether the site uses TLS is the operator's TWOSTEP_BASE_URL.
        super().__init__(http.method, "https://" + http.url.split("://", 1)[-1], headers=http.headers)
        self._args = {key: value for key, value in reversed(http.query)}
        self._form = {key: value for key, value in reversed(http.form)}
        self.payload = _Payload([*http.query, *http.form])

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class CodeRecord:
    """Authlib's ``AuthorizationCodeMixin`` over a consumed code row."""

    def __init__(self, row: token_store.CodeRow) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return self.row.auth_time

    def get_acr(self) -> str:
        return self.row.acr

    def get_amr(self) -> list[str]:
        return self.row.amr.split()


class TokenRecord:
    """Authlib's ``TokenMixin`` over a token row, as found by its access or its refresh token."""

    def __init__(self, ctx: Context, row: OidcToken | token_store.RefreshRow, *, as_refresh: bool) -> None:
        self.ctx = ctx
        self.row = row
        self.as_refresh = as_refresh

    def check_client(self, client: clients.RegisteredClient) -> bool:
        return bool(client.client_id == self.row.client_id)

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int(ACCESS_TOKEN_LIFETIME.total_seconds())

    def expires_at(self) -> datetime:
        moment = self.row.refresh_expires_at if self.as_refresh else self.row.access_expires_at
        return as_utc(moment or self.row.access_expires_at)

    def is_expired(self) -> bool:
        return self.ctx.clock.now() >= self.expires_at()

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None or (self.as_refresh and self.row.refresh_used_at is not None)


def _digest(ctx: Context, value: str, purpose: str) -> str:
    return ctx.digester.digest(value, purpose)


def revoke_family(db: Session, family: str, now: datetime) -> int:
    result = db.execute(
        update(OidcToken).where(OidcToken.family == family, OidcToken.revoked_at.is_(None)).values(revoked_at=now),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(result, "rowcount", 0) or 0)


def find_token(ctx: Context, db: Session, value: str, hint: str | None = None) -> TokenRecord | None:
    if not value or len(value) > 200:
        return None
    kinds = ("refresh_token", "access_token") if hint == "refresh_token" else ("access_token", "refresh_token")
    for kind in kinds:
        for candidate in ctx.digester.candidates(value, TOKEN_PURPOSE):
            column = OidcToken.refresh_digest if kind == "refresh_token" else OidcToken.access_digest
            row = db.scalars(select(OidcToken).where(column == candidate)).first()
            if row is not None:
                return TokenRecord(ctx, row, as_refresh=kind == "refresh_token")
    return None


class S256Challenge(CodeChallenge):
    """PKCE with ``S256`` only (``plain`` would hand the verifier to whoever sees the request); a
    public client must send a challenge."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        if challenge and method != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is supported ('plain' is refused).")
        client = grant.request.client
        if not challenge and client is not None and client.row.public:
            raise InvalidRequestError("A public client must use PKCE (code_challenge with S256).")
        super().validate_code_challenge(grant, redirect_uri)


class IdToken(OpenIDCode):
    """ID tokens signed with the current database key; claims from services.oidc.claims."""

    def __init__(self, provider: Provider) -> None:
        super().__init__(require_nonce=False)
        self.provider = provider
        self.client: clients.RegisteredClient | None = None
        self.code: CodeRecord | None = None

    def process_token(self, grant: Any, response: Any) -> Any:
        self.client = grant.request.client
        self.code = grant.request.authorization_code
        return super().process_token(grant, response)

    def _key(self) -> keys.SigningKey:
        return self.provider.signing_key()

    def resolve_client_private_key(self, client: Any) -> Any:
        return self._key().key

    def get_client_algorithm(self, client: Any) -> str:
        return self._key().alg

    def get_encode_header(self, client: Any) -> dict[str, str]:
        key = self._key()
        return {"alg": key.alg, "kid": key.kid, "typ": "JWT"}

    def get_compatible_claims(self, request: Any) -> dict[str, Any]:
        now = int(self.provider.ctx.clock.now().timestamp())
        return {
            "iss": self.provider.issuer,
            "aud": request.client.get_client_id(),
            "iat": now,
            "exp": now + int(keys.ID_TOKEN_LIFETIME.total_seconds()),
        }

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return False

    def generate_user_info(self, user: token_store.Account, scope: str) -> dict[str, Any]:
        if self.client is not None and self.client.row.claims_in_userinfo_only:
            return {"sub": claims.subject(user)}
        verified = self.code.row.email_verified if self.code is not None else False
        return claims.user_claims(self.provider.db, user, scope, email_verified=verified, roles=user.roles)


class CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH

    @property
    def provider(self) -> Provider:
        server: Provider = self.server
        return server

    def save_authorization_code(self, code: str, request: Any) -> None:
        ctx, signed = self.provider.ctx, request.user
        now = ctx.clock.now()
        data = request.payload.data
        self.provider.db.add(
            OidcAuthorizationCode(
                code_digest=_digest(ctx, code, CODE_PURPOSE),
                client_id=request.client.get_client_id(),
                user_id=signed.user_id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                auth_time=signed.auth_time,
                amr=" ".join(signed.amr),
                acr=signed.acr,
                email_verified=signed.email_verified,
                created_at=now,
                expires_at=now + CODE_LIFETIME,
            )
        )

    def query_authorization_code(self, code: str, client: Any) -> CodeRecord | None:
        """The compare-and-set: exactly one request can consume a code, on every instance."""
        ctx, db = self.provider.ctx, self.provider.db
        now = ctx.clock.now()
        if not code or len(code) > 200:
            return None
        digest = _digest(ctx, code, CODE_PURPOSE)
        consumed = token_store.consume_code(db, digest, client.get_client_id(), now)
        if consumed is not None:
            return CodeRecord(consumed)
        row = db.get(OidcAuthorizationCode, digest)  # unknown, expired, another client's, or reused?
        if row is not None and row.used_at is not None and row.client_id == client.get_client_id():
            revoked = revoke_family(db, digest, now)
            audit.record(ctx, db, "oidc_code_reuse", request=self.provider.info, outcome="failure",
                         user=db.get(User, row.user_id), client_id=row.client_id, revoked_tokens=revoked)
        return None

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        """Nothing to do: the code was consumed when it was read."""

    def authenticate_user(self, authorization_code: CodeRecord) -> token_store.Account | None:
        return token_store.account(self.provider.db, authorization_code.row.user_id)


class RefreshGrant(RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH
    INCLUDE_NEW_REFRESH_TOKEN = True

    @property
    def provider(self) -> Provider:
        server: Provider = self.server
        return server

    def authenticate_refresh_token(self, refresh_token: str) -> TokenRecord | None:
        """The compare-and-set on ``refresh_used_at`` (one statement); when it finds nothing, the
        slow path tells a reuse (the family is revoked) from an unknown or expired token."""
        ctx, db = self.provider.ctx, self.provider.db
        now = ctx.clock.now()
        client_id = self.request.client.get_client_id()
        if not refresh_token or len(refresh_token) > 200:
            return None
        for candidate in ctx.digester.candidates(refresh_token, TOKEN_PURPOSE):
            used = token_store.use_refresh_token(db, candidate, client_id, now)
            if used is not None:
                return TokenRecord(ctx, used, as_refresh=True)
        record = find_token(ctx, db, refresh_token, "refresh_token")
        if record is None or not record.as_refresh or record.row.client_id != client_id:
            return None
        row = record.row
        if row.refresh_used_at is not None:
            revoked = revoke_family(db, row.family, now)
            audit.record(ctx, db, "oidc_refresh_reuse", request=self.provider.info, outcome="failure",
                         user=db.get(User, row.user_id), client_id=row.client_id, revoked_tokens=revoked)
        return None

    def authenticate_user(self, refresh_token: TokenRecord) -> RefreshUser:
        """No read: a deleted account's tokens went with it (``ON DELETE CASCADE``), so a refresh
        token just consumed belongs to an account that exists. Refreshing issues no ID token."""
        return RefreshUser(refresh_token.row.user_id)

    def revoke_old_credential(self, refresh_token: TokenRecord) -> None:
        """Nothing to do: the refresh token was marked used when it was read."""


@dataclass(frozen=True)
class RefreshUser:
    """The account a refresh token belongs to, as Authlib wants one (it only checks there is one)."""

    id: int


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        server: Provider = self.server
        return find_token(server.ctx, server.db, token_string, token_type_hint)

    def revoke_token(self, token: TokenRecord, request: Any) -> None:
        """RFC 7009 §2.1: revoking a refresh token revokes its family (and the access tokens in it)."""
        server: Provider = self.server
        now = server.ctx.clock.now()
        if token.as_refresh:
            revoke_family(server.db, token.row.family, now)
        elif isinstance(token.row, OidcToken):  # found by find_token: always an ORM row here
            token.row.revoked_at = token.row.revoked_at or now


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        server: Provider = self.server
        return find_token(server.ctx, server.db, token_string, token_type_hint)

    def check_permission(self, token: TokenRecord, client: Any, request: Any) -> bool:
        return bool(token.row.client_id == client.get_client_id())

    def introspect_token(self, token: TokenRecord) -> dict[str, Any]:
        server: Provider = self.server
        row = token.row
        user = server.db.get(User, row.user_id)
        return {
            "active": True,
            "client_id": row.client_id,
            "token_type": "refresh_token" if token.as_refresh else "Bearer",
            "scope": row.scope,
            "sub": str(row.user_id),
            "username": user.email if user is not None else "",
            "aud": row.client_id,
            "iss": server.issuer,
            "exp": int(token.expires_at().timestamp()),
            "iat": int(as_utc(row.issued_at).timestamp()),
            "auth_time": row.auth_time,
            "amr": row.amr.split(),
            "acr": row.acr,
        }


class EndSession(EndSessionEndpoint):
    def get_server_jwks(self) -> dict[str, Any]:
        server: Provider = self.server
        return keys.jwks(server.ctx, server.db)

    def is_post_logout_redirect_uri_legitimate(
        self, request: Any, post_logout_redirect_uri: str, client: Any, logout_hint: str | None
    ) -> bool:
        """Without an ID token hint, the client named by ``client_id`` and a post-logout URI registered
        for it exactly are the confirmation (RP-Initiated Logout §3 "other means")."""
        return client is not None

    def end_session(self, end_session_request: Any) -> None:
        server: Provider = self.server
        row = sessions.load(server.ctx, server.db, server.session_token)
        if row is not None:
            user = server.db.get(User, row.user_id)
            server.db.delete(row)
            audit.record(server.ctx, server.db, "session_logout", request=server.info, user=user, via="oidc")
            server.ended_session = True


class Provider(AuthorizationServer):
    def __init__(
        self, ctx: Context, db: Session, *, info: RequestInfo | None = None, session_token: str | None = None
    ) -> None:
        super().__init__(scopes_supported=list(clients.SCOPES))
        self.ctx = ctx
        self.db = db
        self.info = info or RequestInfo()
        self.session_token = session_token
        self.ended_session = False
        self.issuer = ctx.settings.base_url.rstrip("/")
        self._clients: dict[str, clients.RegisteredClient | None] = {}
        self._signing_key: keys.SigningKey | None = None
        self.register_token_generator("default", self._generate_token)
        self.register_grant(CodeGrant, [S256Challenge(required=True), IdToken(self)])
        self.register_grant(RefreshGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)
        self.register_endpoint(EndSession)

    def signing_key(self) -> keys.SigningKey:
        """The current key, read once per request (Authlib asks for its algorithm, header and key)."""
        if self._signing_key is None:
            self._signing_key = keys.current(self.ctx, self.db)
        return self._signing_key

    # --- Authlib's storage hooks ---------------------------------------------------------------
    def query_client(self, client_id: str) -> clients.RegisteredClient | None:
        if client_id not in self._clients:
            row = clients.registered(self.db, client_id)
            self._clients[client_id] = clients.RegisteredClient(self.ctx, row) if row is not None else None
        return self._clients[client_id]

    def _generate_token(
        self,
        grant_type: str,
        client: Any,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": secrets.token_urlsafe(32),
            "expires_in": int(ACCESS_TOKEN_LIFETIME.total_seconds()),
            "scope": scope or "",
        }
        if include_refresh_token:
            token["refresh_token"] = secrets.token_urlsafe(32)
        return token

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        now = self.ctx.clock.now()
        source: Any
        if request.authorization_code is not None:
            source, family = request.authorization_code.row, request.authorization_code.row.code_digest
        else:
            source, family = request.refresh_token.row, request.refresh_token.row.family
        refresh = token.get("refresh_token")
        token_store.add_token(
            self.db,
            {
                "family": family,
                "client_id": request.client.get_client_id(),
                "user_id": source.user_id,
                "scope": token.get("scope", ""),
                "access_digest": _digest(self.ctx, token["access_token"], TOKEN_PURPOSE),
                "refresh_digest": _digest(self.ctx, refresh, TOKEN_PURPOSE) if refresh else None,
                "issued_at": now,
                "access_expires_at": now + ACCESS_TOKEN_LIFETIME,
                "refresh_expires_at": now + REFRESH_TOKEN_LIFETIME if refresh else None,
                "auth_time": source.auth_time,
                "amr": source.amr,
                "acr": source.acr,
                "email_verified": source.email_verified,
            },
        )

    def authenticate_client(self, request: Any, methods: list[str], endpoint: str = "token") -> Any:
        """Authlib's check, with an error that names the method the client used and the ones its
        registration allows (a wrong method is the commonest set-up mistake: Authelia #6860, #6904)."""
        try:
            return super().authenticate_client(request, methods, endpoint)
        except InvalidClientError as error:
            used = _method_used(request)
            client_id = _client_id_of(request)
            client = self.query_client(client_id) if client_id else None
            if client is None:
                error.description = "Unknown client, or no client credentials in the request."
                raise
            allowed = [m for m in clients.allowed_auth_methods(client.row) if m in methods]
            if used not in allowed:
                error.description = (
                    f"The client authenticated with {used}; this client allows "
                    f"{' or '.join(allowed) if allowed else 'no method at this endpoint'}."
                )
            else:
                error.description = f"Client authentication with {used} failed."
            raise

    def create_oauth2_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> HttpResponse:
        return HttpResponse(status, body, list(headers or []))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None


def _method_used(request: Any) -> str:
    basic_id, _secret = extract_basic_authorization(request.headers)
    if basic_id:
        return "client_secret_basic"
    if request.form.get("client_secret"):
        return "client_secret_post"
    return "none"


def _client_id_of(request: Any) -> str:
    basic_id, _ = extract_basic_authorization(request.headers)
    return str(basic_id or request.form.get("client_id") or request.payload.data.get("client_id") or "")


def error_response(provider: Provider, request: Request, error: OAuth2Error) -> HttpResponse:
    response: HttpResponse = provider.handle_error_response(request, error)
    return response
