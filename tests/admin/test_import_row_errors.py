"""`twostep user import`: a row the database can't store is refused on its own, with its line, and
every other row of its batch and of the later batches still goes in (issue 12, items 7 and 23)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from twostep.services.admin import importer
from twostep.services.core.context import Context
from twostep.storage.models import User

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def write_rows(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name"])
        writer.writerows(rows)
    return path


def emails(ctx: Context) -> set[str]:
    with ctx.db.transaction() as db:
        return set(db.scalars(select(User.email)))


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("Ada\x00Lovelace", "name: contains a control character (U+0000)"),
        ("Ada\x01", "name: contains a control character (U+0001)"),
        ("Ada\x7f", "name: contains a control character (U+007F)"),
    ],
)
def test_import_refuses_a_row_with_a_control_character_and_imports_every_other_batch(
    ctx: Context, tmp_path: Path, bad: str, reason: str
) -> None:
    rows = [(f"user{n}@example.com", f"User {n}") for n in range(7)]
    rows[3] = ("user3@example.com", bad)  # line 5: the second batch of three
    report = importer.import_users(ctx, write_rows(tmp_path / "users.csv", rows), batch_size=3)
    assert [(r.line, r.email, r.reason) for r in report.refused] == [(5, "user3@example.com", reason)]
    assert emails(ctx) == {f"user{n}@example.com" for n in range(7) if n != 3}
    assert report.created == 6


def test_import_refuses_a_json_row_with_a_lone_surrogate(ctx: Context, tmp_path: Path) -> None:
    path = tmp_path / "users.jsonl"
    path.write_text('{"email": "a@example.com"}\n{"email": "b@example.com", "name": "\\ud800"}\n', encoding="utf-8")
    report = importer.import_users(ctx, path)
    assert [(r.line, r.reason) for r in report.refused] == [(2, "name: contains a lone surrogate (U+D800)")]
    assert emails(ctx) == {"a@example.com"}


def test_a_row_the_database_refuses_loses_no_other_row_of_its_batch(ctx: Context, tmp_path: Path) -> None:
    """Any row-level database error (here a trigger refusing one address, on SQLite and PostgreSQL):
    the batch is written again row by row, the guilty row is refused with its line and reason."""
    with ctx.db.transaction() as db:
        if ctx.db.is_sqlite:
            db.execute(
                text(
                    "CREATE TRIGGER refuse_one BEFORE INSERT ON users WHEN NEW.email = 'user4@example.com' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END"
                )
            )
        else:
            db.execute(
                text(
                    "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "IF NEW.email = 'user4@example.com' THEN RAISE EXCEPTION 'refused by a test trigger'; END IF; "
                    "RETURN NEW; END $$"
                )
            )
            db.execute(
                text("CREATE TRIGGER refuse_one BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION refuse_one()")
            )
    try:
        rows = [(f"user{n}@example.com", f"User {n}") for n in range(9)]
        report = importer.import_users(ctx, write_rows(tmp_path / "users.csv", rows), batch_size=4)
        assert [(r.line, r.email) for r in report.refused] == [(6, "user4@example.com")]
        assert report.refused[0].reason.startswith("the database refused the row (")
        assert "user4" not in report.refused[0].reason  # the database's message (values) is not repeated
        assert emails(ctx) == {f"user{n}@example.com" for n in range(9) if n != 4}
        assert report.created == 8
    finally:
        with ctx.db.transaction() as db:
            db.execute(text("DROP TRIGGER refuse_one" + ("" if ctx.db.is_sqlite else " ON users")))
            if not ctx.db.is_sqlite:
                db.execute(text("DROP FUNCTION refuse_one()"))


def test_import_statistics_are_refreshed_as_the_tables_grow_on_postgresql(
    ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 23: a plan made for the empty table must not outlive it; the tables are ANALYZEd after the
    first batch and each time the written rows have doubled (a handful of times per run)."""
    calls: list[int] = []
    real = importer._refresh_statistics
    monkeypatch.setattr(importer, "_refresh_statistics", lambda c: (calls.append(1), real(c)))
    rows = [(f"user{n}@example.com", "") for n in range(40)]
    report = importer.import_users(ctx, write_rows(tmp_path / "users.csv", rows), batch_size=5)
    assert report.created == 40
    assert len(calls) == 4  # after 5, 10, 20 and 40 rows: log2 of the batches, not one per batch
    with ctx.db.transaction() as db:
        assert db.scalar(select(func.count()).select_from(User)) == 40
