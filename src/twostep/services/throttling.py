"""Per-account guess throttling kept in the database, so every worker process sees the same count."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import Executable

from twostep.domain.clock import as_utc
from twostep.domain.throttle import delay_after, seconds_left
from twostep.storage.database import Executor, FastStatement, as_datetime
from twostep.storage.models import Throttle


def password_key(email_digest: str) -> str:
    return f"pw:{email_digest[:40]}"


def second_step_key(user_id: int) -> str:
    return f"2fa:{user_id}"


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
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
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
