"""Per-account guess throttling kept in the database, so every worker process sees the same count."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, case, delete, select, update
from sqlalchemy.sql import Executable

from twostep.domain.clock import as_utc
from twostep.domain.throttle import CLIENT_WINDOW, client_seconds_left, delay_after, seconds_left
from twostep.storage.database import Executor, FastStatement, as_datetime, insert_for
from twostep.storage.models import Throttle


def password_key(email_digest: str) -> str:
    return f"pw:{email_digest[:40]}"


def second_step_key(user_id: int) -> str:
    return f"2fa:{user_id}"


def device_password_key(device_id: int) -> str:
    """Wrong passwords from one remembered browser (it skips the account's key: domain.throttle)."""
    return f"pwdev:{device_id}"


def client_password_key(ip: str) -> str | None:
    """Wrong passwords from one client address, across accounts; an IPv6 client by its /64 (one
    subscriber's prefix: rotating addresses inside it gains nothing). None without an address."""
    ip = ip.strip()
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return f"pwip:{ip[:64]}"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"pwip:{address.ipv4_mapped}"
        return f"pwip:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"pwip:{address}"


_TABLE = cast(Table, Throttle.__table__)
# Prebuilt (compiled once): these run on every second-step check, the verification API's hot path,
# in a Session or in a raw transaction (``Database.raw_transaction``).
_BLOCKED_UNTIL = FastStatement(select(_TABLE.c.blocked_until).where(_TABLE.c.key == bindparam("throttle_key")))
_CLEAR = FastStatement(delete(_TABLE).where(_TABLE.c.key == bindparam("throttle_key")))
_STATE = FastStatement(select(_TABLE.c.key, _TABLE.c.blocked_until).where(_TABLE.c.key == bindparam("throttle_key")))
_BLOCK = FastStatement(
    update(_TABLE).where(_TABLE.c.key == bindparam("throttle_key")).values(blocked_until=bindparam("until"))
)


def _count_failure_statement(dialect: str) -> Executable:
    insert = insert_for(dialect)
    return (
        insert(_TABLE)
        .values(key=bindparam("throttle_key"), failures=1, blocked_until=None, updated_at=bindparam("now"))
        .on_conflict_do_update(
            index_elements=["key"], set_={"failures": _TABLE.c.failures + 1, "updated_at": bindparam("now")}
        )
        .returning(_TABLE.c.failures)
    )


_COUNT_FAILURE = FastStatement.by_dialect(_count_failure_statement)


def state(db: Executor, key: str, now: datetime) -> tuple[bool, int]:
    """(whether failures are on record, seconds still blocked) in one read."""
    row = _STATE.execute(db, {"throttle_key": key}).fetchone()
    if row is None:
        return False, 0
    blocked = as_datetime(row[1])
    return True, seconds_left(as_utc(blocked), now) if blocked else 0


def wait_seconds(db: Executor, key: str, now: datetime) -> int:
    blocked = blocked_until(db, key)
    if blocked is None:
        return 0
    return seconds_left(blocked, now)


def record_failure(db: Executor, key: str, now: datetime) -> int:
    """Atomically count one more failure; returns the new consecutive count."""
    failures = int(_COUNT_FAILURE.execute(db, {"throttle_key": key, "now": now}).fetchall()[0][0])
    delay = delay_after(failures)
    if delay:
        _BLOCK.execute(db, {"throttle_key": key, "until": now + delay})
    return failures


def clear(db: Executor, key: str) -> None:
    _CLEAR.execute(db, {"throttle_key": key})


def blocked_until(db: Executor, key: str) -> datetime | None:
    row = _BLOCKED_UNTIL.execute(db, {"throttle_key": key}).fetchone()
    blocked = as_datetime(row[0]) if row is not None else None
    return as_utc(blocked) if blocked else None


_CLIENT_STATE = FastStatement(
    select(_TABLE.c.failures, _TABLE.c.updated_at).where(_TABLE.c.key == bindparam("throttle_key"))
)


def _count_client_failure_statement(dialect: str) -> Executable:
    """One more wrong password for a client key; the count restarts after a quiet window."""
    insert = insert_for(dialect)
    return (
        insert(_TABLE)
        .values(key=bindparam("throttle_key"), failures=1, blocked_until=None, updated_at=bindparam("now"))
        .on_conflict_do_update(
            index_elements=["key"],
            set_={
                "failures": case(
                    (_TABLE.c.updated_at < bindparam("quiet_since"), 1), else_=_TABLE.c.failures + 1
                ),
                "updated_at": bindparam("now"),
            },
        )
        .returning(_TABLE.c.failures)
    )


_COUNT_CLIENT_FAILURE = FastStatement.by_dialect(_count_client_failure_statement)


def client_wait_seconds(db: Executor, key: str, now: datetime) -> int:
    """Seconds the client address behind ``key`` must still wait (domain.throttle.client_seconds_left)."""
    row = _CLIENT_STATE.execute(db, {"throttle_key": key}).fetchone()
    if row is None:
        return 0
    last = as_datetime(row[1])
    return client_seconds_left(int(row[0]), as_utc(last) if last else None, now)


def record_client_failure(db: Executor, key: str, now: datetime) -> int:
    """Count one wrong password from a client address; returns its count."""
    params = {"throttle_key": key, "now": now, "quiet_since": now - CLIENT_WINDOW}
    return int(_COUNT_CLIENT_FAILURE.execute(db, params).fetchall()[0][0])
