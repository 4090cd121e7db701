"""Rate limits for sending codes and asking for password resets, shared by every worker process.

Two kinds of limit, both kept outside the process (checklist R-04, O-06, CR-10):

* **fixed-window counters** — "at most N per hour for this user / address / IP". The window is
  ``floor(now / window)``; a counter is one row (or one Redis key) per key and window. A burst
  across a window edge can reach twice the limit, the usual price of a fixed window; the caps
  are small (five an hour) so that worst case is still small.
* **cooldowns** — "not again within 60 seconds". One row (or key) holding the second at which
  the cooldown ends, set atomically only if the previous one has ended. A send that failed gives
  its cooldown back (``end_cooldown``), so "try again" works at once when the mail server is back.

Where the counts live:

* the database (table ``rate_counters``) by default — nothing else to run;
* Redis when ``TWOSTEP_REDIS_URL`` is set, keys prefixed with ``TWOSTEP_REDIS_PREFIX``. If Redis
  cannot be reached the database takes over (logged), so an outage of the cache never turns the
  limits off and never blocks sign-in.

Time comes from the injected clock, never from Redis or the database server, so tests move it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from twostep.services.context import Context
from twostep.storage.models import RateCounter

log = logging.getLogger("twostep.rate_limits")

HOUR = 3600
#: Codes sent (email or SMS, any purpose) per hour from one client address, across accounts.
SENDS_PER_IP_PER_HOUR = 20
#: Password-reset requests per hour: per account, per typed address, per client address.
RESETS_PER_ACCOUNT_PER_HOUR = 5
RESETS_PER_ADDRESS_PER_HOUR = 5
RESETS_PER_IP_PER_HOUR = 20
RESET_COOLDOWN_SECONDS = 60

_MAX_KEY = 120  # rate_counters.key
_COOLDOWN_WINDOW = 0  # window_start of cooldown rows; their ``count`` is the end (epoch second)
_PURGE_AFTER_SECONDS = 2 * 86400


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0


@dataclass(frozen=True)
class Cooldown:
    """``started``: the caller may go ahead; ``until`` identifies this cooldown for ``end_cooldown``."""

    started: bool
    until: int = 0
    wait_seconds: int = 0


@dataclass(frozen=True)
class Rule:
    key: str
    limit: int
    window_seconds: int = HOUR


class RateStore(Protocol):
    def hit(self, db: Session, key: str, limit: int, window_seconds: int, now: datetime) -> Decision:
        """Count one event in the current window; refused when the count goes over ``limit``."""
        ...

    def start_cooldown(self, db: Session, key: str, seconds: int, now: datetime) -> Cooldown:
        """Begin a cooldown unless one is running (then report the seconds left)."""
        ...

    def end_cooldown(self, db: Session, key: str, until: int) -> None:
        """Give a cooldown back, only if it is still the one that ends at ``until``."""
        ...


def _epoch(now: datetime) -> int:
    return int(now.timestamp())


def _short(key: str) -> str:
    """Keys are built from digests and addresses; an over-long one is hashed to fit the column."""
    if len(key) <= _MAX_KEY - 3:
        return key
    return "h:" + hashlib.sha256(key.encode()).hexdigest()


class DatabaseRateStore:
    """Counters in ``rate_counters``, written in the caller's transaction (they commit with it)."""

    def _insert(self, db: Session) -> Any:
        return pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert

    def hit(self, db: Session, key: str, limit: int, window_seconds: int, now: datetime) -> Decision:
        key = _short(key)
        epoch = _epoch(now)
        start = epoch - epoch % window_seconds
        statement = (
            self._insert(db)(RateCounter)
            .values(key=key, window_start=start, count=1)
            .on_conflict_do_update(index_elements=["key", "window_start"], set_={"count": RateCounter.count + 1})
            .returning(RateCounter.count)
        )
        count = int(db.execute(statement).scalar_one())
        if count == 1:
            # A new window for this key: forget its older windows, and now and then everybody's.
            db.execute(
                delete(RateCounter).where(
                    RateCounter.key == key,
                    RateCounter.window_start != _COOLDOWN_WINDOW,
                    RateCounter.window_start < start,
                )
            )
            if secrets.randbelow(64) == 0:
                purge(db, now)
        if count > limit:
            return Decision(False, max(1, start + window_seconds - epoch))
        return Decision(True)

    def start_cooldown(self, db: Session, key: str, seconds: int, now: datetime) -> Cooldown:
        key = _short("cd:" + key)
        epoch = _epoch(now)
        until = epoch + seconds
        statement = (
            self._insert(db)(RateCounter)
            .values(key=key, window_start=_COOLDOWN_WINDOW, count=until)
            .on_conflict_do_update(
                index_elements=["key", "window_start"],
                set_={"count": until},
                where=RateCounter.count <= epoch,
            )
            .returning(RateCounter.count)
        )
        if db.execute(statement).first() is not None:
            return Cooldown(True, until=until)
        running = db.scalar(
            select(RateCounter.count).where(RateCounter.key == key, RateCounter.window_start == _COOLDOWN_WINDOW)
        )
        return Cooldown(False, wait_seconds=max(1, int(running or until) - epoch))

    def end_cooldown(self, db: Session, key: str, until: int) -> None:
        db.execute(
            delete(RateCounter).where(
                RateCounter.key == _short("cd:" + key),
                RateCounter.window_start == _COOLDOWN_WINDOW,
                RateCounter.count == until,
            )
        )


