"""CLI commands that write a file say what went wrong in one line and exit ≠ 0, never a traceback,
and leave nothing half-written (issue 12, item 14; DESIGN "Errors")."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from twostep import cli
from twostep.services.core.context import Context


def run(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    monkeypatch.setenv("TWOSTEP_DATABASE_URL", ctx.settings.resolved_database_url)
    monkeypatch.setenv("TWOSTEP_DATA_DIR", str(ctx.settings.data_dir))
    monkeypatch.setattr(sys, "argv", ["twostep", *args])
    capsys.readouterr()
    status = cli.main(list(args))
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    ("target", "problem"),
    [("missing/dir/x.csv", "no such directory"), (".", "is a directory")],
)
def test_audit_export_to_a_place_it_cannot_write_is_a_one_line_error(
    ctx: Context,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    target: str,
    problem: str,
) -> None:
    output = tmp_path / target
    status, err = run(ctx, monkeypatch, capsys, "audit", "export", "--format", "csv", "--output", str(output))
    assert status != 0
    assert err == f"error: --output {output}: {problem}; nothing was written\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".audit-")] == []


def test_a_failed_rename_leaves_no_half_written_export(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:

    def refuse(_source: str, _target: object) -> None:
        raise PermissionError(13, "Permission denied", str(tmp_path / "x.csv"))

    monkeypatch.setattr("os.replace", refuse)
    status, err = run(ctx, monkeypatch, capsys, "audit", "export", "--output", str(tmp_path / "x.csv"))
    assert status == 1
    assert err == f"error: --output {tmp_path / 'x.csv'}: permission denied; nothing was written\n"
    assert list(tmp_path.glob(".audit-*")) == []


def test_a_file_error_in_any_command_is_one_line_without_a_traceback(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The safety net in cli.main, for every command: an OSError becomes one line and exit 1."""

    def disk_full(_settings: object, _args: object) -> int:
        raise OSError(28, "No space left on device", "/var/lib/twostep/out.json")

    monkeypatch.setattr(cli, "cmd_user_list", disk_full)
    status, err = run(ctx, monkeypatch, capsys, "user", "list")
    assert status == 1
    assert err == "error: /var/lib/twostep/out.json: no space left on device\n"
