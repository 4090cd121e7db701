"""SQLite backups and restores, and the lock that tells a restore the server is running.

A backup uses SQLite's online backup API (``sqlite3.Connection.backup``, all pages in one step): a
consistent snapshot of every committed transaction at the moment it starts, taken while the server
keeps writing (in WAL mode a reader never blocks the writer). A restore copies a validated backup
back the same way, through SQLite, so the database's WAL is handled correctly.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from alembic.script import ScriptDirectory

from twostep.storage.database import normalize_url, secure_sqlite_file
from twostep.storage.migrate import alembic_config


class BackupError(ValueError):
    """A backup or restore that can't be done; the message says why and what to do."""


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for any other database."""
    url = normalize_url(url)
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def known_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return {revision.revision for revision in script.walk_revisions()} or set()


def _private_temporary(target: Path) -> Path:
    temporary = target.with_name(f".{target.name}.partial-{os.getpid()}")
    with suppress(FileNotFoundError):
        temporary.unlink()
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return temporary


def copy_database(source: Path, target: Path) -> None:
    """Copy ``source`` into ``target`` through SQLite's backup API: written next to the target and
    renamed at the end (0600), so a failed copy leaves no half file."""
    temporary = _private_temporary(target)
    try:
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(temporary) as dst:
            src.backup(dst)
        src.close()
        dst.close()
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def backup(url: str, target: Path) -> None:
    source = sqlite_path(url)
    if source is None:
        raise BackupError(
            "twostep backup copies SQLite databases only; for PostgreSQL use pg_dump "
            "(e.g. pg_dump --format=custom --file=twostep.dump DBNAME) and pg_restore"
        )
    if not source.exists():
        raise BackupError(f"no database at {source}")
    if target.resolve() == source.resolve():
        raise BackupError("the backup file can't be the database itself")
    copy_database(source, target)


def validate(path: Path) -> str:
    """The migration revision of a twostep backup file; ``BackupError`` if it is not one."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            if conn.execute("PRAGMA quick_check").fetchone() != ("ok",):
                raise BackupError(f"{path}: the database file is damaged (PRAGMA quick_check failed)")
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"alembic_version", "users", "factors", "api_keys"} <= tables:
                raise BackupError(f"{path}: not a twostep database (its tables are missing)")
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        conn.close()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path}: not a SQLite database ({error})") from error
    if row is None or row[0] not in known_revisions():
        raise BackupError(f"{path}: unknown migration revision {row[0] if row else None!r} (from a newer twostep?)")
    return str(row[0])


def serving_lock_path(database: Path) -> Path:
    return Path(f"{database}.serving")


@contextmanager
def serving(url: str) -> Iterator[None]:
    """Held (shared) by a running server for its lifetime: several servers may share it, a restore
    can't take it exclusively while any runs. Forked worker processes inherit it."""
    database = sqlite_path(url)
    if database is None:
        yield
        return
    secure_sqlite_file(url)
    fd = os.open(serving_lock_path(database), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def hold_serving_lock(url: str) -> int | None:
    """``serving`` for the life of the process (an ASGI factory has no end to wrap): the fd to keep."""
    database = sqlite_path(url)
    if database is None:
        return None
    secure_sqlite_file(url)
    fd = os.open(serving_lock_path(database), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


@contextmanager
def server_stopped(url: str, *, force: bool) -> Iterator[None]:
    """Exclusive while restoring: refuses when a server holds the serving lock (unless ``force``)."""
    database = sqlite_path(url)
    assert database is not None
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(serving_lock_path(database), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            if not force:
                raise BackupError(
                    "a twostep server is running on this database; stop it first (or use --force, "
                    "and restart every server right after)"
                ) from error
        yield
    finally:
        os.close(fd)


def restore_file(source: Path, url: str) -> None:
    """Copy a validated backup over the configured SQLite database."""
    database = sqlite_path(url)
    if database is None:
        raise BackupError("twostep restore restores SQLite databases only; for PostgreSQL use pg_restore")
    secure_sqlite_file(url)
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(database) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    secure_sqlite_file(url)

