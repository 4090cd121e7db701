"""API keys for other applications: created once, stored as a keyed digest, rate limited per key.

A key looks like ``ts_<prefix>_<random>``: ``prefix`` (8 hex characters) is stored in clear so an
operator can tell keys apart in lists and logs; ``random`` carries 256 bits from the OS CSPRNG. The
database keeps only HMAC-SHA256(key) under the instance's digest key (``ctx.digester``): a long random
key needs no slow password hash, and a stolen database alone cannot be used to call the API.

The rate limit is a fixed one-minute window per key (``api:<key id>``), shared by every worker
process: in ``rate_counters`` (written in small batches, see ``count_request``), or in Redis through
``services.rate_limits`` when Redis is configured.
"""

from __future__ import annotations

import secrets
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from twostep.domain.clock import as_utc
from twostep.services.core import audit, rate_limits
from twostep.services.core.context import Context, RequestInfo
from twostep.storage.database import Database, Executor, FastStatement, as_datetime, insert_for
from twostep.storage.models import ApiKey, RateCounter, User

KEY_PREFIX = "ts"
PREFIX_HEX_CHARS = 8
RANDOM_BYTES = 32
MAX_KEY_LENGTH = 120
MAX_NAME_LENGTH = 200
WINDOW_SECONDS = 60
LAST_USED_PRECISION = timedelta(minutes=1)


class ApiKeyError(ValueError):
    """A refusal the CLI or admin page shows: ``code`` is a message id."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class ApiKeyInfo:
    id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class NewApiKey:
    info: ApiKeyInfo
    key: str  # shown once, never stored


@dataclass(frozen=True)
class Caller:
    """The application behind a request: what the API layer needs after authentication."""

    key_id: int
    name: str
    prefix: str
    last_used_stale: bool = False


def _digest(ctx: Context, key: str) -> str:
    return ctx.digester.digest(key, "apikey")


def _info(row: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        created_at=as_utc(row.created_at),
        revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
        last_used_at=as_utc(row.last_used_at) if row.last_used_at else None,
    )


def generate_key() -> tuple[str, str]:
    """(prefix, key): ``ts_<8 hex>_<43 base64url chars>``."""
    prefix = secrets.token_hex(PREFIX_HEX_CHARS // 2)
    return prefix, f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(RANDOM_BYTES)}"


def parse_prefix(key: str) -> str | None:
    """The prefix of a well-formed key, else None (cheap shape check before any database work)."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii():
        return None
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != PREFIX_HEX_CHARS or len(parts[2]) < 32:
        return None
    return parts[1]


def create(ctx: Context, name: str, *, actor_id: int | None = None, request: RequestInfo | None = None) -> NewApiKey:
    clean = " ".join(name.split())
    if not clean:
        raise ApiKeyError("apikey_name_missing")
    if len(clean) > MAX_NAME_LENGTH:
        raise ApiKeyError("apikey_name_too_long")
    prefix, key = generate_key()
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        row = ApiKey(
            name=clean, prefix=prefix, key_digest=_digest(ctx, key), created_at=now, revoked_at=None, last_used_at=None
        )
        db.add(row)
        db.flush()
        audit.record(
            ctx,
            db,
            "apikey_created",
            request=request or RequestInfo(),
            actor=_user(db, actor_id),
            key_id=row.id,
            prefix=prefix,
            name=clean,
        )
        return NewApiKey(info=_info(row), key=key)


def list_keys(ctx: Context) -> list[ApiKeyInfo]:
    with ctx.db.transaction() as db:
        return [_info(row) for row in db.scalars(select(ApiKey).order_by(ApiKey.id))]


def find(ctx: Context, ident: str) -> ApiKeyInfo | None:
    """A key by numeric id or by its prefix (what `apikey list` shows)."""
    with ctx.db.transaction() as db:
        row = _find(db, ident)
        return _info(row) if row else None


def _find(db: Session, ident: str) -> ApiKey | None:
    ident = ident.strip()
    if ident.isdigit() and len(ident) < 8:
        found = db.get(ApiKey, int(ident))
        if found is not None:
            return found
    if ident.startswith(f"{KEY_PREFIX}_"):
        ident = ident.split("_", 2)[1] if ident.count("_") >= 1 else ident
    rows = db.scalars(select(ApiKey).where(ApiKey.prefix == ident.lower())).all()
    return rows[0] if len(rows) == 1 else None


