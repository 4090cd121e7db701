"""Shared fixtures: a migrated database per test (SQLite and PostgreSQL), a frozen clock, an app.

PostgreSQL comes from TWOSTEP_TEST_DATABASE_URL; when it is not given, tests/services_plugin.py starts
a throw-away server for the run (and Redis likewise), so PostgreSQL tests never silently vanish: an
unreachable server fails the run instead of skipping.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from tests.support import RecordingMail, RecordingSms
from twostep.app import build_context, create_app
from twostep.delivery.sms import FailoverSmsSender
from twostep.domain.clock import FrozenClock
from twostep.domain.passwords import PasswordHashing
from twostep.services.core.context import Context
from twostep.settings import Settings, load_settings
from twostep.storage.database import Database, normalize_url
from twostep.storage.migrate import upgrade
from twostep.storage.models import Base

pytest_plugins = ["tests.services_plugin", "tests.log_capture_plugin"]

# A moment at the very start of a 30-second TOTP step, so "now" codes stay valid while tests run.
T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)

#: Argon2id at a test cost (1 MiB, one pass): the same code path at about a fiftieth of the work.
#: Measured: at the production floor (19 MiB, two passes) hashing and checking passwords took a
#: quarter of the busy time of tests/account. The floor itself is tested where it matters:
#: tests/domain/test_passwords.py (the defaults), tests/core/test_wiring.py (settings -> context),
#: and every test that runs a real `twostep serve`.
TEST_HASHING = PasswordHashing(time_cost=1, memory_kib=1024, parallelism=1)


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "twostep.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    pg_url = os.environ.get("TWOSTEP_TEST_DATABASE_URL", "")
    if not pg_url:  # tests/services_plugin.py sets it, or fails the run saying why
        pytest.fail("TWOSTEP_TEST_DATABASE_URL is not set")
    admin = create_engine(normalize_url(pg_url), isolation_level="AUTOCOMMIT")
    name = f"twostep_test_{_worker()}_{os.getpid()}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # pragma: no cover - environment problem
        pytest.fail(f"PostgreSQL unreachable: {error}")
    base = pg_url.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(url: str) -> None:
    engine = create_engine(normalize_url(url))
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        target = tmp_path / "twostep.db"
        shutil.copy(sqlite_template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_url")
    _truncate(url)
    return url


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def mail() -> RecordingMail:
    return RecordingMail()


@pytest.fixture
def sms() -> RecordingSms:
    return RecordingSms()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        service_name="Acme",
        support_email="help@acme.test",
        base_url="http://127.0.0.1:8000",
    )


@pytest.fixture
def ctx(settings: Settings, clock: FrozenClock, mail: RecordingMail, sms: RecordingSms) -> Iterator[Context]:
    context = build_context(
        settings,
        clock=clock,
        mail=mail,
        sms=FailoverSmsSender([sms]),
        database=Database(settings.resolved_database_url),
        hashing=TEST_HASHING,
    )
    yield context
    context.db.dispose()


@pytest.fixture
def app(settings: Settings, ctx: Context) -> FastAPI:
    return create_app(settings, context=ctx)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as test_client:
        yield test_client
