"""The hot path's raw statements (``Database.raw_statements`` / ``raw_transaction``, libpq on PostgreSQL)
against both real databases: values come back as the ORM would give them, errors are the driver's,
a transaction is all or nothing, and a connection the server dropped is replaced."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import Table, bindparam, insert, select, text

from twostep.storage.database import Database, FastStatement, as_datetime
from twostep.storage.models import AuditEvent, Factor, User

USERS: Table = User.__table__  # type: ignore[assignment]
FACTORS: Table = Factor.__table__  # type: ignore[assignment]
AUDIT: Table = AuditEvent.__table__  # type: ignore[assignment]

ADD_USER = FastStatement(
    insert(USERS)
    .values(
        email=bindparam("email"),
        name="",
        created_at=bindparam("at"),
        sign_in_count=0,
        must_enroll=bindparam("must_enroll"),
        grace_sign_ins=0,
        password_imported=False,
    )
    .returning(USERS.c.id)
)
ADD_FACTOR = FastStatement(
    insert(FACTORS)
    .values(
        user_id=bindparam("user_id"),
        kind="totp",
        label="",
        secret_sealed=bindparam("sealed"),
        created_at=bindparam("at"),
        confirmed_at=bindparam("at"),
        last_used_step=bindparam("step"),
    )
    .returning(FACTORS.c.id)
)
READ = FastStatement(
    select(
        USERS.c.id,
        USERS.c.email,
        USERS.c.language,
        USERS.c.must_enroll,
        FACTORS.c.secret_sealed,
        FACTORS.c.last_used_step,
        FACTORS.c.confirmed_at,
    )
    .join(FACTORS, FACTORS.c.user_id == USERS.c.id)
    .where(USERS.c.email == bindparam("email"))
)
NOW = datetime(2026, 11, 22, 3, 4, 5, 678901, tzinfo=UTC)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def add_user(db: Database, email: str, sealed: bytes, step: int | None) -> int:
    with db.raw_transaction() as tx:
        user_id = int(ADD_USER.execute(tx, {"email": email, "at": NOW, "must_enroll": True}).fetchall()[0][0])
        ADD_FACTOR.execute(tx, {"user_id": user_id, "sealed": sealed, "at": NOW, "step": step})
    return user_id


def test_raw_statements_read_back_what_they_wrote_with_the_right_types(db: Database) -> None:
    sealed = bytes(range(256)) + b"\\x00'\""  # every byte value, escapes included
    user_id = add_user(db, "zoë@example.com", sealed, 58_000_000_123)
    with db.raw_statements() as tx:
        row = READ.execute(tx, {"email": "zoë@example.com"}).fetchone()
        missing = READ.execute(tx, {"email": "nobody@example.com"}).fetchall()
    assert row is not None and missing == []
    got_id, email, language, must_enroll, got_sealed, step, confirmed = row
    assert (got_id, email, language, got_sealed, step) == (user_id, "zoë@example.com", None, sealed, 58_000_000_123)
    assert must_enroll in (True, 1)
    confirmed_at = as_datetime(confirmed)
    assert confirmed_at is not None and confirmed_at.replace(tzinfo=None) == NOW.replace(tzinfo=None)


def test_a_raw_transaction_is_all_or_nothing_and_errors_are_the_drivers(db: Database) -> None:
    add_user(db, "ada@example.com", b"x", None)
    unique = (psycopg.errors.UniqueViolation, sqlite3.IntegrityError)
    with pytest.raises(unique) as caught, db.raw_transaction() as tx:
        ADD_USER.execute(tx, {"email": "bob@example.com", "at": NOW, "must_enroll": False})
        ADD_USER.execute(tx, {"email": "ada@example.com", "at": NOW, "must_enroll": False})  # unique: refused
    assert "unique" in str(caught.value).lower()
    with db.raw_statements() as tx:
        assert READ.execute(tx, {"email": "bob@example.com"}).fetchall() == [], "bob was rolled back"
    add_user(db, "bob@example.com", b"y", None)  # the connection is usable again
    with db.raw_statements() as tx:
        assert len(READ.execute(tx, {"email": "bob@example.com"}).fetchall()) == 1


@pytest.mark.postgres
def test_a_connection_the_server_dropped_is_replaced(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        with db.engine.begin() as conn:
            conn.execute(text("TRUNCATE users RESTART IDENTITY CASCADE"))
        add_user(db, "eve@example.com", b"z", 1)
        with db.raw_statements() as tx:
            backend = tx.connection.pgconn.backend_pid
        with db.engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        with pytest.raises(psycopg.OperationalError), db.raw_statements() as tx:
            READ.execute(tx, {"email": "eve@example.com"})
        with db.raw_statements() as tx:  # a new connection
            assert tx.connection.pgconn.backend_pid != backend
            assert len(READ.execute(tx, {"email": "eve@example.com"}).fetchall()) == 1
    finally:
        db.dispose()
