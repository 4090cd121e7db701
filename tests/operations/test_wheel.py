"""An installable package: the built wheel carries templates, translations, fonts, data and migrations,
and its `twostep` command migrates and serves pages from any working directory."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source")
    # Build from the tracked files only (as a fresh clone would), never from local build leftovers.
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "--null", "-T", "-", "-cf", str(source / "src.tar")], cwd=ROOT, input=files, check=True)
    subprocess.run(["tar", "-xf", "src.tar"], cwd=source, check=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(source)],
        check=True,
        timeout=300,
    )
    [built] = out.glob("twostep-*.whl")
    return built


def test_the_wheel_carries_everything_the_service_reads_at_run_time(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in [
        "twostep/templates/login.html",
        "twostep/templates/mail/code.txt",
        "twostep/locale/pl/LC_MESSAGES/messages.po",
        "twostep/locale/sv/LC_MESSAGES/messages.po",
        "twostep/fonts/DejaVuSans.ttf",
        "twostep/data/common-passwords.txt",
        "twostep/storage/migrations/env.py",
        "twostep/storage/migrations/versions/0001_initial_schema.py",
        "twostep/static/style.css",
    ]:
        assert needed in names, needed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_installed_wheel_serves_pages_in_every_language_from_another_directory(
    wheel: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )
    # The dependencies come from the project's environment (no download); twostep only from the wheel.
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    where = subprocess.run(
        [str(python), "-c", "import twostep; print(twostep.__file__)"], capture_output=True, text=True, check=True
    ).stdout
    assert where.startswith(str(site)), where

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    port = _free_port()
    process = subprocess.Popen(
        [str(python), "-m", "twostep.cli", "serve", "--port", str(port)],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        link = ""
        while time.monotonic() < deadline and not link:
            found = re.search(r"(http://\S+/setup/\S+)", process.stdout.readline())
            link = found.group(1) if found else ""
        assert link.startswith(f"http://127.0.0.1:{port}/setup/")
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert (work / "var" / "twostep.db").exists()  # ./var under the working directory
        assert "Create the first administrator" in httpx.get(link).text
        assert "Zaloguj" in httpx.get(f"http://127.0.0.1:{port}/login?lang=pl").text
        assert httpx.get(f"http://127.0.0.1:{port}/static/style.css").status_code == 200
        pdf = httpx.get(f"http://127.0.0.1:{port}/help/two-step-setup.pdf?lang=sv")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    finally:
        process.terminate()
        process.wait(timeout=10)
