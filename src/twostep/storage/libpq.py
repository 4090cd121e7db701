"""Prepared statements straight through libpq (psycopg's ``pgconn``) for the verification API's hot path.

psycopg's cursor is written in Python: for each statement it converts the query, adapts every
parameter through its adapter maps, drives a generator through the wait loop and builds the rows;
measured here about 0.15–0.2 ms of CPU per statement, more than PostgreSQL spent running it. On the
hot path (``Database.raw_statements`` / ``raw_transaction`` on PostgreSQL) a ``FastStatement`` is
prepared once per connection and run with ``PQexecPrepared`` in text format instead, with the few
types these statements use encoded and decoded here. Everything else keeps using psycopg normally.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from psycopg import errors, pq

_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)


def _bytea(value: bytes) -> bytes:
    return bytes.fromhex(value[2:].decode()) if value.startswith(b"\\x") else value


def _text(value: bytes) -> str:
    return value.decode()


def _timestamp(value: bytes) -> datetime:
    return datetime.fromisoformat(value.decode())


# Text-format decoders by type OID: the types the hot-path statements read.
DECODERS: dict[int, Callable[[bytes], Any]] = {
    16: lambda value: value == b"t",  # bool
    17: _bytea,
    20: int,  # int8
    21: int,  # int2
    23: int,  # int4
    25: _text,  # text
    1043: _text,  # varchar
    1042: _text,  # bpchar
    1114: _timestamp,  # timestamp
    1184: _timestamp,  # timestamptz
}


def encode(value: Any) -> bytes | None:
    """A parameter in PostgreSQL's text format (the statement's casts give the types)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, datetime):
        return value.isoformat().encode()
    if isinstance(value, bytes):
        return b"\\x" + value.hex().encode()
    return str(value).encode()


class Result:
    """What callers of ``FastStatement.execute`` use of a cursor: ``fetchone``, ``fetchall``, ``rowcount``."""

    __slots__ = ("_next", "rowcount", "rows")

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount
        self._next = 0

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._next >= len(self.rows):
            return None
        self._next += 1
        return self.rows[self._next - 1]

    def fetchall(self) -> list[tuple[Any, ...]]:
        rest, self._next = self.rows[self._next :], len(self.rows)
        return rest


def run(connection: Any, name: bytes, sql: bytes, args: list[Any]) -> Result:
    """Run ``sql`` (``$n`` placeholders) as the prepared statement ``name`` on a psycopg connection,
    preparing it on first use on this connection."""
    prepared: set[bytes] | None = getattr(connection, "_twostep_prepared", None)
    if prepared is None:
        prepared = set()
        connection._twostep_prepared = prepared
        for setting in (b"SET datestyle TO ISO", b"SET bytea_output TO hex"):  # what the decoders read
            _check(connection.pgconn, connection.pgconn.exec_(setting))
    pgconn = connection.pgconn
    if name not in prepared:
        _check(pgconn, pgconn.prepare(name, sql, None))
        prepared.add(name)
    result = pgconn.exec_prepared(name, [encode(arg) for arg in args])
    _check(pgconn, result)
    if result.status != pq.ExecStatus.TUPLES_OK:
        return Result([], result.command_tuples or 0)
    decoders = [DECODERS.get(result.ftype(column), _text) for column in range(result.nfields)]
    rows = []
    for row in range(result.ntuples):
        values = []
        for column, decode in enumerate(decoders):
            raw = result.get_value(row, column)
            values.append(None if raw is None else decode(raw))
        rows.append(tuple(values))
    return Result(rows, result.command_tuples or len(rows))


def execute(connection: Any, command: bytes) -> None:
    """A statement without parameters or result (BEGIN, COMMIT, ROLLBACK)."""
    _check(connection.pgconn, connection.pgconn.exec_(command))


def _check(pgconn: Any, result: Any) -> None:
    """Errors as psycopg raises them: the server's by SQLSTATE, a lost connection as OperationalError."""
    if result.status in _OK:
        return
    if pgconn.status != pq.ConnStatus.OK:
        raise errors.OperationalError(pgconn.get_error_message() or "the connection to PostgreSQL was lost")
    raise errors.error_from_result(result, encoding="utf-8")
