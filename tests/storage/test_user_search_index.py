"""The console's user search ("part of the address or name", ``LIKE '%…%'``) is served by trigram
indexes on PostgreSQL (migration 0007), and the migration goes on without them where ``pg_trgm``
may not be created."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, make_url, text, update
from sqlalchemy.orm import Session

from tests.storage.test_migrations import _drop_postgres_database, _fresh_postgres_database
from twostep.services.admin import user_list
from twostep.services.core import accounts
from twostep.services.core.context import Context
from twostep.storage.database import normalize_url
from twostep.storage.migrate import check, upgrade
from twostep.storage.models import User


def test_search_by_part_of_the_address_or_name_finds_the_accounts(ctx: Context) -> None:
    for email, name in [("ada.lovelace@example.com", "Ada Lovelace"), ("charles@example.com", "Charles BABBAGE"),
                        ("grace@example.org", "")]:
        user_id = accounts.create_user(ctx, email, None)
        with ctx.db.transaction() as db:
            db.execute(update(User).where(User.id == user_id).values(name=name))
    by_address = user_list.list_users(ctx, user_list.UserQuery(q="lovelace@"))
    by_name = user_list.list_users(ctx, user_list.UserQuery(q="babbage"))
    by_domain = user_list.list_users(ctx, user_list.UserQuery(q="example.com"))
    assert [row.email for row in by_address.rows] == ["ada.lovelace@example.com"]
    assert [row.email for row in by_name.rows] == ["charles@example.com"]
    assert [row.email for row in by_domain.rows] == ["ada.lovelace@example.com", "charles@example.com"]


@pytest.mark.postgres
def test_search_uses_the_trigram_indexes_on_postgresql(postgres_url: str) -> None:
    engine = create_engine(normalize_url(postgres_url))
    with Session(engine) as db:
        db.execute(text("SET LOCAL enable_seqscan = off"))  # a tiny table: make the planner show its options
        query = user_list.UserQuery(q="lovelace")
        statement = user_list._filtered(None, db, query, datetime.now(UTC))  # type: ignore[arg-type]
        compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
        plan = "\n".join(row[0] for row in db.execute(text(f"EXPLAIN {compiled}")))
    engine.dispose()
    assert "ix_users_email_trgm" in plan and "ix_users_name_trgm" in plan, plan


@pytest.mark.postgres
def test_without_the_right_to_create_pg_trgm_the_migration_goes_on_without_the_indexes(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A database user that may create tables but not extensions (no CREATE on the database)."""
    name, role = f"twostep_no_trgm_{os.getpid()}", f"twostep_no_trgm_{os.getpid()}"
    url = _fresh_postgres_database(postgres_url, name)
    admin = create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'REVOKE CREATE ON DATABASE "{name}" FROM PUBLIC'))
        conn.execute(text(f'GRANT ALL ON SCHEMA public TO "{role}"'))
    limited = make_url(url).set(username=role, password=None).render_as_string(hide_password=False)
    try:
        with caplog.at_level(logging.WARNING, logger="twostep"):
            upgrade(limited)
        check(limited)
        assert any("pg_trgm could not be created" in record.getMessage() for record in caplog.records)
        with admin.connect() as conn:
            indexes = set(conn.scalars(text("SELECT indexname FROM pg_indexes WHERE tablename = 'users'")))
        assert not {"ix_users_email_trgm", "ix_users_name_trgm"} & indexes and "uq_users_email" in indexes
    finally:
        admin.dispose()
        _drop_postgres_database(postgres_url, name)
        cleanup = create_engine(normalize_url(postgres_url), isolation_level="AUTOCOMMIT")
        with cleanup.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        cleanup.dispose()
