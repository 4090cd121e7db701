"""`twostep …` run in this process (no interpreter start-up), configured like a test's Settings."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from twostep import cli
from twostep.settings import Settings


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def in_process_cli(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *,
    key_in_environment: bool = False,
) -> Callable[..., Ran]:
    """A ``twostep(*args, stdin="")`` caller: the environment holds only this test's data directory and
    database (and, with ``key_in_environment``, its secret key, else the key file there is used)."""
    for name in [k for k in os.environ if k.startswith("TWOSTEP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TWOSTEP_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TWOSTEP_DATABASE_URL", settings.resolved_database_url)
    if key_in_environment and settings.secret_key is not None:
        monkeypatch.setenv("TWOSTEP_SECRET_KEY", settings.secret_key.get_secret_value())

    def call(*args: str, stdin: str = "") -> Ran:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        try:
            code = cli.main(list(args))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out = capsys.readouterr()
        return Ran(code, out.out, out.err)

    return call
