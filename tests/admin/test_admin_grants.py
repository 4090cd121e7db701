"""Every way to the administrator role writes ``authz_admin`` and mails the account (issue 12, item 13).

The ways: the console's user page (``admin.set_admin``), ``twostep user grant-admin``, ``twostep user
create --admin``, ``twostep user set-roles --role admin`` and ``twostep user import`` with
``roles=admin``. Each must leave exactly one ``authz_admin`` event (action ``grant_admin``) about the
account and exactly one "You are now an administrator" notice in its mailbox.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support import PASSWORD, RecordingMail, make_user
from twostep import cli
from twostep.services.admin import admin
from twostep.services.core import accounts
from twostep.services.core.context import Context, RequestInfo
from twostep.storage.models import AuditEvent, User

TARGET = "bob@example.com"
GRANTED = "You are now an administrator"
REVOKED = "You are no longer an administrator"


def run_cli(ctx: Context, monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = "") -> int:
    monkeypatch.setenv("TWOSTEP_DATABASE_URL", ctx.settings.resolved_database_url)
    monkeypatch.setenv("TWOSTEP_DATA_DIR", str(ctx.settings.data_dir))
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    monkeypatch.setattr(cli, "_context", lambda _settings: ctx)  # the test's clock and recording mail
    return cli.main(list(args))


def admin_events(ctx: Context, email: str) -> list[dict[str, object]]:
    with ctx.db.transaction() as db:
        user_id = db.scalar(select(User.id).where(User.email == email))
        rows = db.scalars(
            select(AuditEvent).where(AuditEvent.event == "authz_admin", AuditEvent.user_id == user_id)
        ).all()
        return [json.loads(row.detail) if isinstance(row.detail, str) else dict(row.detail) for row in rows]


def notices(mail: RecordingMail, email: str, subject: str) -> int:
    return sum(1 for message in mail.sent if message.to == email and subject in message.subject)


def _console(ctx: Context, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    boss = make_user(ctx, "boss@example.com", admin=True)
    target = make_user(ctx, TARGET)
    assert admin.set_admin(ctx, admin.Actor(boss, "boss@example.com"), target, True, RequestInfo())


def _cli_grant_admin(ctx: Context, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    make_user(ctx, TARGET)
    assert run_cli(ctx, monkeypatch, "user", "grant-admin", TARGET) == 0


def _cli_create_admin(ctx: Context, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    created = run_cli(ctx, monkeypatch, "user", "create", TARGET, "--password-stdin", "--admin", stdin=PASSWORD + "\n")
    assert created == 0


def _cli_set_roles(ctx: Context, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    make_user(ctx, TARGET)
    assert run_cli(ctx, monkeypatch, "user", "set-roles", TARGET, "--role", "admin", "--role", "staff") == 0


def _import_new_account(ctx: Context, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text(f"email,roles\n{TARGET},admin;staff\nother@example.com,staff\n", encoding="utf-8")
    assert run_cli(ctx, monkeypatch, "user", "import", str(path), "--quiet") == 0


def _import_existing_account(ctx: Context, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    make_user(ctx, TARGET)
    path = tmp_path / "users.csv"
    path.write_text(f"email,roles\n{TARGET},admin\n", encoding="utf-8")
    assert run_cli(ctx, monkeypatch, "user", "import", str(path), "--quiet") == 0


PATHS: dict[str, Callable[[Context, pytest.MonkeyPatch, Path], None]] = {
    "console user page": _console,
    "user grant-admin": _cli_grant_admin,
    "user create --admin": _cli_create_admin,
    "user set-roles --role admin": _cli_set_roles,
    "user import roles=admin (new account)": _import_new_account,
    "user import roles=admin (existing account)": _import_existing_account,
}


@pytest.mark.parametrize("way", list(PATHS))
def test_every_admin_grant_is_audited_and_notified(
    ctx: Context, mail: RecordingMail, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, way: str
) -> None:
    PATHS[way](ctx, monkeypatch, tmp_path)
    with ctx.db.transaction() as db:
        target = accounts.find_user_by_email(db, TARGET)
        assert target is not None and accounts.is_admin(db, target.id)
    events = admin_events(ctx, TARGET)
    assert [event["action"] for event in events] == ["grant_admin"], events
    assert notices(mail, TARGET, GRANTED) == 1


def test_a_dry_run_import_grants_nothing_and_tells_nobody(
    ctx: Context, mail: RecordingMail, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    make_user(ctx, TARGET)
    path = tmp_path / "users.csv"
    path.write_text(f"email,roles\n{TARGET},admin\n", encoding="utf-8")
    assert run_cli(ctx, monkeypatch, "user", "import", str(path), "--dry-run", "--quiet") == 0
    assert admin_events(ctx, TARGET) == [] and notices(mail, TARGET, GRANTED) == 0


def test_set_roles_without_admin_revokes_it_with_the_event_and_the_notice(
    ctx: Context, mail: RecordingMail, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(ctx, "boss@example.com", admin=True)
    make_user(ctx, TARGET)
    assert run_cli(ctx, monkeypatch, "user", "set-roles", TARGET, "--role", "admin") == 0
    assert run_cli(ctx, monkeypatch, "user", "set-roles", TARGET, "--role", "staff") == 0
    assert [event["action"] for event in admin_events(ctx, TARGET)] == ["grant_admin", "revoke_admin"]
    assert notices(mail, TARGET, REVOKED) == 1
