"""ID-token signing keys: generated here, sealed at rest with the service key, shared by every instance.

Rotation keeps the previous key in the JWKS until every ID token it signed has expired
(``ID_TOKEN_LIFETIME``), so relying parties that cached the old JWKS or hold a fresh token keep working.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from twostep.domain.clock import as_utc
from twostep.services.core.context import Context
from twostep.storage.models import OidcSigningKey

ID_TOKEN_LIFETIME = timedelta(hours=1)
#: How long an instance keeps signing with the key it last read as current. After ``rotate-keys`` on
#: one instance the others switch within this time; until then they sign with the previous key, which
#: stays published in the JWKS for ``ID_TOKEN_LIFETIME`` — so every token stays verifiable.
CURRENT_KEY_SECONDS = 10.0
ALGORITHMS = ("RS256", "ES256")
DEFAULT_ALG = "RS256"

Key = RSAKey | ECKey


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    key: Key


_cache: dict[str, SigningKey] = {}
_cache_lock = threading.Lock()


def _owner(kid: str) -> str:
    return f"oidc-signing-key:{kid}"


def _generate(alg: str) -> Key:
    if alg == "ES256":
        return ECKey.generate_key("P-256", private=True)
    return RSAKey.generate_key(2048, private=True)


def create(ctx: Context, db: Session, alg: str = DEFAULT_ALG) -> str:
    """A new current key (the previous current ones are retired, still published)."""
    if alg not in ALGORITHMS:
        raise ValueError(f"unsupported signing algorithm {alg!r}; use one of {', '.join(ALGORITHMS)}")
    now = ctx.clock.now()
    for old in db.scalars(select(OidcSigningKey).where(OidcSigningKey.retired_at.is_(None))):
        old.retired_at = now
        old.publish_until = now + ID_TOKEN_LIFETIME
    kid = secrets.token_urlsafe(12)
    key = _generate(alg)
    public = key.as_dict(private=False)
    public.update({"kid": kid, "alg": alg, "use": "sig"})
    db.add(
        OidcSigningKey(
            kid=kid,
            alg=alg,
            private_sealed=ctx.sealer.seal(json.dumps(key.as_dict(private=True)), _owner(kid)),
            public_jwk=json.dumps(public),
            created_at=now,
        )
    )
    db.flush()
    ctx.oidc_key_cache.pop("current", None)  # this instance signs with the new key at once
    return kid


def current(ctx: Context, db: Session) -> SigningKey:
    """The key new ID tokens are signed with (created at first use); read from the database at most
    every ``CURRENT_KEY_SECONDS`` per instance (the token endpoint signs with it at every exchange)."""
    now = ctx.clock.now()
    cached = ctx.oidc_key_cache.get("current")
    if cached is not None and now < cached[0]:
        key: SigningKey = cached[1]
        return key
    found = _current(ctx, db)
    ctx.oidc_key_cache["current"] = (now + timedelta(seconds=CURRENT_KEY_SECONDS), found)
    return found


def _current(ctx: Context, db: Session) -> SigningKey:
    row = db.scalars(
        select(OidcSigningKey).where(OidcSigningKey.retired_at.is_(None)).order_by(OidcSigningKey.created_at.desc())
    ).first()
    if row is None:
        create(ctx, db)
        return _current(ctx, db)
    with _cache_lock:
        cached = _cache.get(row.kid)
    if cached is not None:
        return cached
    private: dict[str, Any] = json.loads(ctx.sealer.open(row.private_sealed, _owner(row.kid)))
    key: Key = ECKey.import_key(private) if row.alg == "ES256" else RSAKey.import_key(private)
    loaded = SigningKey(kid=row.kid, alg=row.alg, key=key)
    with _cache_lock:
        _cache[row.kid] = loaded
    return loaded


def jwks(ctx: Context, db: Session) -> dict[str, list[dict[str, Any]]]:
    """Public keys: the current one and retired ones whose tokens may still be alive."""
    now = ctx.clock.now()
    rows = db.scalars(
        select(OidcSigningKey)
        .where(or_(OidcSigningKey.retired_at.is_(None), OidcSigningKey.publish_until > now))
        .order_by(OidcSigningKey.created_at.desc())
    ).all()
    if not rows:
        current(ctx, db)
        return jwks(ctx, db)
    return {
        "keys": [
            json.loads(row.public_jwk)
            for row in rows
            if row.publish_until is None or as_utc(row.publish_until) > now
        ]
    }


def rotate(ctx: Context, alg: str = DEFAULT_ALG) -> str:
    with ctx.db.transaction() as db:
        return create(ctx, db, alg)
