"""The `twostep` command as a user runs it: migrate, user create/list, serve with a setup link."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

TWOSTEP = [sys.executable, "-m", "twostep.cli"]


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    env["TWOSTEP_DATA_DIR"] = str(tmp_path / "data")
    return env


def run(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TWOSTEP, *args], input=stdin, capture_output=True, text=True, env=env_for(tmp_path),
                          timeout=60, check=False)


def test_user_create_reads_password_from_stdin_and_list_shows_it(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    created = run(tmp_path, "user", "create", "Ada@Example.com", "--password-stdin", "--admin",
                  stdin="violet staple meadow 42\n")
    assert created.returncode == 0, created.stderr
    listed = run(tmp_path, "user", "list", "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert rows == [{"id": 1, "email": "ada@example.com", "roles": ["admin"], "methods": []}]


def test_user_create_refuses_a_weak_password_with_the_reason(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    result = run(tmp_path, "user", "create", "ada@example.com", "--password-stdin", stdin="password1234\n")
    assert result.returncode != 0
    assert "too common" in result.stderr
    assert json.loads("[" + ",".join(run(tmp_path, "user", "list", "--json").stdout.split()) + "]") == []


def test_user_create_refuses_a_duplicate(tmp_path: Path) -> None:
    run(tmp_path, "--create-database", "migrate")
    run(tmp_path, "user", "create", "ada@example.com", "--password-stdin", stdin="violet staple meadow 42\n")
    again = run(tmp_path, "user", "create", "ADA@example.com", "--password-stdin", stdin="violet staple meadow 42\n")
    assert again.returncode == 1 and "already exists" in again.stderr


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    assert run(tmp_path, "migrate").returncode == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_prints_a_one_time_setup_link_and_answers_health_checks(tmp_path: Path) -> None:
    port = _free_port()
    env = env_for(tmp_path) | {"TWOSTEP_BASE_URL": f"http://127.0.0.1:{port}"}
    process = subprocess.Popen([*TWOSTEP, "serve", "--port", str(port)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert process.stdout is not None
        link = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not link:
            line = process.stdout.readline()
            found = re.search(r"(http://127\.0\.0\.1:\d+/setup/\S+)", line)
            link = found.group(1) if found else ""
        assert link, "no setup link printed"
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json() == {"status": "ready", "database": "ok"}
        setup_page = httpx.get(link)
        assert setup_page.status_code == 200 and "Create the first administrator" in setup_page.text
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("command", [["user"], ["nonsense"]])
def test_bad_command_line_exits_non_zero(tmp_path: Path, command: list[str]) -> None:
    assert run(tmp_path, *command).returncode != 0


def _serve_and_read_link(env: dict[str, str], port: int, cwd: Path | None = None) -> tuple[str, str]:
    """Start `twostep serve --port`, return (setup link, everything printed until then)."""
    process = subprocess.Popen([*TWOSTEP, "serve", "--port", str(port)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd)
    printed: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            printed.append(line)
            found = re.search(r"(http://\S+/setup/\S+)", line)
            if found:
                for _ in range(100):
                    try:
                        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                        break
                    except httpx.HTTPError:
                        time.sleep(0.1)
                return found.group(1), "".join(printed)
        raise AssertionError("no setup link printed:\n" + "".join(printed))
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_without_a_base_url_the_setup_link_uses_the_served_port(tmp_path: Path) -> None:
    port = _free_port()
    link, _ = _serve_and_read_link(env_for(tmp_path), port)
    assert link.startswith(f"http://127.0.0.1:{port}/setup/")


def test_a_base_url_on_another_local_port_than_the_one_served_is_warned_about(tmp_path: Path) -> None:
    port = _free_port()
    env = env_for(tmp_path) | {"TWOSTEP_BASE_URL": "http://127.0.0.1:8000"}
    link, printed = _serve_and_read_link(env, port)
    assert link.startswith("http://127.0.0.1:8000/setup/")
    assert f"serves port {port}" in printed


def test_a_twostep_toml_in_the_working_directory_configures_the_cli(tmp_path: Path) -> None:
    work = tmp_path / "site"
    work.mkdir()
    (work / "twostep.toml").write_text(f'data_dir = "{tmp_path / "from-toml"}"\nservice_name = "Acme"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    created = subprocess.run([*TWOSTEP, "--create-database", "user", "create", "ada@example.com", "--password-stdin"],
                             input="violet staple meadow 42\n", capture_output=True, text=True, env=env, cwd=work,
                             timeout=60, check=False)
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "from-toml" / "twostep.db").exists()
    env["TWOSTEP_DATA_DIR"] = str(tmp_path / "from-env")  # the environment overrides the file
    listed = subprocess.run([*TWOSTEP, "user", "list", "--json"], capture_output=True, text=True, env=env, cwd=work,
                            timeout=60, check=False)
    assert listed.returncode == 2 and str(tmp_path / "from-env" / "twostep.db") in listed.stderr


def test_a_command_never_quietly_creates_a_new_database(tmp_path: Path) -> None:
    """Run from another shell without the server's TWOSTEP_DATA_DIR, a command says so and stops."""
    refused = run(tmp_path, "user", "create", "ada@example.com", "--password-stdin", stdin="violet staple meadow 42\n")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert f"no twostep database at {tmp_path / 'data' / 'twostep.db'}" in refused.stderr
    assert "twostep migrate" in refused.stderr and "--create-database" in refused.stderr
    assert not (tmp_path / "data" / "twostep.db").exists()
    created = run(tmp_path, "--create-database", "user", "create", "ada@example.com", "--password-stdin",
                  stdin="violet staple meadow 42\n")
    assert created.returncode == 0 and f"created a new database: {tmp_path / 'data' / 'twostep.db'}" in created.stderr
    again = run(tmp_path, "user", "list")
    assert again.returncode == 0 and "created" not in again.stderr and "ada@example.com" in again.stdout


def test_migrate_says_which_database_it_created(tmp_path: Path) -> None:
    first = run(tmp_path, "migrate")
    assert f"created a new database: {tmp_path / 'data' / 'twostep.db'}" in first.stderr
    assert "created" not in run(tmp_path, "migrate").stderr
