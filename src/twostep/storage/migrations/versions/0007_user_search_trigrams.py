"""User search at scale: trigram indexes for the console's "part of the address or name" search
(``LIKE '%…%'``, which no B-tree index can serve), on PostgreSQL when the ``pg_trgm`` extension can
be created; elsewhere nothing changes and search stays a scan (measured: about 1 s at 1M accounts).

``pg_trgm`` ships with PostgreSQL and is a trusted extension since PostgreSQL 13: the database's
owner may create it without being a superuser. If creating it is refused anyway, the migration goes
on without the indexes and says so; ``twostep migrate`` can be run again once an administrator has
run ``CREATE EXTENSION pg_trgm`` in the database.

The indexes are not in the models (SQLite has no equivalent): ``env.py`` leaves names ending in
``_trgm`` out of ``alembic check``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 15:10:00
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("twostep")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():  # a savepoint: a refusal must not abort the migration's transaction
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as error:
        log.warning(
            "pg_trgm could not be created (%s): the console's user search stays a full scan; "
            "run CREATE EXTENSION pg_trgm as the database owner, then twostep migrate again",
            " ".join(str(error.orig).split())[:200],
        )
        return
    op.execute("CREATE INDEX IF NOT EXISTS ix_users_email_trgm ON users USING gin (email gin_trgm_ops)")
    op.execute("CREATE INDEX IF NOT EXISTS ix_users_name_trgm ON users USING gin (lower(name) gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_users_name_trgm")
    op.execute("DROP INDEX IF EXISTS ix_users_email_trgm")
