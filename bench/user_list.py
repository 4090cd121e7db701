"""The console's user list and dashboard with many accounts on PostgreSQL.

    PYTHONPATH=src:. python bench/user_list.py [--accounts 1000000] [--database-url postgresql://...]

Without ``--database-url`` it starts a throw-away PostgreSQL (as the tests do). It fills ``users``
(a third with an authenticator app, 1 % with the role ``finance``, 10 recovery codes for a tenth of
the enrolled), runs ANALYZE, then times each read the console makes, through the real services
(``services.admin.user_list.list_users``: the page, the capped count and the page links; the
dashboard's read models), best of 5, and prints the plan of a deep page.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from twostep.app import build_context
from twostep.services.admin import dashboard, user_list
from twostep.services.admin.user_list import UserQuery
from twostep.settings import load_settings
from twostep.storage.database import Database
from twostep.storage.migrate import upgrade


def fill(db: Database, accounts: int) -> None:
    with db.transaction() as session:
        session.execute(
            text(
                "INSERT INTO users (email, name, created_at, sign_in_count, must_enroll, grace_sign_ins, "
                "password_imported) SELECT 'user' || lpad(i::text, 7, '0') || '@example.com', 'User ' || i, "
                "now() - (i % 90) * interval '1 day', 0, false, 0, false FROM generate_series(1, :n) AS i"
            ),
            {"n": accounts},
        )
        session.execute(
            text(
                "INSERT INTO factors (user_id, kind, label, created_at, confirmed_at) "
                "SELECT id, 'totp', '', now(), now() - (id % 80) * interval '1 day' FROM users WHERE id % 3 = 0"
            )
        )
        session.execute(
            text("INSERT INTO user_roles (user_id, role) SELECT id, 'finance' FROM users WHERE id % 100 = 7")
        )
        session.execute(
            text(
                "INSERT INTO recovery_codes (user_id, code_digest, created_at) "
                "SELECT u.id, md5(u.id::text || '-' || g), now() "
                "FROM users u, generate_series(1, 10) g WHERE u.id % 30 = 0"
            )
        )
    db.refresh_statistics(["users", "factors", "user_roles", "recovery_codes"])


def best_of(runs: int, work: Callable[[], object]) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return min(times), statistics.median(times)


def explain(ctx: Any, query: UserQuery) -> dict[str, Any]:
    with ctx.db.transaction() as db:
        statement = user_list.page_statement(ctx, db, query.cleaned(), ctx.clock.now(), user_list.PAGE_SIZE)
        sql = str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
        raw = db.execute(text("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)).scalar_one()
    result: dict[str, Any] = (json.loads(raw) if isinstance(raw, str) else raw)[0]
    return result


def summary(node: dict[str, Any], depth: int = 0) -> list[str]:
    line = "  " * depth + node["Node Type"]
    if "Index Name" in node:
        line += f" using {node['Index Name']}"
    if "Relation Name" in node:
        line += f" on {node['Relation Name']}"
    line += f" (rows {node.get('Actual Rows')}, loops {node.get('Actual Loops')})"
    return [line, *(part for child in node.get("Plans", []) for part in summary(child, depth + 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    url = args.database_url
    stop = None
    if not url:
        from tests import services_plugin

        url = services_plugin.start_postgres()
        stop = services_plugin.stop_all
    try:
        upgrade(url)
        import tempfile

        settings = load_settings(database_url=url, data_dir=tempfile.mkdtemp(prefix="twostep-bench-"))
        ctx = build_context(settings, database=Database(settings.resolved_database_url))
        started = time.perf_counter()
        fill(ctx.db, args.accounts)
        print(f"filled {args.accounts:,} accounts in {time.perf_counter() - started:.1f} s")
        deep = f"user{int(args.accounts * 0.75):07d}@example.com"
        cases: list[tuple[str, Callable[[], object]]] = [
            ("first page", lambda: user_list.list_users(ctx, UserQuery())),
            ("page at 75 % (after=)", lambda: user_list.list_users(ctx, UserQuery(after=deep))),
            ("previous page (before=)", lambda: user_list.list_users(ctx, UserQuery(before=deep))),
            ("not enrolled, at 75 %", lambda: user_list.list_users(ctx, UserQuery(after=deep, status="not_enrolled"))),
            ("authenticator app, at 75 %", lambda: user_list.list_users(ctx, UserQuery(after=deep, method="totp"))),
            ("role finance (1 %)", lambda: user_list.list_users(ctx, UserQuery(role="finance"))),
            ("locked", lambda: user_list.list_users(ctx, UserQuery(status="locked"))),
            ("search 'user0999' (substring)", lambda: user_list.list_users(ctx, UserQuery(q="user0999"))),
            ("search, no match", lambda: user_list.list_users(ctx, UserQuery(q="nobody-here"))),
            ("dashboard: enrollment + trend", lambda: dashboard.enrollment(ctx)),
            ("dashboard: methods", lambda: dashboard.methods(ctx)),
            ("dashboard: sign-ins", lambda: dashboard.sign_ins(ctx)),
            ("dashboard: attention", lambda: dashboard.attention(ctx)),
            ("dashboard: whole page data", lambda: dashboard.dashboard(ctx)),
        ]
        print(f"| read ({args.accounts:,} accounts) | best of {args.runs} | median |")
        print("|---|---|---|")
        for name, work in cases:
            best, median = best_of(args.runs, work)
            print(f"| {name} | {best:.1f} ms | {median:.1f} ms |")
        plan = explain(ctx, UserQuery(after=deep))
        print(f"\nplan of the page at 75 % (execution {plan['Execution Time']:.2f} ms):")
        print("\n".join(summary(plan["Plan"])))
        ctx.db.dispose()
    finally:
        if stop is not None:
            stop()


if __name__ == "__main__":
    main()
