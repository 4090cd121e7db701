"""The console's home page (the dashboard with its first-run checklist) and the readable audit log."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from tests.admin.test_admin import ROOT, signed_in, target_user
from tests.support import alerts, login_password, make_user
from twostep.domain.clock import FrozenClock
from twostep.services.admin import dashboard
from twostep.services.core import audit, throttling
from twostep.services.core.context import Context, RequestInfo
from twostep.storage.models import AuditEvent, RecoveryCode, UserRole

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def figure(html: str, label: str) -> str:
    """The number shown in the stats card whose label contains ``label``."""
    for value, text in re.findall(
        r'<span class="stat-value">([^<]+)</span> <span class="stat-label">(.*?)</span></li>', html
    ):
        if label in unescape(re.sub(r"<[^>]+>", "", text)):
            return value
    raise AssertionError(f"no figure labelled {label!r}")


def test_the_dashboard_counts_enrollment_methods_sign_ins_and_what_needs_attention(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)  # enrolled with an app: 1 sign-in counted
    ada_id, _, _ = target_user(ctx, clock, "ada@example.com")  # app + 10 recovery codes
    make_user(ctx, "bob@example.com")  # not enrolled
    make_user(ctx, "cy@example.com")
    with ctx.db.transaction() as db:
        for _ in range(5):
            throttling.record_failure(db, throttling.second_step_key(ada_id), clock.now())
        for row in db.scalars(select(RecoveryCode).where(RecoveryCode.user_id == ada_id).limit(8)):
            row.used_at = clock.now()  # 2 left: running low
        for _ in range(2):
            audit.record(ctx, db, "authn_login_fail", request=RequestInfo(), outcome="failure")
        db.flush()
        recent, old = db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(2)).all()
        recent.at = clock.now() - timedelta(days=3)  # inside the 30 days
        old.at = clock.now() - timedelta(days=40)  # outside
    bad = TestClient(client.app, base_url="http://127.0.0.1:8000")
    login_password(bad, "bob@example.com", "not the password at all")
    page = client.get("/admin")
    assert page.status_code == 200
    html = page.text
    assert figure(html, "users") == "4"
    assert figure(html, "set up two-step verification (2)") == "50 %"
    assert figure(html, "failed sign-ins in the last 24 hours") == "1"
    assert figure(html, "locked after wrong attempts") == "1" and 'href="/admin/users?status=locked"' in html
    assert figure(html, "recovery codes left") == "1"  # ada (2 left); root has the 10 from enrolling
    assert "2 failed (wrong password or code)" in unescape(html)
    # the charts, each with its table
    assert html.count('<svg class="chart"') == 2 and html.count('role="img"') == 2
    assert html.count("<summary>Show as a table</summary>") == 2
    assert re.search(
        r'<tr data-kind="totp"><th scope="row">Authenticator app</th>\s*<td>2 <span class="hint">\(100 %\)', html
    )
    trend_rows = re.findall(r"<tr><th scope=\"row\">[^<]+</th><td>(\d+)</td><td>(\d+)</td><td>(\d+) %</td></tr>", html)
    assert len(trend_rows) == 12 and trend_rows[-1] == ("4", "2", "50")
    assert 'data-state="log"' in html and "Only written to the log" in html  # mail goes to the log in tests
    assert "<script" not in html


def test_the_first_run_checklist_shows_until_everything_is_done(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    page = client.get("/admin").text
    assert 'id="checklist"' in page
    todo = dict(re.findall(r'<li class="(done|todo-open)" data-item="(\w+)">', page))
    states = {item: state for state, item in re.findall(r'<li class="(done|todo-open)" data-item="(\w+)">', page)}
    assert todo and states == {
        "second_admin": "todo-open",
        "mail": "todo-open",
        "base_url": "todo-open",  # http://127.0.0.1:8000 in tests
        "support_email": "done",  # help@acme.test
    }
    other = make_user(ctx, "second@example.com")
    with ctx.db.transaction() as db:
        db.add(UserRole(user_id=other, role="admin"))
    ctx.settings = ctx.settings.model_copy(
        update={"smtp_url": SecretStr("smtp://mail.example.com:25"), "base_url": "https://login.example.com"}
    )
    health = dashboard.health(ctx)
    assert health.mail == "smtp"
    assert all(item.done for item in dashboard.checklist(ctx, health))
    assert 'id="checklist"' not in client.get("/admin").text


def test_the_old_user_list_address_goes_to_the_new_one(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    moved = client.get("/admin?q=ada", follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"] == "/admin/users?q=ada"


def test_the_sub_navigation_marks_the_current_page_on_every_console_page(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    for path, current in [
        ("/admin", "/admin"),
        ("/admin/users", "/admin/users"),
        ("/admin/users/new", "/admin/users"),
        ("/admin/audit", "/admin/audit"),
        ("/admin/policy", "/admin/policy"),
        ("/admin/roles", "/admin/roles"),
        ("/admin/missing", "/admin/missing"),
        ("/admin/api-keys", "/admin/api-keys"),
        ("/admin/oidc", "/admin/oidc"),
    ]:
        html = client.get(path).text
        marked = re.findall(r'<a href="([^"]+)" aria-current="page">', html)
        assert marked == [current], (path, marked)


# --- the audit log, readable ---------------------------------------------------------------------


def test_the_audit_log_names_events_in_words_and_browsers_by_name_with_the_raw_string_on_demand(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    make_user(ctx, "ada@example.com")
    user = TestClient(client.app, base_url="http://127.0.0.1:8000", headers={"User-Agent": CHROME})
    login_password(user, "ada@example.com", "not the right password")
    page = client.get("/admin/audit?event=authn_login_fail")
    html = page.text
    assert page.status_code == 200 and html.count("<tr data-event=") == 1
    assert '<span class="event-name">Sign-in failed</span>' in html
    assert "Chrome on Linux" in html
    assert f'<code class="raw">{CHROME}</code>' in html  # the whole string, inside <details>
    assert re.search(r"<details>\s*<summary>Details", html)
    assert "<dt><code>step</code></dt><dd>password</dd>" in html
    assert "Mar 2, 2026 9:00\u202fAM UTC" in html
    # the filter is a select of the real event types, grouped
    assert '<option value="authn_login_fail" selected>Sign-in failed</option>' in html
    assert '<optgroup label="Signing in">' in html
    # an exact type from the select doesn't match longer names that start with it
    with ctx.db.transaction() as db:
        audit.record(ctx, db, "authn_login_fail_max", request=RequestInfo(), outcome="failure")
    assert client.get("/admin/audit?event=authn_login_fail").text.count("<tr data-event=") == 1
    assert client.get("/admin/audit?event=authn_login_").text.count("<tr data-event=") == 2  # a prefix still works


def test_the_audit_log_speaks_the_administrators_language(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    user = TestClient(client.app, base_url="http://127.0.0.1:8000", headers={"User-Agent": CHROME})
    make_user(ctx, "ada@example.com")
    login_password(user, "ada@example.com", "not the right password")
    polish = client.get("/admin/audit?event=authn_login_fail&lang=pl").text
    assert "Nieudane logowanie" in polish and "Chrome w systemie Linux" in polish
    assert "2 mar 2026 09:00 UTC" in polish
    swedish = client.get("/admin/audit?lang=sv").text
    assert "Konto skapat" in swedish and "2 mars 2026 09:00 UTC" in swedish


def test_audit_filters_refuse_a_bad_date_next_to_its_field(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    bad = client.get("/admin/audit?until=31/12/2026&event=%3Cscript%3E")
    assert bad.status_code == 422
    assert alerts(bad.text) == ["Enter a date like 2026-03-01."]
    assert 'id="until-error" role="alert"' in bad.text and "<script>" not in bad.text


def test_slow_figures_are_kept_for_a_minute_and_the_page_says_how_old_they_are(
    client: TestClient, ctx: Context, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    monkeypatch.setattr(dashboard, "SLOW_SECONDS", -1.0)  # every read counts as slow
    first = client.get("/admin").text
    assert 'id="figures-as-of"' not in first and figure(first, "user") == "1"
    make_user(ctx, "ada@example.com")
    kept = client.get("/admin").text
    assert figure(kept, "user") == "1" and "Some figures are from Mar 2, 2026" in kept
    clock.advance(seconds=61)
    fresh = client.get("/admin").text
    assert figure(fresh, "users") == "2"
    monkeypatch.setattr(dashboard, "SLOW_SECONDS", 60.0)  # fast again: never kept
    clock.advance(seconds=61)
    assert figure(client.get("/admin").text, "users") == "2"
    make_user(ctx, "bob@example.com")
    assert figure(client.get("/admin").text, "users") == "3"
