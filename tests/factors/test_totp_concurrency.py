"""RFC 6238 §5.2 under concurrency: 20 threads submit one valid code, exactly one wins (T-10)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from tests.support import make_user
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.domain.factors import FactorKind
from twostep.services.core.context import Context
from twostep.services.factors import totp as totp_factor
from twostep.storage.models import Factor


def confirmed_factor(ctx: Context, clock: FrozenClock) -> tuple[int, str]:
    user_id = make_user(ctx)
    secret = totp.new_secret()
    with ctx.db.transaction() as db:
        db.add(Factor(user_id=user_id, kind=FactorKind.TOTP.value, label="",
                      secret_sealed=ctx.sealer.seal(secret, f"user:{user_id}:totp"),
                      created_at=clock.now(), confirmed_at=clock.now()))
    return user_id, secret


@pytest.mark.parametrize("threads", [20])
def test_twenty_parallel_submissions_of_one_code_give_exactly_one_success(
    ctx: Context, clock: FrozenClock, threads: int
) -> None:
    user_id, secret = confirmed_factor(ctx, clock)
    code = totp.code_at_step(secret, totp.step_at(clock.now()))
    barrier = threading.Barrier(threads)
    results: list[bool] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        with ctx.db.transaction() as db:
            verdict = totp_factor.verify_totp(ctx, db, user_id, code)
        with lock:
            results.append(verdict.accepted)

    workers = [threading.Thread(target=attempt) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert len(results) == threads
    assert results.count(True) == 1
    with ctx.db.transaction() as db:
        assert db.scalar(select(Factor.last_used_step)) == totp.step_at(clock.now())


def test_compare_and_set_refuses_an_equal_or_older_step(ctx: Context, clock: FrozenClock) -> None:
    _, _ = confirmed_factor(ctx, clock)
    with ctx.db.transaction() as db:
        factor_id = db.scalar(select(Factor.id))
        assert factor_id is not None
        assert totp_factor.consume_totp_step(db, factor_id, 100, clock.now())
        assert not totp_factor.consume_totp_step(db, factor_id, 100, clock.now())
        assert not totp_factor.consume_totp_step(db, factor_id, 99, clock.now())
        assert totp_factor.consume_totp_step(db, factor_id, 101, clock.now())
