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
  cannot be reached the database takes over, so an outage of the cache never turns the limits off
  and never blocks sign-in or the verification API:

  - every Redis call has a short connect and read timeout (``REDIS_TIMEOUT_SECONDS``) and no retry,
    so a hung server (stopped, not dead) costs at most that once;
  - a circuit breaker (``RedisBreaker``): after a failure Redis is skipped and the database counts,
    while a background thread probes Redis every ``REDIS_RETRY_AFTER_SECONDS``, so a hung Redis
    costs one request one timeout per outage. One log line when Redis goes away, one when it is
    back, never a line per request;
  - cooldowns are written to both stores (Redis decides while it is up, the database row is kept in
    step), so a cooldown started before an outage still holds while the database stands in. Hourly
    counters are not copied: during an outage they count afresh in the database, so across one
    outage a cap can be reached twice at most.

Time comes from the injected clock, never from Redis or the database server, so tests move it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from twostep.services.core.context import Context
from twostep.storage.database import insert_for
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
#: Connect and read timeout of every Redis call (loopback or LAN Redis answers in well under 1 ms).
REDIS_TIMEOUT_SECONDS = 0.25
#: After a Redis failure, how long the database counts alone before Redis is tried again.
REDIS_RETRY_AFTER_SECONDS = 5.0

T = TypeVar("T")


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
        return insert_for(db)

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


class RedisBreaker:
    """A circuit breaker for Redis, per process: closed (use Redis) → a failure opens it (skip Redis,
    the database counts) → Redis is probed again every ``retry_after`` seconds → closed again when a
    probe succeeds.

    With ``probe`` (a ``PING``), the probing is done by a background thread, so no request ever waits
    on a hung Redis again once the first failure opened the breaker (the verification API runs on the
    event loop). Without it, the first call after each ``retry_after`` is the probe.

    The state changes are logged (one warning when Redis goes away, one line when it is back), so an
    outage writes two lines per process, not one per request. ``monotonic`` is injectable for tests;
    this is an operational timer, not a rule's clock, so it is not ``ctx.clock``.
    """

    def __init__(
        self,
        retry_after: float = REDIS_RETRY_AFTER_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        probe: Callable[[], object] | None = None,
    ) -> None:
        self.retry_after = retry_after
        self.monotonic = monotonic
        self.probe = probe
        self._lock = threading.Lock()
        self._down = False
        self._next_probe = 0.0

    @property
    def down(self) -> bool:
        return self._down

    def allows(self) -> bool:
        """May this call use Redis? Always while closed; while open, never when a background thread
        probes, else once per ``retry_after`` (this caller is the probe; the others skip Redis)."""
        if not self._down:
            return True
        if self.probe is not None:
            return False
        with self._lock:
            now = self.monotonic()
            if now < self._next_probe:
                return False
            self._next_probe = now + self.retry_after
            return True

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self._next_probe = self.monotonic() + self.retry_after
            if self._down:
                return
            # Logged before the state is published, so whoever sees `down` change finds the line written.
            log.warning(
                "Redis rate-limit store unavailable (%s); counting in the database, retrying every %gs",
                type(exc).__name__,
                self.retry_after,
            )
            self._down = True
        if self.probe is not None:
            threading.Thread(target=self._probe_until_back, name="twostep-redis-probe", daemon=True).start()

    def _probe_until_back(self) -> None:
        assert self.probe is not None
        while self._down:
            time.sleep(max(self.retry_after, 0.05))
            try:
                self.probe()
            except Exception as exc:  # still away: the outage was logged once already
                log.debug("Redis probe failed: %s", type(exc).__name__)
            else:
                self.succeeded()

    def succeeded(self) -> None:
        if not self._down:
            return
        with self._lock:
            if not self._down:
                return
            log.warning("Redis rate-limit store is back; counting in Redis again")
            self._down = False


class FallbackRateStore:
    """Redis first, behind a circuit breaker; the database when Redis fails or is being skipped, so an
    outage neither lifts nor jams the limits. Cooldowns go to both (see the module docstring)."""

    def __init__(self, primary: RedisRateStore, fallback: DatabaseRateStore, breaker: RedisBreaker | None = None):
        self.primary = primary
        self.fallback = fallback
        self.breaker = breaker or RedisBreaker(probe=primary.client.ping)

    def _redis(self, call: Callable[[], T]) -> T | None:
        """``call()`` on Redis, or None when Redis is skipped or fails (the breaker opens)."""
        import redis

        if not self.breaker.allows():
            return None
        try:
            result = call()
        except (redis.RedisError, OSError) as exc:
            self.breaker.failed(exc)
            return None
        self.breaker.succeeded()
        return result

    def redis_hit(self, key: str, limit: int, window_seconds: int, now: datetime) -> Decision | None:
        """Count in Redis; None when Redis is unavailable (the caller counts in its database instead)."""
        return self._redis(lambda: self.primary.hit(_NO_SESSION, key, limit, window_seconds, now))

    def hit(self, db: Session, key: str, limit: int, window_seconds: int, now: datetime) -> Decision:
        decision = self.redis_hit(key, limit, window_seconds, now)
        return decision if decision is not None else self.fallback.hit(db, key, limit, window_seconds, now)

    def start_cooldown(self, db: Session, key: str, seconds: int, now: datetime) -> Cooldown:
        in_redis = self._redis(lambda: self.primary.start_cooldown(_NO_SESSION, key, seconds, now))
        if in_redis is not None and not in_redis.started:
            return in_redis
        # Kept in the database too: it holds when Redis goes away, and one started during an outage
        # (which Redis never saw) still holds when Redis is back.
        in_database = self.fallback.start_cooldown(db, key, seconds, now)
        if secrets.randbelow(64) == 0:  # with Redis up nothing else purges the database's old rows
            purge(db, now)
        if not in_database.started and in_redis is not None:
            until = in_redis.until
            self._redis(lambda: self.primary.end_cooldown(_NO_SESSION, key, until))
        return in_database

    def end_cooldown(self, db: Session, key: str, until: int) -> None:
        self._redis(lambda: self.primary.end_cooldown(_NO_SESSION, key, until))
        self.fallback.end_cooldown(db, key, until)


_NO_SESSION: Any = None  # the Redis store never touches the database session


_DATABASE_STORE = DatabaseRateStore()


@functools.lru_cache(maxsize=8)
def _redis_store(url: str, prefix: str) -> FallbackRateStore:
    """One client (and connection pool) per URL for the life of the process."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),  # redis-py retries 3 times with backoff by default: seconds when hung
    )
    return FallbackRateStore(RedisRateStore(client, prefix), _DATABASE_STORE)


def redis_hit(ctx: Context, key: str, limit: int, window_seconds: int, now: datetime) -> Decision | None:
    """Count in Redis when it is configured and answering; None otherwise (count in the database).
    For callers whose database handle is not an ORM session (the verification API's raw transaction)."""
    url = ctx.settings.redis_url.strip()
    if not url:
        return None
    return _redis_store(url, ctx.settings.redis_prefix).redis_hit(key, limit, window_seconds, now)


def redis_status(ctx: Context) -> str | None:
    """For ``/readyz``: None when Redis is not configured, else "ok" or "unreachable" (a PING with the
    short timeout; a success also closes the breaker at once)."""
    url = ctx.settings.redis_url.strip()
    if not url:
        return None
    backend = _redis_store(url, ctx.settings.redis_prefix)
    try:
        backend.primary.client.ping()
    except Exception as exc:
        backend.breaker.failed(exc)
        return "unreachable"
    backend.breaker.succeeded()
    return "ok"


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