def _user(db: Session, user_id: int | None):  # type: ignore[no-untyped-def]
    if user_id is None:
        return None

    return db.get(User, user_id)


def revoke(ctx: Context, ident: str, *, actor_id: int | None = None, request: RequestInfo | None = None) -> ApiKeyInfo:
    """Revoked keys stop working at once, in every worker (each request reads the key row)."""
    with ctx.db.transaction() as db:
        row = _find(db, ident)
        if row is None:
            raise ApiKeyError("apikey_unknown")
        if row.revoked_at is None:
            row.revoked_at = ctx.clock.now()
            audit.record(
                ctx,
                db,
                "apikey_revoked",
                request=request or RequestInfo(),
                actor=_user(db, actor_id),
                key_id=row.id,
                prefix=row.prefix,
                name=row.name,
            )
        return _info(row)


_KEYS = cast(Table, ApiKey.__table__)
_COUNTERS = cast(Table, RateCounter.__table__)
# Prebuilt statements (compiled once): every API request runs them.
KEY_COLUMNS = (_KEYS.c.id, _KEYS.c.name, _KEYS.c.prefix, _KEYS.c.revoked_at, _KEYS.c.last_used_at)
_BY_DIGEST = select(*KEY_COLUMNS).where(_KEYS.c.key_digest == bindparam("digest"))
_BY_DIGEST_FAST = FastStatement(_BY_DIGEST)
_TOUCH = FastStatement(
    update(_KEYS).where(_KEYS.c.id == bindparam("key_id")).values(last_used_at=bindparam("used_at"))
)
_FORGET_OLD_WINDOWS = FastStatement(
    delete(_COUNTERS).where(
        _COUNTERS.c.key == bindparam("counter_key"),
        _COUNTERS.c.window_start > 0,  # window 0 holds cooldowns (services.rate_limits)
        _COUNTERS.c.window_start < bindparam("current"),
    )
)


def _add_statement(dialect: str) -> Executable:
    insert = insert_for(dialect)
    return (
        insert(_COUNTERS)
        .values(key=bindparam("counter_key"), window_start=bindparam("window"), count=bindparam("amount"))
        .on_conflict_do_update(
            index_elements=["key", "window_start"], set_={"count": _COUNTERS.c.count + bindparam("amount")}
        )
        .returning(_COUNTERS.c.count)
    )


_ADD = FastStatement.by_dialect(_add_statement)


def identify(ctx: Context, db: Executor, presented: str) -> Caller | None:
    """The live key matching ``presented``, or None: one indexed read, no write."""
    if parse_prefix(presented) is None:
        return None
    row = _BY_DIGEST_FAST.execute(db, {"digest": _digest(ctx, presented)}).fetchone()
    if row is None and ctx.digester.has_previous_keys and adopt_previous_digest(ctx, db, presented):
        row = _BY_DIGEST_FAST.execute(db, {"digest": _digest(ctx, presented)}).fetchone()
    return caller_from_row(ctx, presented, row)


_ADOPT = FastStatement(
    update(_KEYS).where(_KEYS.c.key_digest == bindparam("old")).values(key_digest=bindparam("new"))
)


def adopt_previous_digest(ctx: Context, db: Executor, presented: str) -> bool:
    """After a secret-key rotation: a key stored under a previous key's digest is re-digested with the
    current key on its first use (then found by the usual one-statement read). Only called when the
    usual read found nothing and the keyring has previous keys, so it costs nothing otherwise."""
    if parse_prefix(presented) is None:
        return False
    current, *previous = ctx.digester.candidates(presented, "apikey")
    return any(_ADOPT.execute(db, {"old": old, "new": current}).rowcount for old in previous)


def presented_digest(ctx: Context, presented: str) -> str | None:
    """What the ``api_keys.key_digest`` column holds for ``presented``; None when it cannot be a key
    (for a caller that reads the key row within a larger statement, with ``KEY_COLUMNS``)."""
    return _digest(ctx, presented) if parse_prefix(presented) is not None else None


