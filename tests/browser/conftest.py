"""A live twostep server on 127.0.0.1 (uvicorn in a thread) and Debian's chromium via Playwright.

Never downloads a browser: Playwright drives /usr/bin/chromium, headless, --no-sandbox.
The server shares the test's Context, so tests can move the frozen clock and read recorded mail.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.passkeys import Authenticators

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path, sqlite_template) -> str:  # type: ignore[no-untyped-def]
    """Browser tests run on SQLite; PostgreSQL is covered by the HTTP and integration tests."""
    import shutil

    target = tmp_path / "twostep.db"
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[str]:
    with serve(app, free_port()) as base:
        yield base


@contextmanager
def serve(app: FastAPI, port: int, host_name: str = "127.0.0.1") -> Iterator[str]:
    """The app on 127.0.0.1:``port``; yields its base URL with ``host_name`` (``localhost`` for
    passkeys: browsers refuse WebAuthn on an IP address)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "live server did not start"
    try:
        yield f"http://{host_name}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-US", viewport={"width": 1000, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


@pytest.fixture
def keys(page: Page) -> Authenticators:
    """The ``page`` tab's virtual authenticators (none added yet)."""
    return Authenticators(page)
