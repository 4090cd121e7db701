"""Migrations: an empty database upgrades to head and matches the models (`alembic check`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from twostep.storage.database import normalize_url
from twostep.storage.migrate import check, upgrade
from twostep.storage.models import Base


def test_migrations_match_the_models(database_url: str) -> None:
    upgrade(database_url)
    check(database_url)
    engine = create_engine(normalize_url(database_url))
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert set(Base.metadata.tables) <= tables


def test_upgrade_of_an_empty_sqlite_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    check(url)
    upgrade(url)  # idempotent


def _fresh_postgres_database(postgres_url: str, name: str) -> str:
    admin = create_engine(normalize_url(postgres_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{postgres_url.rsplit('/', 1)[0]}/{name}"


def _drop_postgres_database(postgres_url: str, name: str) -> None:
    admin = create_engine(normalize_url(postgres_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _upgrade_in_a_process(url: str) -> subprocess.Popen[str]:
    script = "import sys; from twostep.storage.migrate import upgrade; upgrade(sys.argv[1])"
    return subprocess.Popen(
        [sys.executable, "-c", script, url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.mark.postgres
def test_instances_started_at_once_on_an_empty_postgresql_database_all_migrate(postgres_url: str) -> None:
    name = f"twostep_migrate_race_{os.getpid()}"
    url = _fresh_postgres_database(postgres_url, name)
    try:
        processes = [_upgrade_in_a_process(url) for _ in range(4)]
        outputs = [(p.wait(timeout=120), p.stdout.read() if p.stdout else "") for p in processes]
        assert [code for code, _ in outputs] == [0, 0, 0, 0], "\n".join(out for _, out in outputs)[-3000:]
        check(url)
    finally:
        _drop_postgres_database(postgres_url, name)


def test_instances_started_at_once_on_an_empty_sqlite_file_all_migrate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    processes = [_upgrade_in_a_process(url) for _ in range(4)]
    outputs = [(p.wait(timeout=120), p.stdout.read() if p.stdout else "") for p in processes]
    assert [code for code, _ in outputs] == [0, 0, 0, 0], "\n".join(out for _, out in outputs)[-3000:]
    check(url)