def caller_from_row(ctx: Context, presented: str, row: Sequence[Any] | None) -> Caller | None:
    """The caller, from the ``KEY_COLUMNS`` of the row found by digest (None: no such key)."""
    if row is None or row[0] is None:
        return None
    key_id, name, stored_prefix, revoked_at, last_used_at = row[:5]
    if revoked_at is not None or stored_prefix != parse_prefix(presented):
        return None
    last_used = as_datetime(last_used_at)
    stale = last_used is None or as_utc(last_used) + LAST_USED_PRECISION <= ctx.clock.now()
    return Caller(key_id=key_id, name=name, prefix=stored_prefix, last_used_stale=stale)


def touch(ctx: Context, db: Executor, caller: Caller) -> None:
    """Record the use, at most once a minute, so a busy key does not add an update to every request."""
    if caller.last_used_stale:
        _TOUCH.execute(db, {"key_id": caller.key_id, "used_at": ctx.clock.now()})


def authenticate(ctx: Context, db: Executor, presented: str) -> Caller | None:
    """``identify`` and ``touch`` in the caller's (writing) transaction."""
    caller = identify(ctx, db, presented)
    if caller is not None:
        touch(ctx, db, caller)
    return caller


@dataclass
class _Window:
    """This process's view of one key's current window: counts not yet written, and the shared total
    (every process's) as of this process's last write."""

    start: int
    pending: int = 0
    shared: int = 0
    written_at: float = 0.0


# Per database handle (a test run has many), then per key id.
_windows: weakref.WeakKeyDictionary[Database, dict[int, _Window]] = weakref.WeakKeyDictionary()
_windows_lock = threading.Lock()
FLUSH_SECONDS = 0.25


def batch_size(limit: int) -> int:
    """How many requests a process may count before writing them: 1 (exact) for small limits, up to
    50 for large ones, so a busy key's counter row is written tens of times a second, not thousands."""
    return max(1, min(50, limit // 200))


def count_request(ctx: Context, db: Executor, key_id: int, limit: int) -> int:
    """Count one request in the key's current minute; 0 when allowed, else the seconds until the next.

    With Redis configured, every request goes to the shared store (``services.rate_limits``). Without
    it, or while Redis is unavailable, the counter is the row ``api:<key id>`` in ``rate_counters``,
    which each worker process adds to in batches (``batch_size``, or every 0.25 s), so all workers
    share one limit; the limit can be overshot by at most (workers × batch − 1) requests a minute.
    """
    now = ctx.clock.now()
    epoch = int(now.timestamp())
    start = epoch - epoch % WINDOW_SECONDS
    retry_after = max(1, start + WINDOW_SECONDS - epoch)
    # With Redis configured and answering, the count lives there; when Redis is down (or skipped by
    # its circuit breaker) the database row below counts instead, on ``db`` whatever its kind.
    decision = rate_limits.redis_hit(ctx, f"api:{key_id}", limit, WINDOW_SECONDS, now)
    if decision is not None:
        return 0 if decision.allowed else decision.retry_after
    with _windows_lock:
        windows = _windows.setdefault(ctx.db, {})
        window = windows.get(key_id)
        if window is None or window.start != start:
            window = windows[key_id] = _Window(start)
        window.pending += 1
        due = window.pending >= batch_size(limit) or time.monotonic() - window.written_at >= FLUSH_SECONDS
        if not due:
            return 0 if window.shared + window.pending <= limit else retry_after
        pending, window.pending = window.pending, 0
    total = _add(db, f"api:{key_id}", start, pending)
    with _windows_lock:
        window.shared = max(window.shared, total)
        window.written_at = time.monotonic()
    return 0 if total <= limit else retry_after


def _add(db: Executor, key: str, start: int, amount: int) -> int:
    params = {"counter_key": key, "window": start, "amount": amount}
    total = int(_ADD.execute(db, params).fetchall()[0][0])
    if total == amount:  # the first write of a new window: forget this key's older windows
        _FORGET_OLD_WINDOWS.execute(db, {"counter_key": key, "current": start})
    return total
