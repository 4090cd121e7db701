"""Alembic, driven from code so `twostep migrate` works from any directory.

Any number of instances may start at once on the same database: ``upgrade`` holds a lock for the
whole upgrade (a PostgreSQL session advisory lock; on SQLite an flock on a file beside the database),
so one instance migrates and the others wait, then find the schema at head and do nothing. Without
it, two instances on an empty PostgreSQL database both created the tables and one exited with
``UniqueViolation`` on ``alembic_version``.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, pool, text

from twostep.storage.database import normalize_url, secure_sqlite_file

MIGRATIONS = Path(__file__).parent / "migrations"
#: The PostgreSQL advisory lock key held while migrating (``'twostep'`` in ASCII, as a bigint).
MIGRATION_LOCK_KEY = int.from_bytes(b"twostep", "big")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


@contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """Held around an upgrade: one migrating instance at a time per database."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if not path or path == ":memory:":
            yield
            return
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{path}.migratelock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock
        return
    if not url.startswith("postgresql"):
        yield
        return
    engine = create_engine(url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
    finally:
        engine.dispose()


def upgrade(url: str) -> None:
    secure_sqlite_file(url)
    with migration_lock(url):
        command.upgrade(alembic_config(url), "head")


def check(url: str) -> None:
    """Raises when the models and the migrations disagree (`alembic check`)."""
    command.check(alembic_config(url))


def database_state(url: str) -> str:
    """``"missing"`` (no SQLite file, or no such PostgreSQL database), ``"empty"`` (reachable but never
    migrated) or ``"ready"``; looking never creates anything."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.exc import OperationalError

    normalized = normalize_url(url)
    if normalized.startswith("sqlite"):
        path = normalized.split("///", 1)[-1]
        if path in ("", ":memory:"):
            return "empty"
        if not Path(path).exists():
            return "missing"
    engine = create_engine(normalized)
    try:
        with engine.connect() as connection:
            return "ready" if inspect(connection).has_table("alembic_version") else "empty"
    except OperationalError as error:
        if "does not exist" in str(error):
            return "missing"
        raise
    finally:
        engine.dispose()
