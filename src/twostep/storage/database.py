"""The database handle: engine set-up (SQLite WAL + foreign keys) and one transaction per use case."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import ColumnElement, Engine, Executable, any_, bindparam, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.util import identity_key

from twostep.storage import libpq

log = logging.getLogger("twostep.database")

#: Connecting to PostgreSQL gives up after this many seconds (a dropped, not refused, connection).
CONNECT_TIMEOUT_SECONDS = 5
#: ``/readyz`` reports the SQLite directory as full below this much free space.
MIN_FREE_BYTES = 1024 * 1024
# SQLite errors that mean "storage unavailable right now", not "a bug in a statement".
_SQLITE_UNAVAILABLE = ("locked", "disk", "readonly", "read-only", "unable to open", "i/o")


def normalize_url(url: str) -> str:
    """Plain postgresql:// URLs use psycopg 3 (the driver we ship)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.removeprefix("postgres://")
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal", ".writelock")


def secure_sqlite_file(url: str) -> None:
    """A SQLite database is created 0600 (SQLite gives its WAL and shared-memory files the database
    file's mode), and an existing one with looser modes is tightened, companions included: it holds
    password hashes and sealed seeds. A directory that does not exist yet is created 0700."""
    url = normalize_url(url)
    if not url.startswith("sqlite"):
        return
    path = url.split("///", 1)[-1].split("?", 1)[0]
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    database = Path(path)
    if not database.parent.exists():
        database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not database.exists():
        with suppress(FileExistsError):
            os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for suffix in SQLITE_COMPANIONS:
        companion = Path(f"{database}{suffix}")
        with suppress(FileNotFoundError, PermissionError):
            mode = companion.stat().st_mode & 0o777
            if mode & 0o077:
                companion.chmod(mode & 0o700)


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        secure_sqlite_file(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            # Writers queue up instead of failing with "database is locked" on upgrade.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        @event.listens_for(engine, "connect")
        def _no_pysqlite_begin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        return engine
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_SECONDS} if url.startswith("postgresql") else {}
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, connect_args=connect_args)


def is_unavailable(error: BaseException) -> bool:
    """Does ``error`` (or what caused it) say the database cannot be used right now — PostgreSQL down
    or restarting, a lost connection, the pool exhausted, SQLite locked, read-only or out of disk — as
    opposed to a mistake in a statement? Such errors are answered 503 ("try again"), not 500."""
    seen: BaseException | None = error
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, sa_exc.DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, sa_exc.TimeoutError):  # no pooled connection came free
            return True
        if isinstance(seen, sa_exc.DBAPIError) and seen.orig is not None:
            seen = seen.orig
            continue
        if type(seen).__module__.startswith("psycopg"):
            import psycopg

            return isinstance(seen, psycopg.OperationalError | psycopg.InterfaceError)
        if isinstance(seen, sqlite3.OperationalError):
            return any(word in str(seen).lower() for word in _SQLITE_UNAVAILABLE)
        seen = seen.__cause__ or seen.__context__
    return False


def _database_errors() -> tuple[type[Exception], ...]:
    import psycopg

    return (sa_exc.DBAPIError, sa_exc.TimeoutError, sqlite3.Error, psycopg.Error)


#: The exception classes a database failure arrives as (SQLAlchemy's wrappers and the drivers' own).
DATABASE_ERRORS = _database_errors()


class Outage:
    """Whether the database is reachable, as requests find out: one log line when it goes away, one
    when it is back (with how long it was gone), instead of a traceback for every request."""

    def __init__(self) -> None:
        self.down_since: float | None = None
        self._lock = threading.Lock()

    def failed(self, error: BaseException) -> None:
        with self._lock:
            if self.down_since is not None:
                return
            # As in RedisBreaker: the line is written before the state change anyone can observe.
            log.error("database unavailable (%s); answering 503 until it is back", one_line(error))
            self.down_since = time.monotonic()

    def recovered(self) -> None:
        with self._lock:
            if self.down_since is None:
                return
            log.warning("database is back after %.1f s", time.monotonic() - self.down_since)
            self.down_since = None


def one_line(error: BaseException) -> str:
    """An error as one short log or console line: its type and message, never a traceback."""
    cause = error.orig if isinstance(error, sa_exc.DBAPIError) and error.orig is not None else error
    text_ = " ".join(str(cause).split())[:200]
    return f"{type(cause).__name__}: {text_}" if text_ else type(cause).__name__


