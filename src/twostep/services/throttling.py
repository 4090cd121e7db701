"""Per-account guess throttling kept in the database, so every worker process sees the same count."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from twostep.domain.clock import as_utc
from twostep.domain.throttle import delay_after, seconds_left
from twostep.storage.models import Throttle


def password_key(email_digest: str) -> str:
    return f"pw:{email_digest[:40]}"


def second_step_key(user_id: int) -> str:
    return f"2fa:{user_id}"


def wait_seconds(db: Session, key: str, now: datetime) -> int:
    row = db.get(Throttle, key)
    if row is None or row.blocked_until is None:
        return 0
    return seconds_left(as_utc(row.blocked_until), now)


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
    db.execute(delete(Throttle).where(Throttle.key == key))


def blocked_until(db: Session, key: str) -> datetime | None:
    row = db.execute(select(Throttle.blocked_until).where(Throttle.key == key)).scalar_one_or_none()
    return as_utc(row) if row else None
