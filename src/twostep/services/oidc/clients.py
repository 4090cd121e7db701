"""Registered relying parties: created by an administrator (CLI or ``/admin/oidc``), effective at once.

The client secret is shown once and kept only as a keyed digest. Redirect URIs are compared exactly
(OAuth 2.0 Security BCP, RFC 9700 §4.1.3): no prefixes, no wildcards, no fragments.
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from twostep.domain.text_input import is_clean
from twostep.services.core import audit
from twostep.services.core.context import Context, RequestInfo
from twostep.storage.database import Executor, FastStatement
from twostep.storage.models import OidcClient, OidcToken, User

SCOPES = ("openid", "profile", "email", "groups", "offline_access")
DEFAULT_SCOPES = " ".join(SCOPES)
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
SECRET_PURPOSE = "oidc-client-secret"  # noqa: S105 - a digest purpose, not a secret


class ClientError(ValueError):
    """A refused client change; ``code`` names the problem, the message says it in English."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ClientInfo:
    client_id: str
    name: str
    public: bool
    redirect_uris: list[str]
    post_logout_uris: list[str]
    scopes: list[str]
    auth_method: str
    claims_in_userinfo_only: bool


@dataclass(frozen=True)
class CreatedClient:
    info: ClientInfo
    secret: str | None


def info_of(row: OidcClient) -> ClientInfo:
    return ClientInfo(
        client_id=row.client_id,
        name=row.name,
        public=row.public,
        redirect_uris=list(json.loads(row.redirect_uris)),
        post_logout_uris=list(json.loads(row.post_logout_uris)),
        scopes=row.scopes.split(),
        auth_method=row.auth_method,
        claims_in_userinfo_only=row.claims_in_userinfo_only,
    )


def check_uri(raw: str) -> str:
    """An absolute http(s) URI without fragment or wildcard; anything else is refused."""
    value = raw.strip()
    if not value or len(value) > 2000 or not is_clean(value) or any(ch.isspace() for ch in value):
        raise ClientError("uri_invalid", f"not a valid redirect URI: {raw!r}")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientError("uri_invalid", f"a redirect URI must be an absolute http(s) URL: {raw!r}")
    if parts.fragment or "#" in value:
        raise ClientError("uri_fragment", f"a redirect URI must not have a fragment (#): {raw!r}")
    if "*" in value:
        raise ClientError("uri_wildcard", f"redirect URIs are matched exactly; wildcards are refused: {raw!r}")
    return value


def _check_uris(values: list[str], *, required: bool) -> list[str]:
    uris: list[str] = []
    for raw in values:
        uri = check_uri(raw)
        if uri not in uris:
            uris.append(uri)
    if required and not uris:
        raise ClientError("uri_missing", "give at least one redirect URI")
    return uris


def _check_scopes(values: list[str] | None) -> str:
    scopes = [scope for value in (values or []) for scope in value.split()]
    if not scopes:
        return DEFAULT_SCOPES
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise ClientError("scope_unknown", f"unknown scope {unknown[0]!r}; known: {', '.join(SCOPES)}")
    if "openid" not in scopes:
        scopes.insert(0, "openid")
    return " ".join(dict.fromkeys(scopes))


