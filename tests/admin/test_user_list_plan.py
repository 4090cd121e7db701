"""The console's user list stays fast with many accounts: PostgreSQL answers a deep page by walking
the email index (keyset pagination), never by reading the table, and reads about one page of rows.

Measured with 200,000 accounts here (the 1,000,000-account figures are in docs/benchmarks.md, from
``bench/user_list.py``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from twostep.domain.clock import FrozenClock
from twostep.services.admin import user_list
from twostep.services.admin.user_list import UserQuery
from twostep.services.core.context import Context

ACCOUNTS = 200_000


def fill(ctx: Context) -> None:
    """ACCOUNTS users, a third of them with an authenticator app; then ANALYZE, as a live server's
    autovacuum would have done."""
    with ctx.db.transaction() as db:
        db.execute(
            text(
                "INSERT INTO users (email, name, created_at, sign_in_count, must_enroll, grace_sign_ins, "
                "password_imported) SELECT 'user' || lpad(i::text, 7, '0') || '@example.com', 'User ' || i, "
                "now(), 0, false, 0, false FROM generate_series(1, :n) AS i"
            ),
            {"n": ACCOUNTS},
        )
        db.execute(
            text(
                "INSERT INTO factors (user_id, kind, label, created_at, confirmed_at) "
                "SELECT id, 'totp', '', now(), now() FROM users WHERE id % 3 = 0"
            )
        )
    ctx.db.refresh_statistics(["users", "factors", "user_roles"])


def plan(ctx: Context, query: UserQuery) -> dict[str, Any]:
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        statement = user_list.page_statement(ctx, db, query.cleaned(), now, user_list.PAGE_SIZE)
        sql = str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
        raw = db.execute(text("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)).scalar_one()
    found: dict[str, Any] = (json.loads(raw) if isinstance(raw, str) else raw)[0]
    return found


def nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(child for sub in node.get("Plans", []) for child in nodes(sub))]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_deep_page_of_the_user_list_walks_the_email_index_on_postgresql(ctx: Context, clock: FrozenClock) -> None:
    fill(ctx)
    for query in [
        UserQuery(after="user0150000@example.com"),  # page 3,000 of 4,000
        UserQuery(before="user0150000@example.com"),  # its previous page
        UserQuery(after="user0150000@example.com", status="not_enrolled"),
        UserQuery(after="user0150000@example.com", method="totp"),
    ]:
        result = plan(ctx, query)
        steps = nodes(result["Plan"])
        on_users = [n for n in steps if n.get("Relation Name") == "users"]
        assert on_users and all(n["Node Type"] in ("Index Scan", "Index Only Scan") for n in on_users), (query, steps)
        assert any(n.get("Index Name") == "uq_users_email" for n in on_users), (query, on_users)
        assert not any(n["Node Type"] == "Seq Scan" for n in steps), (query, steps)
        assert on_users[0]["Actual Rows"] <= 3 * (user_list.PAGE_SIZE + 1), (query, on_users)  # about one page read
        assert result["Execution Time"] < 1000, query  # milliseconds; typically well under 5

    deep = user_list.list_users(ctx, UserQuery(after="user0150000@example.com"))
    assert deep.rows[0].email == "user0150001@example.com" and len(deep.rows) == user_list.PAGE_SIZE
    assert deep.count_capped and deep.count == user_list.COUNT_CAP  # "more than 10,000", never a full count
    back = user_list.list_users(ctx, UserQuery(before=deep.rows[0].email))
    assert back.rows[-1].email == "user0150000@example.com" and back.previous_before and back.next_after
