"""Migrations: an empty database upgrades to head and matches the models (`alembic check`)."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

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
