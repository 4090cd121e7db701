"""Recovery codes under concurrency: 20 pending sign-ins submit one code at once, exactly one wins
(compare-and-set on ``used_at IS NULL``), and a code never completes another user's sign-in."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from tests.support import make_user
from twostep.domain.clock import FrozenClock
from twostep.domain.login_flow import Stage
from twostep.services.core import sessions
from twostep.services.core.context import Context, RequestInfo
from twostep.services.factors import recovery
from twostep.services.recovery import recovery_login
from twostep.storage.models import RecoveryCode, User, WebSession

THREADS = 20


def pending_sign_ins(ctx: Context, clock: FrozenClock, user_id: int, count: int) -> list[str]:
    """Sessions that have passed the password step (what /login leaves behind)."""
    with ctx.db.transaction() as db:
        user = db.get(User, user_id)
        assert user is not None
        return [
            sessions.create(ctx, db, user, Stage.SECOND_STEP, RequestInfo(), password_at=clock.now())
            for _ in range(count)
        ]


def codes_for(ctx: Context, user_id: int) -> list[str]:
    with ctx.db.transaction() as db:
        return recovery.regenerate(ctx, db, user_id)


def test_twenty_parallel_uses_of_one_recovery_code_give_exactly_one_sign_in(ctx: Context, clock: FrozenClock) -> None:
    user_id = make_user(ctx)
    code = codes_for(ctx, user_id)[0]
    tokens = pending_sign_ins(ctx, clock, user_id, THREADS)
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(token: str) -> None:
        barrier.wait()
        result = recovery_login.sign_in_with_recovery_code(ctx, token, code, RequestInfo(ip="10.0.0.1"))
        with lock:
            outcomes.append(result.outcome)

    workers = [threading.Thread(target=attempt, args=(token,)) for token in tokens]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert len(outcomes) == THREADS
    assert outcomes.count("signed_in") == 1
    assert set(outcomes) <= {"signed_in", "invalid", "throttled"}
    with ctx.db.transaction() as db:
        assert db.scalar(select(func.count()).select_from(RecoveryCode).where(RecoveryCode.used_at.is_not(None))) == 1
        assert db.scalar(select(func.count()).select_from(WebSession).where(WebSession.stage == "signed_in")) == 1


def test_user_a_recovery_code_is_refused_in_user_b_sign_in(ctx: Context, clock: FrozenClock) -> None:
    ada = make_user(ctx, "ada@example.com")
    bob = make_user(ctx, "bob@example.com")
    ada_code = codes_for(ctx, ada)[0]
    codes_for(ctx, bob)
    [bob_pending] = pending_sign_ins(ctx, clock, bob, 1)
    refused = recovery_login.sign_in_with_recovery_code(ctx, bob_pending, ada_code, RequestInfo())
    assert refused.outcome == "invalid"
    [ada_pending] = pending_sign_ins(ctx, clock, ada, 1)
    assert recovery_login.sign_in_with_recovery_code(ctx, ada_pending, ada_code, RequestInfo()).outcome == "signed_in"