class RawTransaction:
    """A transaction straight on a DBAPI connection (``Database.raw_transaction``), for the verification
    API's hot path: no Session, no pool checkout, no ORM events. Only ``FastStatement`` runs on it."""

    __slots__ = ("after_commit", "connection", "dialect")

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self.connection = connection
        self.dialect = dialect
        self.after_commit: list[Callable[[], object]] = []

    def cursor(self) -> Any:
        return self.connection.cursor()


# What the hot-path services accept: the ORM unit of work, or a raw transaction.
Executor = Session | RawTransaction


def after_commit(db: Executor, callback: Callable[[], object]) -> None:
    """The one after-commit mechanism: ``callback`` runs once ``db``'s transaction has committed, and
    never if it rolls back (a notice must never announce a change that did not happen). Both
    ``Database.transaction`` and ``Database.raw_transaction`` run them after their commit, in order;
    the verification API's event loop adds none (its notices go back to the web layer, sent after the
    answer in a worker thread)."""
    if isinstance(db, RawTransaction):
        db.after_commit.append(callback)
    else:
        db.info.setdefault("after_commit", []).append(callback)


def insert_for(dialect_or_db: str | Session) -> Callable[[Any], PgInsert]:
    """The ``insert`` construct with ``on_conflict_do_*`` for this database (PostgreSQL's or
    SQLite's, which take the same arguments): upserts are written once in the services, the dialect
    is chosen here."""
    name = dialect_or_db if isinstance(dialect_or_db, str) else dialect_or_db.get_bind().dialect.name
    return pg_insert if name == "postgresql" else cast(Callable[[Any], PgInsert], sqlite_insert)


