"""The token endpoint's reads and writes as prebuilt statements (``FastStatement``: compiled once,
run on the transaction's own connection, no ORM).

An authorization-code exchange is one statement per step: consume the code (``UPDATE … RETURNING``,
the compare-and-set and the read in one round trip), read the account with its roles, store the new
tokens; a refresh consumes the refresh token the same way. The ORM's per-statement machinery cost
more than the database work (bench/oidc_grants.py); the rare paths — a reused code or refresh token,
revocation, introspection — keep using the ORM. The rules are unchanged (services/oidc/provider.py).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update

from twostep.storage.database import Executor, FastStatement, as_datetime
from twostep.storage.models import OidcAuthorizationCode, OidcToken, User, UserRole

_CODES: Table = OidcAuthorizationCode.__table__  # type: ignore[assignment]
_TOKENS: Table = OidcToken.__table__  # type: ignore[assignment]
_USERS: Table = User.__table__  # type: ignore[assignment]
_ROLES: Table = UserRole.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class CodeRow:
    """A consumed authorization code: what it grants."""

    code_digest: str
    client_id: str
    user_id: int
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    amr: str
    acr: str
    email_verified: bool


@dataclass(frozen=True)
class RefreshRow:
    """A refresh token just marked used: what the new tokens inherit."""

    id: int
    family: str
    client_id: str
    user_id: int
    scope: str
    auth_time: int
    amr: str
    acr: str
    email_verified: bool
    issued_at: datetime
    access_expires_at: datetime
    refresh_expires_at: datetime | None
    refresh_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class Account:
    """The signed-in account as the ID token's claims need it (services.oidc.claims)."""

    id: int
    email: str
    name: str
    legacy_username: str | None
    language: str | None
    roles: list[str]


def _names(row_type: type) -> list[str]:
    return [f.name for f in fields(row_type)]


_CONSUME_CODE = FastStatement(
    update(_CODES)
    .where(
        _CODES.c.code_digest == bindparam("digest"),
        _CODES.c.client_id == bindparam("client_id"),
        _CODES.c.used_at.is_(None),
        _CODES.c.expires_at > bindparam("now"),
    )
    .values(used_at=bindparam("now"))
    .returning(*(_CODES.c[name] for name in _names(CodeRow)))
)

_USE_REFRESH = FastStatement(
    update(_TOKENS)
    .where(
        _TOKENS.c.refresh_digest == bindparam("digest"),
        _TOKENS.c.client_id == bindparam("client_id"),
        _TOKENS.c.refresh_used_at.is_(None),
        _TOKENS.c.revoked_at.is_(None),
        _TOKENS.c.refresh_expires_at > bindparam("now"),
    )
    .values(refresh_used_at=bindparam("now"))
    .returning(*(_TOKENS.c[name] for name in _names(RefreshRow)))
)

_ACCOUNT = FastStatement(
    select(_USERS.c.id, _USERS.c.email, _USERS.c.name, _USERS.c.legacy_username, _USERS.c.language, _ROLES.c.role)
    .select_from(_USERS.outerjoin(_ROLES, _ROLES.c.user_id == _USERS.c.id))
    .where(_USERS.c.id == bindparam("user_id"))
)

TOKEN_COLUMNS = [
    "family", "client_id", "user_id", "scope", "access_digest", "refresh_digest", "issued_at",
    "access_expires_at", "refresh_expires_at", "auth_time", "amr", "acr", "email_verified",
]  # fmt: skip
_ADD_TOKEN = FastStatement(insert(_TOKENS), column_keys=TOKEN_COLUMNS)


def consume_code(db: Executor, digest: str, client_id: str, now: datetime) -> CodeRow | None:
    """The compare-and-set: exactly one request consumes a live code, on every instance."""
    rows = _CONSUME_CODE.execute(db, {"digest": digest, "client_id": client_id, "now": now}).fetchall()
    if not rows:
        return None
    found = rows[0]
    values: dict[str, Any] = dict(zip(_names(CodeRow), found, strict=True))
    values["email_verified"] = bool(values["email_verified"])
    return CodeRow(**values)


def use_refresh_token(db: Executor, digest: str, client_id: str, now: datetime) -> RefreshRow | None:
    """Mark a live refresh token of this client used, and read it, in one statement."""
    rows = _USE_REFRESH.execute(db, {"digest": digest, "client_id": client_id, "now": now}).fetchall()
    if not rows:
        return None
    found = rows[0]
    values: dict[str, Any] = dict(zip(_names(RefreshRow), found, strict=True))
    values["email_verified"] = bool(values["email_verified"])
    for name in ("issued_at", "access_expires_at", "refresh_expires_at", "refresh_used_at", "revoked_at"):
        values[name] = as_datetime(values[name])
    return RefreshRow(**values)


def account(db: Executor, user_id: int) -> Account | None:
    """The account and its roles in one round trip (one row per role)."""
    rows = _ACCOUNT.execute(db, {"user_id": user_id}).fetchall()
    if not rows:
        return None
    first = rows[0]
    roles = sorted(row[5] for row in rows if row[5] is not None)
    return Account(id=first[0], email=first[1], name=first[2] or "", legacy_username=first[3], language=first[4],
                   roles=roles)


def add_token(db: Executor, values: dict[str, Any]) -> None:
    _ADD_TOKEN.execute(db, values)