def _check_name(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise ClientError("name_missing", "give the client a name")
    if len(name) > 200 or not is_clean(name):
        raise ClientError("name_invalid", "use at most 200 printable characters for the name")
    return name


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def create(
    ctx: Context,
    name: str,
    redirect_uris: list[str],
    *,
    post_logout_uris: list[str] | None = None,
    public: bool = False,
    scopes: list[str] | None = None,
    auth_method: str = "",
    actor_id: int | None = None,
    request: RequestInfo | None = None,
) -> CreatedClient:
    if auth_method and auth_method not in AUTH_METHODS:
        raise ClientError("auth_method", f"token endpoint auth method must be one of {', '.join(AUTH_METHODS)}")
    row = OidcClient(
        client_id=secrets.token_urlsafe(18),
        name=_check_name(name),
        public=public,
        redirect_uris=json.dumps(_check_uris(redirect_uris, required=True)),
        post_logout_uris=json.dumps(_check_uris(post_logout_uris or [], required=False)),
        scopes=_check_scopes(scopes),
        auth_method="" if public else auth_method,
        claims_in_userinfo_only=False,
        created_at=ctx.clock.now(),
    )
    secret = None if public else _new_secret()
    if secret is not None:
        row.secret_digest = ctx.digester.digest(secret, SECRET_PURPOSE)
    with ctx.db.transaction() as db:
        db.add(row)
        db.flush()
        audit.record(ctx, db, "oidc_client_created", request=request or RequestInfo(), actor=_actor(db, actor_id),
                     client_id=row.client_id, name=row.name, public=public)
        return CreatedClient(info=info_of(row), secret=secret)


def _actor(db: Session, actor_id: int | None) -> User | None:
    return db.get(User, actor_id) if actor_id is not None else None


def list_clients(ctx: Context) -> list[ClientInfo]:
    with ctx.db.transaction() as db:
        return [info_of(row) for row in db.scalars(select(OidcClient).order_by(OidcClient.name, OidcClient.id))]


def find(db: Session, client_id: str) -> OidcClient | None:
    if not client_id or len(client_id) > 64:
        return None
    return db.scalars(select(OidcClient).where(OidcClient.client_id == client_id)).first()


def _get(db: Session, client_id: str) -> OidcClient:
    row = find(db, client_id)
    if row is None:
        raise ClientError("client_unknown", f"no OIDC client with id {client_id!r}")
    return row


def show(ctx: Context, client_id: str) -> ClientInfo:
    with ctx.db.transaction() as db:
        return info_of(_get(db, client_id))


def update(
    ctx: Context,
    client_id: str,
    *,
    redirect_uris: list[str] | None = None,
    post_logout_uris: list[str] | None = None,
    claims_in_userinfo_only: bool | None = None,
    actor_id: int | None = None,
    request: RequestInfo | None = None,
) -> ClientInfo:
    with ctx.db.transaction() as db:
        row = _get(db, client_id)
        if redirect_uris is not None:
            row.redirect_uris = json.dumps(_check_uris(redirect_uris, required=True))
        if post_logout_uris is not None:
            row.post_logout_uris = json.dumps(_check_uris(post_logout_uris, required=False))
        changed: dict[str, Any] = {}
        if redirect_uris is not None:
            changed["redirect_uris"] = json.loads(row.redirect_uris)
        if post_logout_uris is not None:
            changed["post_logout_uris"] = json.loads(row.post_logout_uris)
        if claims_in_userinfo_only is not None:
            row.claims_in_userinfo_only = claims_in_userinfo_only
            changed["claims_in_userinfo_only"] = claims_in_userinfo_only
        audit.record(ctx, db, "oidc_client_updated", request=request or RequestInfo(), actor=_actor(db, actor_id),
                     client_id=row.client_id, **changed)
        return info_of(row)


def rotate_secret(
    ctx: Context, client_id: str, *, actor_id: int | None = None, request: RequestInfo | None = None
) -> str:
    """A new secret (shown once); the old one stops working at once."""
    with ctx.db.transaction() as db:
        row = _get(db, client_id)
        if row.public:
            raise ClientError("public_client", "a public client has no secret")
        secret = _new_secret()
        row.secret_digest = ctx.digester.digest(secret, SECRET_PURPOSE)
        row.secret_rotated_at = ctx.clock.now()
        audit.record(ctx, db, "oidc_client_secret_rotated", request=request or RequestInfo(),
                     actor=_actor(db, actor_id), client_id=row.client_id)
        return secret


def delete(ctx: Context, client_id: str, *, actor_id: int | None = None, request: RequestInfo | None = None) -> None:
    """The client and every token issued to it."""
    with ctx.db.transaction() as db:
        row = _get(db, client_id)
        db.query(OidcToken).filter(OidcToken.client_id == row.client_id).delete()
        db.delete(row)
        audit.record(ctx, db, "oidc_client_deleted", request=request or RequestInfo(), actor=_actor(db, actor_id),
                     client_id=client_id, name=row.name)


@dataclass(frozen=True)
class ClientRow:
    """What the protocol endpoints read of a client, by one prebuilt statement (no ORM)."""

    client_id: str
    name: str
    secret_digest: str | None
    public: bool
    redirect_uris: str
    post_logout_uris: str
    scopes: str
    auth_method: str
    claims_in_userinfo_only: bool


_TABLE: Table = OidcClient.__table__  # type: ignore[assignment]
_BY_CLIENT_ID = FastStatement(
    select(*(_TABLE.c[name] for name in ClientRow.__dataclass_fields__)).where(
        _TABLE.c.client_id == bindparam("client_id")
    )
)


def registered(db: Executor, client_id: str) -> ClientRow | None:
    """The client as the OAuth endpoints see it, read afresh at every request: a deleted client or a
    rotated secret stops working at once, on every instance."""
    if not client_id or len(client_id) > 64:
        return None
    found = _BY_CLIENT_ID.execute(db, {"client_id": client_id}).fetchone()
    if found is None:
        return None
    values = dict(zip(ClientRow.__dataclass_fields__, found, strict=True))
    values["public"] = bool(values["public"])
    values["claims_in_userinfo_only"] = bool(values["claims_in_userinfo_only"])
    return ClientRow(**values)


ClientLike = OidcClient | ClientRow


def secret_matches(ctx: Context, row: ClientLike, secret: str) -> bool:
    if row.public or not row.secret_digest or not secret or len(secret) > 200:
        return False
    return any(
        hmac.compare_digest(candidate, row.secret_digest)
        for candidate in ctx.digester.candidates(secret, SECRET_PURPOSE)
    )


def allowed_auth_methods(row: ClientLike) -> list[str]:
    if row.public:
        return ["none"]
    return [row.auth_method] if row.auth_method else list(AUTH_METHODS)


class RegisteredClient:
    """The Authlib client model (``ClientMixin``) over a row."""

    def __init__(self, ctx: Context, row: ClientLike) -> None:
        self.ctx = ctx
        self.row = row
        self.client_id = row.client_id
        self.redirect_uris: list[str] = json.loads(row.redirect_uris)
        self.client_metadata: dict[str, Any] = {"post_logout_redirect_uris": json.loads(row.post_logout_uris)}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # OpenID Connect Core §3.1.2.1: redirect_uri is required

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = self.row.scopes.split()
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secret_matches(self.ctx, self.row, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in allowed_auth_methods(self.row)

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")
