"""A full or read-only data directory is one line naming the directory and the problem, at the start
of `twostep serve` and of every other command: exit status ≠ 0, no traceback (issue 12, item 20).

The failures are real, not mocked: a read-only bind mount (as root, where chmod stops nothing) or a
chmod'ed directory (as anyone else), a full tmpfs or a file-size limit, and a file where the
directory should be.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from twostep import cli

SECRET_KEY = "data-directory-test-secret-key-0123456789abcdef"


def leaf_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator[list[str]]:
    """Every runnable command line of the parser, required arguments filled with placeholders."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if subparsers:
        for name, child in subparsers[0].choices.items():
            yield from leaf_commands(child, (*prefix, name))
        return
    argv = list(prefix)
    for action in parser._actions:
        if not action.option_strings and action.nargs != 0:
            argv.append("placeholder")
        elif action.required:
            argv += [action.option_strings[0], "placeholder"]
    yield argv


COMMANDS = list(leaf_commands(cli.build_parser()))


def test_the_command_list_covers_serve_and_the_management_commands() -> None:
    names = {" ".join(word for word in c[:2] if word != "placeholder") for c in COMMANDS}
    assert {"serve", "migrate", "user create", "user list", "apikey create"} <= names


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TWOSTEP_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no twostep.toml from elsewhere


@pytest.mark.parametrize("secret_key", [SECRET_KEY, None], ids=["key-configured", "key-in-data-dir"])
@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_every_command_refuses_a_data_directory_that_is_a_file(
    argv: list[str],
    secret_key: str | None,
    environment: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    in_the_way = tmp_path / "var"
    in_the_way.write_text("not a directory")
    monkeypatch.setenv("TWOSTEP_DATA_DIR", str(in_the_way))
    if secret_key:
        monkeypatch.setenv("TWOSTEP_SECRET_KEY", secret_key)
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    assert str(in_the_way) in err and "not a directory" in err, err


def run_cli(
    argv: list[str], env: dict[str, str], *, file_size_limit: int | None = None
) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run(
        [sys.executable, "-m", "twostep.cli", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit if file_size_limit is not None else None,
    )


def base_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    return {**env, "TWOSTEP_DATA_DIR": str(data_dir), "TWOSTEP_SECRET_KEY": SECRET_KEY}


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextmanager
def read_only_directory() -> Iterator[Path]:
    """A directory whose writes really fail for this process: chmod 555 for a normal user; for root
    (whom chmod does not stop) a read-only bind mount, or where mounting is not allowed (a container
    without CAP_SYS_ADMIN, where /sys is mounted read-only) a directory to be made under /sys."""
    base = Path(tempfile.mkdtemp(prefix="twostep-ro-"))
    source, target = base / "source", base / "target"
    source.mkdir()
    target.mkdir()
    try:
        if os.geteuid() != 0:
            source.chmod(0o555)
            yield source
        elif _mount("--bind", "-o", "ro", str(source), str(target)):
            try:
                yield target
            finally:
                subprocess.run(["umount", "-l", str(target)], check=False)
        else:
            yield Path("/sys/twostep-test-data")
    finally:
        source.chmod(0o755)
        subprocess.run(["rm", "-rf", str(base)], check=False)


@pytest.mark.parametrize("argv", [["serve", "--port", "1"], ["migrate"], ["user", "list"]], ids=" ".join)
def test_a_read_only_data_directory_is_one_line_at_start(argv: list[str]) -> None:
    with read_only_directory() as directory:
        done = run_cli(argv, base_env(directory))
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"error: data directory {directory}: ")
    assert "read-only file system" in done.stderr or "permission denied" in done.stderr


@pytest.mark.parametrize("argv", [["serve", "--port", "1"], ["user", "list"]], ids=" ".join)
def test_a_full_data_directory_is_one_line_at_start(argv: list[str], tmp_path: Path) -> None:
    """A full disk: writes fail once the probe's few kilobytes do not fit (a file-size limit stands in
    for a full disk where mounting a small file system is not allowed; both are real refused writes)."""
    directory = tmp_path / "var"
    directory.mkdir(mode=0o700)  # private already: the only thing to say is the full disk
    done = run_cli(argv, base_env(directory), file_size_limit=1024)
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"error: data directory {directory}: cannot write (file size limit reached)")
