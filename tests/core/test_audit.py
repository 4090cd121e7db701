"""The audit log: every sign-in step is recorded (OWASP logging vocabulary), viewable, filterable and
exportable as CSV and JSON lines by administrators."""

from __future__ import annotations

import csv
import io
import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.support import (
    alerts,
    code_for,
    enroll_totp,
    enrolled_user,
    login_password,
    make_user,
    sign_out,
    submit_code,
)
from twostep.domain.clock import FrozenClock
from twostep.services.admin import admin
from twostep.services.core import audit
from twostep.services.core.context import Context, RequestInfo
from twostep.storage.models import AuditEvent

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0"


def all_events(ctx: Context) -> list[AuditEvent]:
    with ctx.db.transaction() as db:
        return list(db.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def admin_client(client: TestClient, ctx: Context, clock: FrozenClock) -> TestClient:
    console = TestClient(client.app, base_url="http://127.0.0.1:8000")
    make_user(ctx, "root@example.com", admin=True)
    login_password(console, "root@example.com")
    enroll_totp(console, clock)
    return console


def test_every_sign_in_step_is_recorded_with_who_when_ip_and_browser(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    client.headers["User-Agent"] = FIREFOX
    secret = enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com", "not the right password")
    login_password(client, "ada@example.com")
    submit_code(client, "000000")
    code = code_for(secret, clock)
    submit_code(client, code)
    sign_out(client)
    login_password(client, "ada@example.com")
    submit_code(client, code)
    names = [e.event for e in all_events(ctx)]
    for expected in [
        "user_created",
        "authn_password_ok",
        "authn_token_created",
        "session_logout",
        "authn_login_fail",
        "authn_login_success",
        "authn_token_reuse",
    ]:
        assert expected in names, expected
    for event in all_events(ctx):
        if event.event.startswith("authn_"):
            assert event.user_email == "ada@example.com" and event.at is not None
            assert event.ip == "testclient" and event.user_agent == FIREFOX
    steps = [json.loads(e.detail).get("step") for e in all_events(ctx) if e.event == "authn_login_fail"]
    assert steps == ["password", "second"]
    assert all(secret not in e.detail and code not in e.detail for e in all_events(ctx))


def test_throttling_is_recorded(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    make_user(ctx)
    for _ in range(5):
        login_password(client, "ada@example.com", "not the right password")
    [lock] = [e for e in all_events(ctx) if e.event == "authn_login_lock"]
    assert lock.outcome == "failure" and '"seconds": 30' in lock.detail


def test_audit_log_page_filters_by_event_user_outcome_and_date(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    console = admin_client(client, ctx, clock)
    make_user(ctx, "ada@example.com")
    make_user(ctx, "bob@example.com")
    login_password(client, "ada@example.com", "not the right password")
    login_password(client, "bob@example.com", "not the right password")
    page = console.get("/admin/audit?event=authn_login_fail&user=ada")
    assert page.status_code == 200
    assert page.text.count('data-event="authn_login_fail"') == 1
    assert "ada@example.com" in page.text and "bob@example.com" not in page.text
    failures = console.get("/admin/audit?outcome=failure")
    assert failures.text.count("<tr data-event=") == 2
    assert "No event matches." in console.get("/admin/audit?since=2026-03-03").text
    assert console.get("/admin/audit?until=2026-03-02&event=user_created").text.count("<tr data-event=") == 3
    bad = console.get("/admin/audit?since=yesterday")
    assert bad.status_code == 422
    assert alerts(bad.text) == ["Enter a date like 2026-03-01."]
    assert 'aria-describedby="since-error"' in bad.text


def test_audit_log_pages_back_through_older_events(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    console = admin_client(client, ctx, clock)
    with ctx.db.transaction() as db:
        for index in range(130):
            audit.record(ctx, db, "authn_login_fail", request=RequestInfo(ip=f"10.0.0.{index}"), outcome="failure")
    first = console.get("/admin/audit?event=authn_login_fail")
    assert first.text.count("<tr data-event=") == 100
    older = first.text.split(">Older events</a>", 1)[0].rsplit('<a href="', 1)[1].split('"', 1)[0]
    second = console.get(older.replace("&amp;", "&"))
    assert second.text.count("<tr data-event=") == 30 and "10.0.0.0<" in second.text


def test_export_as_json_lines_and_csv_neutralises_formulas(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    console = admin_client(client, ctx, clock)
    make_user(ctx, "ada@example.com")
    client.headers["User-Agent"] = '=HYPERLINK("http://evil.example","click")'
    login_password(client, "ada@example.com", "not the right password")

    jsonl = console.get("/admin/audit/export?format=jsonl&user=ada")
    assert jsonl.status_code == 200
    assert jsonl.headers["content-type"].startswith("application/jsonl")
    assert jsonl.headers["content-disposition"].startswith("attachment;")
    assert "no-store" in jsonl.headers["cache-control"]
    rows = [json.loads(line) for line in jsonl.text.splitlines()]
    assert [r["event"] for r in rows] == ["user_created", "authn_login_fail"]
    failed = rows[1]
    assert failed["user_email"] == "ada@example.com" and failed["outcome"] == "failure"
    assert failed["user_agent"].startswith("=HYPERLINK") and failed["detail"]["step"] == "password"
    assert failed["at"].startswith("2026-03-02T09:00")

    exported = console.get("/admin/audit/export?format=csv&user=ada")
    assert exported.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(exported.text)))
    assert table[0] == list(admin.EXPORT_COLUMNS)
    assert [row[2] for row in table[1:]] == ["user_created", "authn_login_fail"]
    assert table[2][table[0].index("user_agent")].startswith("'=HYPERLINK")

    assert console.get("/admin/audit/export?format=xml").status_code == 422
    exports = [e for e in all_events(ctx) if e.event == "authz_admin" and '"audit_export"' in e.detail]
    assert len(exports) == 2 and all(e.actor_id for e in exports)
