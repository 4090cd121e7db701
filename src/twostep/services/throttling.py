"""Per-account guess throttling kept in the database, so every worker process sees the same count."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, String, Table, bindparam, delete, literal, select, update
from sqlalchemy import cast as cast_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from twostep.domain.clock import as_utc
from twostep.domain.throttle import delay_after, seconds_left
from twostep.storage.database import FastStatement, as_datetime
from twostep.storage.models import Throttle


def password_key(email_digest: str) -> str:
    return f"pw:{email_digest[:40]}"


def second_step_key(user_id: int) -> str:
    return f"2fa:{user_id}"


def second_step_key_sql(user_id: ColumnElement[int]) -> ColumnElement[str]:
    """``second_step_key`` in SQL, to join an account with its throttle row in one statement."""
    return literal("2fa:", String) + cast_(user_id, String)


_TABLE = cast(Table, Throttle.__table__)
# Prebuilt (compiled once): these run on every second-step check, the verification API's hot path.
_BLOCKED_UNTIL = select(_TABLE.c.blocked_until).where(_TABLE.c.key == bindparam("throttle_key"))
_CLEAR = delete(_TABLE).where(_TABLE.c.key == bindparam("throttle_key"))


_STATE = FastStatement(select(_TABLE.c.key, _TABLE.c.blocked_until).where(_TABLE.c.key == bindparam("throttle_key")))


def state(db: Session, key: str, now: datetime) -> tuple[bool, int]:
    """(whether failures are on record, seconds still blocked) in one read."""
    row = _STATE.execute(db, {"throttle_key": key}).fetchone()
    if row is None:
        return False, 0
    blocked = as_datetime(row[1])
    return True, seconds_left(as_utc(blocked), now) if blocked else 0


def wait_seconds(db: Session, key: str, now: datetime) -> int:
    blocked = db.execute(_BLOCKED_UNTIL, {"throttle_key": key}).scalar_one_or_none()
    if blocked is None:
        return 0
    return seconds_left(as_utc(blocked), now)


def record_failure(db: Session, key: str, now: datetime) -> int:
    """Atomically count one more failure; returns the new consecutive count."""
    dialect = db.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(Throttle)
        .values(key=key, failures=1, blocked_until=None, updated_at=now)
        .on_conflict_do_update(
            index_elements=["key"], set_={"failures": Throttle.failures + 1, "updated_at": now}
        )
        .returning(Throttle.failures)
    )
    failures = int(db.execute(statement).scalar_one())
    delay = delay_after(failures)
    if delay:
        db.execute(update(Throttle).where(Throttle.key == key).values(blocked_until=now + delay))
    return failures


def clear(db: Session, key: str) -> None:
    db.execute(_CLEAR, {"throttle_key": key})


def blocked_until(db: Session, key: str) -> datetime | None:
    row = db.execute(_BLOCKED_UNTIL, {"throttle_key": key}).scalar_one_or_none()
    return as_utc(row) if row else None