def purge(db: Session, now: datetime) -> None:
    """Drop counters and cooldowns that ended long ago (keys of one-off client addresses pile up)."""
    cutoff = _epoch(now) - _PURGE_AFTER_SECONDS
    db.execute(
        delete(RateCounter).where(
            or_(
                (RateCounter.window_start != _COOLDOWN_WINDOW) & (RateCounter.window_start < cutoff),
                (RateCounter.window_start == _COOLDOWN_WINDOW) & (RateCounter.count < cutoff),
            )
        )
    )


_HIT_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""
_START_COOLDOWN_SCRIPT = """
local running = tonumber(redis.call('GET', KEYS[1]) or '0')
if running > tonumber(ARGV[1]) then return running end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 0
"""
_END_COOLDOWN_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisRateStore:
    """The same counters as Redis keys: ``<prefix>rl:<key>:<window start>`` and ``<prefix>cd:<key>``.

    Each operation is one Lua script, so it is atomic however many processes share the server.
    Redis' own expiry only collects old keys (window + a margin); decisions use the injected clock.
    """

    def __init__(self, client: Any, prefix: str = "twostep:") -> None:
        self.client = client
        self.prefix = prefix
        self._hit = client.register_script(_HIT_SCRIPT)
        self._start = client.register_script(_START_COOLDOWN_SCRIPT)
        self._end = client.register_script(_END_COOLDOWN_SCRIPT)

    def hit(self, db: Session, key: str, limit: int, window_seconds: int, now: datetime) -> Decision:
        epoch = _epoch(now)
        start = epoch - epoch % window_seconds
        count = int(self._hit(keys=[f"{self.prefix}rl:{key}:{start}"], args=[window_seconds + 60]))
        if count > limit:
            return Decision(False, max(1, start + window_seconds - epoch))
        return Decision(True)

    def start_cooldown(self, db: Session, key: str, seconds: int, now: datetime) -> Cooldown:
        epoch = _epoch(now)
        until = epoch + seconds
        running = int(self._start(keys=[f"{self.prefix}cd:{key}"], args=[epoch, until, seconds + 60]))
        if running:
            return Cooldown(False, wait_seconds=max(1, running - epoch))
        return Cooldown(True, until=until)

    def end_cooldown(self, db: Session, key: str, until: int) -> None:
        self._end(keys=[f"{self.prefix}cd:{key}"], args=[until])


class FallbackRateStore:
    """Redis first; the database when Redis fails, so an outage neither lifts nor jams the limits."""

    def __init__(self, primary: RedisRateStore, fallback: DatabaseRateStore) -> None:
        self.primary = primary
        self.fallback = fallback

    def _failed(self, exc: Exception) -> None:
        log.warning("Redis rate-limit store unavailable (%s); counting in the database", type(exc).__name__)

    def hit(self, db: Session, key: str, limit: int, window_seconds: int, now: datetime) -> Decision:
        import redis

        try:
            return self.primary.hit(db, key, limit, window_seconds, now)
        except redis.RedisError as exc:
            self._failed(exc)
            return self.fallback.hit(db, key, limit, window_seconds, now)

    def start_cooldown(self, db: Session, key: str, seconds: int, now: datetime) -> Cooldown:
        import redis

        try:
            return self.primary.start_cooldown(db, key, seconds, now)
        except redis.RedisError as exc:
            self._failed(exc)
            return self.fallback.start_cooldown(db, key, seconds, now)

    def end_cooldown(self, db: Session, key: str, until: int) -> None:
        import redis

        try:
            self.primary.end_cooldown(db, key, until)
        except redis.RedisError as exc:
            self._failed(exc)
        self.fallback.end_cooldown(db, key, until)


_DATABASE_STORE = DatabaseRateStore()


@functools.lru_cache(maxsize=8)
def _redis_store(url: str, prefix: str) -> FallbackRateStore:
    """One client (and connection pool) per URL for the life of the process."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    return FallbackRateStore(RedisRateStore(client, prefix), _DATABASE_STORE)


def store(ctx: Context) -> RateStore:
    url = ctx.settings.redis_url.strip()
    if not url:
        return _DATABASE_STORE
    return _redis_store(url, ctx.settings.redis_prefix)


def check(ctx: Context, db: Session, rules: Iterable[Rule]) -> Decision:
    """Count the event under every rule; refused (with the longest wait) if any limit is exceeded.

    Every rule is counted even after one refuses, so hammering one key keeps all of them hot.
    """
    backend = store(ctx)
    now = ctx.clock.now()
    refused = [
        decision
        for decision in (backend.hit(db, rule.key, rule.limit, rule.window_seconds, now) for rule in rules)
        if not decision.allowed
    ]
    if refused:
        return Decision(False, max(decision.retry_after for decision in refused))
    return Decision(True)
