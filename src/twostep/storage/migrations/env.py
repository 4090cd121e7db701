"""Alembic environment: the models' metadata is the target; SQLite uses batch mode."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from twostep.storage.models import Base


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """PostgreSQL-only search indexes (migration 0007, ``*_trgm``) are not in the models: SQLite has no
    equivalent, so ``alembic check`` must not ask to drop them."""
    return not (type_ == "index" and reflected and (name or "").endswith("_trgm"))


config = context.config
url = config.get_main_option("sqlalchemy.url") or ""
engine = create_engine(url, poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
engine.dispose()
