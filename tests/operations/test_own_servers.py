"""`make test` on a machine with no PostgreSQL or Redis running starts its own: proven here even when
the run was given servers (as CI is), by starting a second pair and using them."""

from __future__ import annotations

import psycopg
import redis

from tests import services_plugin


def test_the_suite_can_start_its_own_postgresql_and_redis() -> None:
    before = services_plugin.started()  # the run's own servers, if it started any, keep running
    try:
        database_url = services_plugin.start_postgres()
        redis_url = services_plugin.start_redis()
        with psycopg.connect(database_url, autocommit=True) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("test",)
            assert conn.execute("SHOW fsync").fetchone() == ("off",)
        client = redis.Redis.from_url(redis_url)
        assert client.ping() and client.set("twostep:probe", "1") and client.get("twostep:probe") == b"1"
        client.close()
    finally:
        services_plugin.stop_all(keep=before)
    assert services_plugin.started() == before
