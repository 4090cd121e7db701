"""Readiness: can this instance serve right now? What ``/readyz`` answers and 503s advertise.

Serving needs a database that takes writes (every check writes its audit row) and, when one is
configured, Redis (the shared rate limits; the database stands in while it is away, but an operator's
load balancer should know). Each part is named in the answer, so a failing probe says what failed.
"""

from __future__ import annotations

from typing import Any

from twostep.services.core import rate_limits
from twostep.services.core.context import Context

#: What a 503 asks clients to wait before trying again (``Retry-After``), in seconds.
RETRY_AFTER_SECONDS = 5


def readiness(ctx: Context, *, redis_required: bool = True) -> tuple[dict[str, Any], bool]:
    """``({"status": "ready"|"not ready", "database": "ok"|<problem>, "redis": ...}, ready)``; the
    ``redis`` entry only when Redis is configured. Not ready when any part fails — Redis only when
    ``redis_required``: every instance shares one Redis, so a load balancer that drops not-ready
    instances would drop them all, while they serve correctly on the database."""
    body: dict[str, Any] = {}
    problem = ctx.db.write_problem()
    body["database"] = "ok" if problem is None else problem
    failing = [] if problem is None else ["database"]
    redis = rate_limits.redis_status(ctx)
    if redis is not None:
        body["redis"] = redis
        if redis != "ok" and redis_required:
            failing.append("redis")
    ready = not failing
    result: dict[str, Any] = {"status": "ready" if ready else "not ready", **body}
    if failing:
        result["failing"] = failing
    return result, ready
