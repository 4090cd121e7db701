"""The forward-auth tests' browser and proxy (both in-process clients of the app) and an enrolled user."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support import enrolled_user
from twostep.domain.clock import FrozenClock
from twostep.services.core.context import Context


@pytest.fixture
def browser(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://auth.example.test", raise_server_exceptions=False,
                    follow_redirects=True) as client:
        yield client


@pytest.fixture
def proxy(app: FastAPI) -> Iterator[TestClient]:
    """A reverse proxy on loopback (a trusted peer by default)."""
    with TestClient(app, base_url="http://auth.example.test", client=("127.0.0.1", 40000),
                    raise_server_exceptions=False, follow_redirects=False) as client:
        yield client


@pytest.fixture
def secret(browser: TestClient, ctx: Context, clock: FrozenClock) -> str:
    return enrolled_user(browser, ctx, clock)
