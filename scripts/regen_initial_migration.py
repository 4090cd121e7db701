"""Regenerate the initial migration from the models (allowed only until the first release).

Usage: .venv/bin/python scripts/regen_initial_migration.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command

from twostep.storage.migrate import MIGRATIONS, alembic_config

target = MIGRATIONS / "versions" / "0001_initial_schema.py"
target.unlink(missing_ok=True)
with tempfile.TemporaryDirectory() as tmp:
    command.revision(alembic_config(f"sqlite:///{Path(tmp) / 'gen.db'}"), message="initial schema",
                     autogenerate=True, rev_id="0001")
print(f"wrote {target}")
