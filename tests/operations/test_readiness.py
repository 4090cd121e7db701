"""`/readyz` checks what serving needs (issue 12, item 19): a database that takes writes, and Redis
when it is configured; a 503 names the failing part."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from tests.real_servers import RedisServer, redis_server
from twostep.app import create_app
from twostep.services.core.context import Context
from twostep.settings import load_settings
from twostep.storage import database


def test_readyz_is_ready_when_every_part_works(client: TestClient) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ready", "database": "ok"}


def test_readyz_is_not_ready_when_the_database_refuses_writes(client: TestClient, ctx: Context) -> None:
    """A database that still answers reads but refuses every write (a read-only SQLite file, a
    PostgreSQL standby) was reported ready while every sign-in failed."""
    pragma = "PRAGMA query_only = ON" if ctx.db.is_sqlite else "SET default_transaction_read_only = on"

    def read_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(pragma)
        cursor.close()
        dbapi_connection.commit()  # PostgreSQL: a SET in a rolled-back transaction is undone

    event.listen(ctx.db.engine, "connect", read_only)
    ctx.db.engine.dispose()
    answer = client.get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "not ready" and body["failing"] == ["database"]
    assert "read" in body["database"].lower() and "only" in body["database"].lower()


def test_readyz_is_not_ready_when_the_sqlite_directory_is_full(
    tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rolled-back write never reaches the disk, so the free space is what shows a full disk."""
    target = tmp_path / "db" / "twostep.db"
    target.parent.mkdir()
    shutil.copy(sqlite_template, target)
    settings = load_settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{target}")
    real = shutil.disk_usage

    def full(path: Any) -> Any:
        usage = real(path)
        return type(usage)(usage.total, usage.total, 0)

    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.get("/readyz").status_code == 200
        monkeypatch.setattr(database.shutil, "disk_usage", full)
        answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["failing"] == ["database"]
    assert answer.json()["database"] == f"no space left in {target.parent} (0 bytes free)"


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as server:
        yield server


def test_readyz_is_not_ready_while_the_configured_redis_is_down(ctx: Context, redis: RedisServer) -> None:
    ctx.settings = ctx.settings.model_copy(update={"redis_url": redis.url})
    with TestClient(create_app(ctx.settings, context=ctx), raise_server_exceptions=False) as client:
        assert client.get("/readyz").json() == {"status": "ready", "database": "ok", "redis": "ok"}
        redis.kill()
        down = client.get("/readyz")
        assert down.status_code == 503
        assert down.json() == {
            "status": "not ready",
            "database": "ok",
            "redis": "unreachable",
            "failing": ["redis"],
        }
        # For load balancers: every instance shares the one Redis and serves on the database meanwhile.
        optional = client.get("/readyz?redis=optional")
        assert optional.status_code == 200
        assert optional.json() == {"status": "ready", "database": "ok", "redis": "unreachable"}
        redis.start()
        assert client.get("/readyz").status_code == 200


def test_readyz_names_an_unreachable_database(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "other", database_url="postgresql://postgres@127.0.0.1:1/none")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["failing"] == ["database"] and "OperationalError" in answer.json()["database"]
