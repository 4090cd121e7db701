"""Throw-away PostgreSQL and Redis for the suite, so that no test is ever skipped for want of a server.

When ``TWOSTEP_TEST_DATABASE_URL`` / ``TWOSTEP_TEST_REDIS_URL`` are not given, the controlling pytest
process starts its own servers on free loopback ports (PostgreSQL from Debian's ``postgresql``
package, ``initdb`` into a temporary directory; ``redis-server`` without persistence), exports their
URLs before the xdist workers start (they inherit the environment), and stops them at the end.
PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` (or ``nobody``) user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

_started: list[subprocess.Popen[bytes]] = []
_directories: list[str] = []


def stop_all(keep: tuple[int, int] = (0, 0)) -> None:
    """Stop the servers this process started (all but the first ``keep[0]``) and remove their
    directories (all but the first ``keep[1]``)."""
    while len(_started) > keep[0]:
        process = _started.pop()
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    while len(_directories) > keep[1]:
        shutil.rmtree(_directories.pop(), ignore_errors=True)


def started() -> tuple[int, int]:
    """A mark for stop_all(keep=...): what was running before."""
    return len(_started), len(_directories)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {seconds:.0f} s")


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _unprivileged_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists for PostgreSQL")


def _as_user(user: pwd.struct_passwd | None) -> dict[str, object]:
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def start_postgres() -> str:
    binaries = _postgres_bin()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed: `make test` installs Debian's postgresql package")
    user = _unprivileged_user()
    directory = tempfile.mkdtemp(prefix="twostep-test-pg-")
    _directories.append(directory)
    data = Path(directory) / "data"
    if user is not None:
        os.chown(directory, user.pw_uid, user.pw_gid)
    subprocess.run(
        [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=directory,
        **_as_user(user),  # type: ignore[arg-type]
    )
    port = _free_port()
    process = subprocess.Popen(
        [
            str(binaries / "postgres"),
            "-D", str(data),
            "-p", str(port),
            "-k", directory,
            "-c", "listen_addresses=127.0.0.1",
            "-c", "fsync=off",
            "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off",
            "-c", "max_connections=200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=directory,
        **_as_user(user),  # type: ignore[arg-type]
    )
    _started.append(process)
    _wait_for_port(port, process, "PostgreSQL")
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    import psycopg

    deadline = time.monotonic() + 30
    while True:  # the port opens a moment before the server accepts sessions
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE DATABASE test")
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return f"postgresql://postgres@127.0.0.1:{port}/test"


def start_redis() -> str:
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError("redis-server is not installed: `make test` installs Debian's redis-server package")
    port = _free_port()
    directory = tempfile.mkdtemp(prefix="twostep-test-redis-")
    _directories.append(directory)
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _started.append(process)
    _wait_for_port(port, process, "redis-server")
    return f"redis://127.0.0.1:{port}/15"


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker: the controller has set the environment
        return
    if not os.environ.get("TWOSTEP_TEST_DATABASE_URL"):
        os.environ["TWOSTEP_TEST_DATABASE_URL"] = start_postgres()
    if not os.environ.get("TWOSTEP_TEST_REDIS_URL"):
        os.environ["TWOSTEP_TEST_REDIS_URL"] = start_redis()


def pytest_unconfigure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    stop_all()
