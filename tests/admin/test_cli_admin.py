"""Administration from the command line, run as a subprocess against the test database: reset-2fa,
delete, role and lock changes, and the audit export. Errors go to stderr with a non-zero exit."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.cli_support import Ran, in_process_cli
from tests.support import make_user
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.domain.factors import FactorKind
from twostep.services.core import throttling
from twostep.services.core.context import Context
from twostep.services.factors import recovery
from twostep.settings import Settings
from twostep.storage.models import AuditEvent, Factor, RecoveryCode, Throttle, User, UserRole

TWOSTEP = [sys.executable, "-m", "twostep.cli"]


def run(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    env["TWOSTEP_DATA_DIR"] = str(settings.data_dir)
    env["TWOSTEP_DATABASE_URL"] = settings.resolved_database_url
    return subprocess.run(
        [*TWOSTEP, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60, check=False
    )


@pytest.fixture
def twostep(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Ran]:
    """The same command in this process (no interpreter start-up) for the quick refusals."""
    return in_process_cli(settings, monkeypatch, capsys)


def enrolled(ctx: Context, clock: FrozenClock, email: str, *, admin: bool = False) -> int:
    user_id = make_user(ctx, email, admin=admin)
    with ctx.db.transaction() as db:
        db.add(
            Factor(
                user_id=user_id,
                kind=FactorKind.TOTP.value,
                label="",
                secret_sealed=ctx.sealer.seal(totp.new_secret(), f"user:{user_id}:totp"),
                created_at=clock.now(),
                confirmed_at=clock.now(),
            )
        )
        recovery.regenerate(ctx, db, user_id)
    return user_id


def count(ctx: Context, model: type, **where: object) -> int:
    with ctx.db.transaction() as db:
        statement = select(func.count()).select_from(model)
        for name, value in where.items():
            statement = statement.where(getattr(model, name) == value)
        return int(db.scalar(statement) or 0)


def test_reset_2fa_refuses_a_blank_reason_and_is_audited(
    ctx: Context, clock: FrozenClock, settings: Settings, twostep: Callable[..., Ran]
) -> None:
    user_id = enrolled(ctx, clock, "ada@example.com")
    unknown = twostep("user", "reset-2fa", "nobody@example.com", "--reason", "x")
    assert unknown.returncode == 1 and "no user" in unknown.stderr
    blank = twostep("user", "reset-2fa", "ada@example.com", "--reason", "  ")
    assert blank.returncode == 1 and "Write down why" in blank.stderr
    assert count(ctx, Factor, user_id=user_id) == 1

    done = run(settings, "user", "reset-2fa", "ADA@example.com", "--reason", "lost phone, checked by video call")
    assert done.returncode == 0, done.stderr
    assert count(ctx, Factor, user_id=user_id) == 0 and count(ctx, RecoveryCode, user_id=user_id) == 0
    with ctx.db.transaction() as db:
        event = db.scalar(select(AuditEvent).where(AuditEvent.event == "user_updated"))
        assert event is not None and event.user_id == user_id
        assert event.reason == "lost phone, checked by video call"
        assert event.actor_id is None and event.user_agent.startswith("twostep-cli")
        assert db.scalar(select(User.must_enroll).where(User.id == user_id)) is True


def test_delete_asks_to_type_the_email_and_keeps_the_last_admin(
    ctx: Context, clock: FrozenClock, settings: Settings, twostep: Callable[..., Ran]
) -> None:
    root = enrolled(ctx, clock, "root@example.com", admin=True)
    ada = enrolled(ctx, clock, "ada@example.com")
    wrong = twostep("user", "delete", "ada@example.com", stdin="bob@example.com\n")
    assert wrong.returncode == 1 and "Type the user's email address" in wrong.stderr
    assert count(ctx, User, id=ada) == 1
    confirmed = run(settings, "user", "delete", "ada@example.com", stdin="ada@example.com\n")
    assert confirmed.returncode == 0, confirmed.stderr
    assert count(ctx, User, id=ada) == 0 and count(ctx, Factor, user_id=ada) == 0
    last = twostep("user", "delete", "root@example.com", "--yes")
    assert last.returncode == 1 and "last administrator" in last.stderr
    demote = twostep("user", "revoke-admin", "root@example.com")
    assert demote.returncode == 1 and "last administrator" in demote.stderr
    assert count(ctx, UserRole, user_id=root) == 1


def test_plain_delete_and_reset_from_a_script_follow_the_design_contract(
    ctx: Context, clock: FrozenClock, settings: Settings
) -> None:
    """DESIGN.md: `twostep user reset-2fa EMAIL` and `twostep user delete EMAIL`, no further input."""
    enrolled(ctx, clock, "root@example.com", admin=True)
    ada = enrolled(ctx, clock, "ada@example.com")
    reset = run(settings, "user", "reset-2fa", "ada@example.com")
    assert reset.returncode == 0, reset.stderr
    assert count(ctx, Factor, user_id=ada) == 0
    deleted = run(settings, "user", "delete", "ada@example.com")
    assert deleted.returncode == 0, deleted.stderr
    assert count(ctx, User, id=ada) == 0


def test_roles_lock_and_sessions_from_the_command_line(
    ctx: Context, clock: FrozenClock, twostep: Callable[..., Ran]
) -> None:
    enrolled(ctx, clock, "root@example.com", admin=True)
    ada = enrolled(ctx, clock, "ada@example.com")
    with ctx.db.transaction() as db:
        for _ in range(6):
            throttling.record_failure(db, throttling.second_step_key(ada), clock.now())
    for args in (["grant-admin"], ["unlock"], ["sign-out"]):
        result = twostep("user", *args, "ada@example.com")
        assert result.returncode == 0, (args, result.stderr)
    assert count(ctx, UserRole, user_id=ada, role="admin") == 1
    assert count(ctx, Throttle, key=throttling.second_step_key(ada)) == 0
    assert twostep("user", "revoke-admin", "root@example.com").returncode == 0
    assert count(ctx, UserRole, role="admin") == 1
    with ctx.db.transaction() as db:
        actions = [
            json.loads(e.detail)["action"]
            for e in db.scalars(select(AuditEvent).where(AuditEvent.event == "authz_admin"))
        ]
    # The first grant_admin is root's own, made when the account was created as an administrator.
    assert actions == ["grant_admin", "grant_admin", "unlock", "sign_out_everywhere", "revoke_admin"]


def test_audit_export_as_json_lines_and_csv(
    ctx: Context, clock: FrozenClock, settings: Settings, twostep: Callable[..., Ran], tmp_path: Path
) -> None:
    enrolled(ctx, clock, "ada@example.com")
    enrolled(ctx, clock, "bob@example.com")
    jsonl = run(settings, "audit", "export")
    assert jsonl.returncode == 0, jsonl.stderr
    rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [(r["event"], r["user_email"]) for r in rows[:2]] == [
        ("user_created", "ada@example.com"),
        ("user_created", "bob@example.com"),
    ]
    target = tmp_path / "audit.csv"
    written = run(settings, "audit", "export", "--format", "csv", "--user", "bob", "--output", str(target))
    assert written.returncode == 0, written.stderr
    table = list(csv.reader(io.StringIO(target.read_text())))
    assert table[0][:3] == ["id", "at", "event"]
    assert [row[table[0].index("user_email")] for row in table[1:]] == ["bob@example.com"]
    bad = twostep("audit", "export", "--since", "last week")
    assert bad.returncode == 2 and "--since" in bad.stderr
    bad_format = twostep("audit", "export", "--format", "xml")
    assert bad_format.returncode != 0 and "invalid choice" in bad_format.stderr
