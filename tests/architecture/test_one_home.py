"""One rule, one place: the after-commit mechanism, the CSV-injection guard and the tables of
user-facing messages each live in one module, and a source scan keeps it so."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

import twostep
from twostep.domain.spreadsheet import csv_row, safe_cell

SRC = Path(twostep.__file__).parent


def _lines(where: str = "") -> list[tuple[str, int, str]]:
    found = []
    for path in sorted((SRC / where).rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            found.append((relative, number, line.split("#", 1)[0]))
    return found


def test_notices_and_mail_wait_for_the_commit_through_one_mechanism() -> None:
    """Only ``storage.database`` knows where after-commit callbacks are kept; everything else calls
    ``after_commit`` (or ``notify.tell_after_commit`` / ``notice_after_commit``, built on it)."""
    offenders = [
        f"{module}:{number}: {code.strip()}"
        for module, number, code in _lines()
        if ('"after_commit"' in code or "db.info" in code) and module != "storage/database.py"
    ]
    assert offenders == []


def test_every_csv_export_is_written_by_the_one_guarded_writer() -> None:
    writers = {module for module, _, code in _lines() if "csv.writer" in code or "DictWriter" in code}
    assert writers == {"domain/spreadsheet.py"}


@pytest.mark.parametrize("cell", ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_a_cell_a_spreadsheet_would_run_is_written_as_text(cell: str) -> None:
    assert safe_cell(cell) == "'" + cell
    [row] = list(csv.reader(io.StringIO(csv_row(["ok", cell, None, 3]))))
    assert row == ["ok", "'" + cell, "", "3"]


def test_user_facing_message_tables_live_in_web_messages() -> None:
    """Pages take their texts from ``web/core/messages.py`` (one home, one place to translate)."""
    offenders = [
        f"{module}:{number}"
        for module, number, code in _lines("web")
        if "N_(" in code and module != "web/core/messages.py"
    ]
    assert offenders == []


def test_services_never_branch_on_the_database_kind() -> None:
    """Item 8: the services see one storage interface (``storage.database``: ``Executor``,
    ``FastStatement``, ``after_commit``, ``expire_loaded``, ``insert_for``, ``in_values``,
    ``Database.concurrent_writers``); which database it is, is storage's business."""
    markers = ("isinstance(db", "is_sqlite", "dialect.name", '"postgresql"', '"sqlite"', "sqlalchemy.dialects")
    offenders = [
        f"{module}:{number}: {code.strip()}"
        for module, number, code in _lines("services")
        if any(marker in code for marker in markers)
    ]
    assert offenders == []


def test_services_and_web_import_at_module_level_only() -> None:
    """No function-level import dodges an import cycle (the import-linter contract "No import cycles
    between siblings in any package" sees every import; this keeps them all visible at the top)."""
    offenders = [
        f"{module}:{number}: {code.strip()}"
        for where in ("services", "web")
        for module, number, code in _lines(where)
        if code.startswith((" ", "\t")) and code.strip().startswith(("from twostep", "import twostep"))
    ]
    assert offenders == []
