"""Persistence: SQLAlchemy 2 tables, the database handle (unit of work) and Alembic migrations."""