def in_values(db: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values``, set-based: on PostgreSQL ``column = ANY(:array)``, one array parameter
    (one statement text for every batch size, and an index look-up per value; measured in
    ``services.importer``), elsewhere a plain ``IN``."""
    if db.get_bind().dialect.name == "postgresql":
        return cast(ColumnElement[bool], column == any_(bindparam(None, list(values), type_=ARRAY(column.type))))
    return cast(ColumnElement[bool], column.in_(values))


def expire_loaded(db: Executor, model: type[Any], ids: Iterable[int], attributes: list[str]) -> None:
    """After a ``FastStatement`` changed rows behind the ORM's back: objects of ``model`` already loaded
    in this session show the new values (a raw transaction has no identity map: nothing to do)."""
    if isinstance(db, RawTransaction):
        return
    for ident in ids:
        loaded = db.identity_map.get(identity_key(model, ident))
        if loaded is not None:
            db.expire(loaded, attributes)


class FastStatement:
    """A prebuilt Core statement run straight on the DBAPI cursor of the session's connection.

    For the handful of statements on the verification API's hot path, where SQLAlchemy's
    per-execution machinery cost several times the database work. The statement is compiled by
    SQLAlchemy once per dialect, so the SQL sent is exactly the SQL it would send, inside the same
    transaction. Parameters go by bind name; datetimes are stored as SQLAlchemy stores them on
    SQLite (UTC text). Rows come back as plain tuples; ``as_datetime`` reads SQLite's datetime text.
    Pending ORM changes are flushed first, as autoflush would. ``FastStatement.by_dialect`` takes a
    builder for statements that differ per dialect (``INSERT … ON CONFLICT``).
    """

    def __init__(
        self,
        statement: Executable | None = None,
        *,
        column_keys: list[str] | None = None,
        builder: Callable[[str], Executable] | None = None,
    ) -> None:
        self.statement = statement
        self.builder = builder
        self.column_keys = column_keys
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}
        self._libpq: tuple[bytes, bytes, tuple[str, ...], dict[str, Any]] | None = None

    @classmethod
    def by_dialect(cls, builder: Callable[[str], Executable]) -> FastStatement:
        return cls(builder=builder)

    def _for(self, dialect: Dialect) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        found = self._compiled.get(dialect.name)
        if found is None:
            statement = self.builder(dialect.name) if self.builder is not None else self.statement
            compiled = statement.compile(dialect=dialect, column_keys=self.column_keys)  # type: ignore[union-attr]
            positions = tuple(compiled.positiontup) if compiled.positiontup else None
            defaults = {name: bind.value for name, bind in compiled.binds.items()}  # literals' values
            found = self._compiled[dialect.name] = (compiled.string, positions, defaults)
        return found

    def _for_libpq(self, dialect: Dialect) -> tuple[bytes, bytes, tuple[str, ...], dict[str, Any]]:
        found = self._libpq
        if found is None:
            numbered = type(dialect)(paramstyle="numeric_dollar")  # type: ignore[call-arg]  # $1, $2 … for libpq
            statement = self.builder(dialect.name) if self.builder is not None else self.statement
            compiled = statement.compile(dialect=numbered, column_keys=self.column_keys)  # type: ignore[union-attr]
            sql = compiled.string.encode()
            name = b"twostep_" + hashlib.sha256(sql).hexdigest()[:24].encode()
            defaults = {name_: bind.value for name_, bind in compiled.binds.items()}
            found = self._libpq = (name, sql, tuple(compiled.positiontup or ()), defaults)
        return found

    def execute(self, db: Executor, params: dict[str, Any]) -> Any:
        """Run with ``params``; returns the DBAPI cursor (``fetchone``, ``fetchall``, ``rowcount``)."""
        if isinstance(db, RawTransaction):
            dialect = db.dialect
            if dialect.name == "postgresql":  # prepared, straight through libpq (storage.libpq)
                name, prepared_sql, names, literals = self._for_libpq(dialect)
                args = {**literals, **params} if literals else params
                return libpq.run(db.connection, name, prepared_sql, [args[n] for n in names])
            cursor = db.cursor()
        else:
            if db.new or db.dirty or db.deleted:
                db.flush()
            connection = db.connection()
            dialect = connection.dialect
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        sql, positions, defaults = self._for(dialect)
        values = {**defaults, **params} if defaults else params
        sqlite = dialect.name == "sqlite"
        if positions is not None:  # SQLite's qmark style
            cursor.execute(sql, [_sqlite_value(values[n]) if sqlite else values[n] for n in positions])
        else:
            cursor.execute(sql, {k: _sqlite_value(v) for k, v in values.items()} if sqlite else values)
        return cursor


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):  # SQLAlchemy's SQLite DATETIME storage format (the offset dropped)
        return value.replace(tzinfo=None).isoformat(" ", "microseconds")
    return value


def as_datetime(value: Any) -> datetime | None:
    """A datetime column read by ``FastStatement``: SQLite gives text, PostgreSQL a datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


class SqliteWriteLock:
    """One SQLite writer at a time, across threads (an RLock) and processes (flock on a file beside
    the database). A waiting writer sleeps in the kernel and wakes as soon as the lock is free,
    instead of polling in SQLite's busy handler, whose naps (1, 2, 5, 10 … 100 ms) gave several
    worker processes long tail latencies under load."""

    def __init__(self, database_path: str) -> None:
        self._path = f"{database_path}.writelock"
        self._thread_lock = threading.RLock()
        self._fd: int | None = None
        self._depth = 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._thread_lock:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fd = self._fd
            if self._depth == 0:
                fcntl.flock(fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    fcntl.flock(fd, fcntl.LOCK_UN)


class Database:
    """Owns the engine; ``transaction()`` is the unit of work: commit once at the end or roll back.

    Callables appended to ``session.info["after_commit"]`` run only after a successful commit
    (notifications: a message must never announce something that was rolled back).
    """

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        path = self.url.split("///", 1)[-1] if self.url.startswith("sqlite") else ""
        self._write_lock = SqliteWriteLock(path) if path and path != ":memory:" else None
        self._held = threading.local()
        self._held_all: list[Any] = []
        self._held_lock = threading.Lock()
        self.outage = Outage()
        self.sqlite_path = path if path and path != ":memory:" else ""

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def product(self) -> str:
        """The database's name for people ("PostgreSQL", "SQLite"): the console's health panel."""
        return "SQLite" if self.is_sqlite else "PostgreSQL"

    @property
    def concurrent_writers(self) -> bool:
        """Several transactions may write at once (PostgreSQL), rather than one writer at a time
        behind a lock (SQLite): the verification API picks its strategy by this, not by name."""
        return not self.is_sqlite

    def refresh_statistics(self, tables: Sequence[str]) -> None:
        """Let the planner see the tables' real size (PostgreSQL ``ANALYZE``; nothing to do on SQLite)."""
        if self.is_sqlite:
            return
        with self.transaction() as db:
            db.execute(text("ANALYZE " + ", ".join(tables)))

    def _writer(self) -> AbstractContextManager[None]:
        return self._write_lock.hold() if self._write_lock is not None else nullcontext()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        session = self._sessions()
        with self._writer():
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()
        if self.outage.down_since is not None:
            self.outage.recovered()
        for callback in session.info.pop("after_commit", []):
            callback()

    def _held_connection(self) -> Any:
        """This thread's own pooled connection, kept between raw transactions (the event loop's,
        in a server worker), so the hot path skips the pool checkout and return."""
        held = getattr(self._held, "connection", None)
        if held is None:
            held = self._held.connection = self.engine.raw_connection()
            if self.engine.dialect.name == "postgresql":  # transactions are begun explicitly (libpq)
                held.driver_connection.autocommit = True  # type: ignore[union-attr]
            with self._held_lock:
                self._held_all.append(held)
        return held

    def _drop_held(self, held: Any) -> None:
        self._held.connection = None
        with self._held_lock:
            if held in self._held_all:
                self._held_all.remove(held)
        with suppress(Exception):  # already gone: nothing to give back
            held.invalidate()

    @contextmanager
    def raw_statements(self) -> Iterator[RawTransaction]:
        """Statements without a surrounding transaction, each atomic on its own (autocommit), on the
        held connection: no BEGIN or COMMIT round trips, and on SQLite no write lock — for reads there,
        and on PostgreSQL for statements that need no other statement to be atomic with them."""
        held = self._held_connection()
        connection = held.driver_connection
        try:
            yield RawTransaction(connection, self.engine.dialect)
        except BaseException:
            if getattr(connection, "closed", False) or getattr(connection, "broken", False):
                self._drop_held(held)
            raise
        if self.outage.down_since is not None:
            self.outage.recovered()

    @contextmanager
    def raw_transaction(self) -> Iterator[RawTransaction]:
        """One transaction without the ORM, for the verification API's hot path (``FastStatement``s
        only), holding SQLite's write lock. A connection that broke (a restarted PostgreSQL) is thrown
        away; the next call opens another."""
        held = self._held_connection()
        connection = held.driver_connection
        sqlite = self.engine.dialect.name == "sqlite"
        with self._writer():
            try:
                if sqlite:
                    connection.execute("BEGIN IMMEDIATE")
                else:
                    libpq.execute(connection, b"BEGIN")
                tx = RawTransaction(connection, self.engine.dialect)
                yield tx
                if sqlite:
                    connection.commit()
                else:
                    libpq.execute(connection, b"COMMIT")
            except BaseException:
                try:
                    if sqlite:
                        connection.rollback()
                    else:
                        libpq.execute(connection, b"ROLLBACK")
                except Exception:
                    self._drop_held(held)
                    raise
                if getattr(connection, "closed", False) or getattr(connection, "broken", False):
                    self._drop_held(held)
                raise
        if self.outage.down_since is not None:
            self.outage.recovered()
        for callback in tx.after_commit:
            callback()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def write_problem(self) -> str | None:
        """What keeps this database from taking writes, or None: ``/readyz``'s check. One row is
        written in a transaction that is rolled back (on SQLite under ``BEGIN IMMEDIATE`` and the
        write lock, so a read-only file, a locked database or a lost server all show), and on SQLite
        the free space of the database's directory is checked too (a rolled-back write never reaches
        the disk, so a full disk would not show otherwise)."""
        if self.sqlite_path:
            directory = os.path.dirname(os.path.abspath(self.sqlite_path))
            try:
                free = shutil.disk_usage(directory).free
            except OSError as error:
                return f"cannot read {directory}: {error.strerror or error}"
            if free < MIN_FREE_BYTES:
                return f"no space left in {directory} ({free} bytes free)"
        from twostep.storage.models import RateCounter  # the smallest table; this row never commits

        try:
            with self._writer(), self.engine.connect() as conn:
                conn.execute(
                    RateCounter.__table__.insert().values(key="readyz:write-check", window_start=-1, count=0)  # type: ignore[attr-defined]
                )
                conn.rollback()
        except Exception as error:
            if is_unavailable(error):
                self.outage.failed(error)
            return one_line(error)
        if self.outage.down_since is not None:
            self.outage.recovered()
        return None

    def dispose(self) -> None:
        with self._held_lock:
            held_all, self._held_all = self._held_all, []
        for held in held_all:
            with suppress(Exception):  # best effort at shutdown
                held.close()
        self.engine.dispose()
