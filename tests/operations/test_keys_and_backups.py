"""The secret key against the data: the start-up self-test, key rotation (TOTP sign-in and API keys
keep working, on SQLite and PostgreSQL), and SQLite backups and restores (docs/operations.md (the secret key))."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.cli_support import Ran, in_process_cli
from tests.support import RecordingMail, code_for, login_password, make_user, submit_code
from twostep import cli
from twostep.app import build_context, create_app
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.domain.sealing import Sealer
from twostep.services.api import apikeys
from twostep.services.core import audit
from twostep.services.core.accounts import find_user_by_email
from twostep.services.core.context import Context, RequestInfo
from twostep.services.operations import secret_keys
from twostep.settings import Settings, load_settings
from twostep.storage import backup as backups
from twostep.storage.database import Database
from twostep.storage.migrate import upgrade
from twostep.storage.models import ApiKey, AuditEvent, Factor

EMAIL = "ada@example.com"
OTHER_KEY = "another-key-" + "z" * 40


@pytest.fixture
def twostep(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Ran]:
    """``twostep …`` in this process, configured like ``settings``."""
    return in_process_cli(settings, monkeypatch, capsys)


def totp_user(ctx: Context, email: str = EMAIL) -> str:
    make_user(ctx, email)
    secret = totp.new_secret()
    with ctx.db.transaction() as db:
        user = find_user_by_email(db, email)
        assert user is not None
        db.add(
            Factor(
                user_id=user.id,
                kind="totp",
                secret_sealed=ctx.sealer.seal(secret, f"user:{user.id}:totp"),
                label="Phone",
                created_at=ctx.clock.now(),
                confirmed_at=ctx.clock.now(),
            )
        )
    return secret


@pytest.fixture
def reopen(clock: FrozenClock) -> Iterator[Callable[[Settings], Context]]:
    """A context as a restarted server would build it from ``settings``."""
    opened: list[Context] = []

    def make(settings: Settings) -> Context:
        context = build_context(settings, clock=clock, mail=RecordingMail(),
                                database=Database(settings.resolved_database_url))
        opened.append(context)
        return context

    yield make
    for context in opened:
        context.db.dispose()


def sign_in_with_totp(ctx: Context, secret: str, clock: FrozenClock) -> int:
    with TestClient(create_app(ctx.settings, context=ctx), base_url="http://127.0.0.1:8000") as client:
        login_password(client, EMAIL)
        return submit_code(client, code_for(secret, clock)).status_code


def api_verify(ctx: Context, key: str, code: str) -> object:
    with TestClient(create_app(ctx.settings, context=ctx), base_url="http://127.0.0.1:8000") as client:
        response = client.post("/api/v1/verify", json={"user": EMAIL, "code": code},
                               headers={"Authorization": f"Bearer {key}"})
        return response.json()


# --- the start-up self-test ---------------------------------------------------------------------------


def test_a_changed_key_is_refused_at_start_instead_of_failing_at_the_second_step(
    settings: Settings, ctx: Context, reopen: Callable[[Settings], Context]
) -> None:
    totp_user(ctx)
    secret_keys.check(ctx)
    other = reopen(settings.model_copy(update={"secret_key": type(settings.secret_key)(OTHER_KEY)}))
    with pytest.raises(secret_keys.SecretKeyMismatch, match=r"does not open .* docs/operations\.md"):
        secret_keys.check(other)


def test_the_canary_catches_a_changed_key_even_with_no_secret_stored_yet(
    settings: Settings, ctx: Context, reopen: Callable[[Settings], Context]
) -> None:
    secret_keys.check(ctx)  # first start: records the canary
    secret_keys.check(ctx)  # and opens it afterwards
    other = reopen(settings.model_copy(update={"secret_key": type(settings.secret_key)(OTHER_KEY)}))
    with pytest.raises(secret_keys.SecretKeyMismatch, match="the check value"):
        secret_keys.check(other)


def test_the_server_and_the_cli_refuse_to_start_with_a_key_that_does_not_open_the_data(
    settings: Settings, ctx: Context, twostep: Callable[..., Ran], monkeypatch: pytest.MonkeyPatch
) -> None:
    totp_user(ctx)
    assert twostep("user", "list").returncode == 0
    key_file = settings.data_dir / "secret_key"
    key_file.write_text(OTHER_KEY)
    ran = twostep("user", "list")
    assert ran.returncode == 2 and "the secret key does not open" in ran.stderr and EMAIL not in ran.stdout
    from twostep import asgi

    with pytest.raises(secret_keys.SecretKeyMismatch):
        asgi.create()


def test_policy_reset_keeps_the_canary(settings: Settings, ctx: Context) -> None:
    from twostep.services.rollout import policy
    from twostep.storage.models import PolicySetting

    secret_keys.check(ctx)
    policy.reset(ctx, actor_id=None, request=RequestInfo())
    with ctx.db.transaction() as db:
        assert db.get(PolicySetting, secret_keys.CANARY_KEY) is not None


# --- rotation -------------------------------------------------------------------------------------------


def test_rotation_keeps_totp_sign_in_and_api_keys_working(
    settings: Settings,
    ctx: Context,
    clock: FrozenClock,
    twostep: Callable[..., Ran],
    reopen: Callable[[Settings], Context],
) -> None:
    secret = totp_user(ctx)
    key = apikeys.create(ctx, "Payroll").key
    secret_keys.check(ctx)
    old_key = settings.secret_key_bytes

    ran = twostep("rotate-secret-key")
    assert ran.returncode == 0, ran.stderr
    assert "re-sealed 1 secret(s)" in ran.stderr
    rotated = load_settings(data_dir=settings.data_dir, database_url=settings.resolved_database_url)
    assert rotated.secret_key_bytes != old_key and rotated.previous_secret_keys_bytes == [old_key]
    assert oct(os.stat(settings.data_dir / "secret_key.previous").st_mode & 0o777) == "0o600"
    new = reopen(rotated)
    secret_keys.check(new)

    # every sealed secret now opens with the new key alone
    with new.db.transaction() as db:
        sealed = db.scalar(select(Factor.secret_sealed))
    assert sealed is not None and Sealer(rotated.secret_key_bytes).open(sealed, "user:1:totp") == secret

    assert sign_in_with_totp(new, secret, clock) == 303
    clock.advance(seconds=30)
    # the API key issued under the old key works, and moves to the new key's digest on first use
    assert api_verify(new, key, code_for(secret, clock)) == {"valid": True}
    with new.db.transaction() as db:
        assert db.scalar(select(ApiKey.key_digest)) == new.digester.digest(key, "apikey")
    clock.advance(seconds=30)
    assert api_verify(new, key, code_for(secret, clock)) == {"valid": True}
    # the methods endpoint (ORM path) works for an old-key API key too
    other_key = apikeys.create(ctx, "Intranet").key  # created by a server still on the old key
    with TestClient(create_app(new.settings, context=new), base_url="http://127.0.0.1:8000") as client:
        response = client.get(f"/api/v1/users/{EMAIL}/methods", headers={"Authorization": f"Bearer {other_key}"})
    assert response.status_code == 200

    # a second rotation keeps both older keys in the ring; reseal is idempotent
    assert twostep("rotate-secret-key").returncode == 0
    again = load_settings(data_dir=settings.data_dir, database_url=settings.resolved_database_url)
    assert again.previous_secret_keys_bytes == [rotated.secret_key_bytes, old_key]
    assert "re-sealed 0 secret(s)" in twostep("rotate-secret-key", "--reseal-only").stderr


def test_rotation_of_a_key_given_in_the_environment_explains_the_steps(
    settings: Settings, ctx: Context, twostep: Callable[..., Ran], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWOSTEP_SECRET_KEY", settings.secret_key_bytes.decode())
    (settings.data_dir / "secret_key").write_text("x" * 40)  # not the key in use
    ran = twostep("rotate-secret-key")
    assert ran.returncode == 2 and "TWOSTEP_PREVIOUS_SECRET_KEYS" in ran.stderr and "--reseal-only" in ran.stderr


def test_a_session_begun_before_a_rotation_continues(
    settings: Settings, ctx: Context, clock: FrozenClock, twostep: Callable[..., Ran],
    reopen: Callable[[Settings], Context],
) -> None:
    secret = totp_user(ctx)
    app = create_app(settings, context=ctx)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        login_password(client, EMAIL)
        assert submit_code(client, code_for(secret, clock)).status_code == 303
        cookies = dict(client.cookies)
    assert twostep("rotate-secret-key").returncode == 0
    new = reopen(load_settings(data_dir=settings.data_dir, database_url=settings.resolved_database_url))
    with TestClient(create_app(new.settings, context=new), base_url="http://127.0.0.1:8000") as client:
        client.cookies.update(cookies)
        assert client.get("/account", follow_redirects=False).status_code == 200


# --- backups and restores (SQLite) ------------------------------------------------------------------------


def audit_ids(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM audit_events ORDER BY id")]
    conn.close()
    return ids


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_backup_under_concurrent_writes_has_every_committed_row(
    settings: Settings, ctx: Context, tmp_path: Path, twostep: Callable[..., Ran]
) -> None:
    committed: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            with ctx.db.transaction() as db:
                audit.record(ctx, db, "probe", request=RequestInfo())
            committed.append(1)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(committed) < 50:  # writes are flowing
            stop.wait(0.001)
        before = len(committed)
        ran = twostep("backup", str(tmp_path / "copy.db"))
        during = len(committed)
        assert ran.returncode == 0, ran.stderr
        while len(committed) < during + 20:  # and kept flowing after
            stop.wait(0.001)
    finally:
        stop.set()
        thread.join()
    ids = audit_ids(tmp_path / "copy.db")
    assert len(ids) >= before and ids == list(range(1, len(ids) + 1))  # every row committed before, no gaps
    assert "Keep the secret key with it" in ran.stderr
    assert oct(os.stat(tmp_path / "copy.db").st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_restore_works_end_to_end_and_sign_in_with_totp_follows(
    settings: Settings, ctx: Context, clock: FrozenClock, tmp_path: Path, twostep: Callable[..., Ran],
    reopen: Callable[[Settings], Context],
) -> None:
    secret = totp_user(ctx)
    key = apikeys.create(ctx, "Payroll").key
    assert twostep("backup", str(tmp_path / "copy.db")).returncode == 0
    from twostep.services.admin import admin

    user_id = admin.find_user_id(ctx, EMAIL)
    assert user_id is not None
    admin.delete_user(ctx, admin.CLI, user_id, EMAIL, RequestInfo())
    ctx.db.dispose()

    ran = twostep("restore", str(tmp_path / "copy.db"))
    assert ran.returncode == 0, ran.stderr
    restored = reopen(settings)
    assert sign_in_with_totp(restored, secret, clock) == 303
    clock.advance(seconds=30)
    assert api_verify(restored, key, code_for(secret, clock)) == {"valid": True}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_restore_refuses_while_a_server_runs_unless_forced(
    settings: Settings, ctx: Context, tmp_path: Path, twostep: Callable[..., Ran]
) -> None:
    make_user(ctx)
    assert twostep("backup", str(tmp_path / "copy.db")).returncode == 0
    with backups.serving(settings.resolved_database_url):
        ran = twostep("restore", str(tmp_path / "copy.db"))
        assert ran.returncode == 2 and "server is running" in ran.stderr and "nothing was changed" in ran.stderr
        assert twostep("restore", "--force", str(tmp_path / "copy.db")).returncode == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_restore_refuses_what_is_not_a_twostep_database(
    settings: Settings, ctx: Context, tmp_path: Path, twostep: Callable[..., Ran]
) -> None:
    make_user(ctx)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    assert "not a SQLite database" in twostep("restore", str(junk)).stderr
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (x)")
    conn.close()
    assert "not a twostep database" in twostep("restore", str(other)).stderr
    future = tmp_path / "future.db"
    assert twostep("backup", str(future)).returncode == 0
    with sqlite3.connect(future) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    conn.close()
    ran = twostep("restore", str(future))
    assert ran.returncode == 2 and "unknown migration revision" in ran.stderr
    assert "no such file" in twostep("restore", str(tmp_path / "missing.db")).stderr
    with ctx.db.transaction() as db:  # nothing was changed
        assert audit_ids(Path(settings.resolved_database_url.split("///", 1)[1])) == [
            e.id for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_backup_restored_with_another_key_is_refused_with_a_clear_message(
    settings: Settings, ctx: Context, tmp_path: Path, twostep: Callable[..., Ran], monkeypatch: pytest.MonkeyPatch
) -> None:
    totp_user(ctx)
    assert twostep("backup", str(tmp_path / "copy.db")).returncode == 0
    # a new machine: another data directory, so another generated key
    fresh = tmp_path / "fresh"
    monkeypatch.setenv("TWOSTEP_DATA_DIR", str(fresh))
    monkeypatch.setenv("TWOSTEP_DATABASE_URL", f"sqlite:///{fresh / 'twostep.db'}")
    ran = twostep("restore", str(tmp_path / "copy.db"))
    assert ran.returncode == 2 and "the secret key does not open" in ran.stderr and "not restored" in ran.stderr
    # with the key kept with the backup, the same restore works, and the server starts
    (fresh / "secret_key").write_text(settings.secret_key_bytes.decode())
    ran = twostep("restore", str(tmp_path / "copy.db"))
    assert ran.returncode == 0, ran.stderr
    assert twostep("user", "list").stdout.count(EMAIL) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_backup_of_postgresql_points_to_pg_dump(settings: Settings, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    pg = settings.model_copy(update={"database_url": "postgresql://postgres@127.0.0.1:5432/anything"})
    assert cli.cmd_backup(pg, cli.build_parser().parse_args(["backup", str(tmp_path / "x")])) == 2
    assert "pg_dump" in capsys.readouterr().err
    assert cli.cmd_restore(pg, cli.build_parser().parse_args(["restore", str(tmp_path / "x")])) == 2
    assert "pg_restore" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_upgrade_is_idempotent_on_a_restored_copy(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    upgrade(f"sqlite:///{path}")
    assert backups.validate(path) in backups.known_revisions()


def test_recovery_codes_devices_and_setup_links_from_before_a_rotation_still_work(
    settings: Settings, ctx: Context, twostep: Callable[..., Ran], reopen: Callable[[Settings], Context]
) -> None:
    from twostep.services.core import accounts, devices
    from twostep.services.factors import recovery

    user_id = make_user(ctx)
    with ctx.db.transaction() as db:
        codes = recovery.regenerate(ctx, db, user_id)
        device = devices.issue(ctx, db, user_id, RequestInfo(user_agent="Firefox"))
    link = accounts.issue_setup_link(ctx)
    assert link is not None
    token = link.rsplit("/", 1)[1]
    assert twostep("rotate-secret-key").returncode == 0
    new = reopen(load_settings(data_dir=settings.data_dir, database_url=settings.resolved_database_url))
    with new.db.transaction() as db:
        assert recovery.unused_among(new, db, user_id, codes[:2]) == codes[:2]
        assert devices.find_valid(new, db, device, user_id) is not None
        assert recovery.consume(new, db, user_id, codes[0])
        assert recovery.was_used(new, db, user_id, codes[0]) and not recovery.consume(new, db, user_id, codes[0])
        assert accounts.setup_token_valid(new, db, token) is not None
    # without the previous key in the ring they are gone: what docs/operations.md (the secret key) says retiring does
    (settings.data_dir / "secret_key.previous").unlink()
    retired = reopen(load_settings(data_dir=settings.data_dir, database_url=settings.resolved_database_url))
    with retired.db.transaction() as db:
        assert not recovery.consume(retired, db, user_id, codes[1])
        assert devices.find_valid(retired, db, device, user_id) is None
        assert accounts.setup_token_valid(retired, db, token) is None
