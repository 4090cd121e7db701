"""WebAuthn §13.4.3 under concurrency: 20 threads submit one signed assertion at once; the challenge
is consumed by one ``DELETE … RETURNING``, so exactly one is accepted — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.passkey_support import BASE_URL, SoftAuthenticator
from tests.support import make_user
from twostep.domain.clock import FrozenClock
from twostep.domain.passkeys import Purpose
from twostep.services.core.context import Context, RequestInfo
from twostep.services.factors import passkey
from twostep.services.operations import purge
from twostep.settings import Settings, load_settings
from twostep.storage.models import Factor, PasskeyChallenge, PasskeyCredential, User

BOUND_TO = "pending-session-1"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(data_dir=tmp_path / "data", database_url=database_url, base_url=BASE_URL)


def registered(ctx: Context, clock: FrozenClock) -> tuple[int, SoftAuthenticator]:
    """A user with one confirmed passkey, registered through the real ceremony."""
    user_id = make_user(ctx)
    authenticator = SoftAuthenticator()
    with ctx.db.transaction() as db:
        user = db.get(User, user_id)
        assert user is not None
        options = json.loads(passkey.begin_registration(ctx, db, user, bound_to=BOUND_TO) or "{}")
    with ctx.db.transaction() as db:
        user = db.get(User, user_id)
        assert user is not None
        done = passkey.finish_registration(
            ctx, db, user, json.dumps(authenticator.create(options)), bound_to=BOUND_TO, request=RequestInfo()
        )
        assert done.outcome == "registered"
        db.execute(Factor.__table__.update().values(confirmed_at=clock.now(), pending_session=None))
    return user_id, authenticator


@pytest.mark.parametrize("threads", [20])
def test_twenty_parallel_submissions_of_one_assertion_give_exactly_one_success(
    ctx: Context, clock: FrozenClock, threads: int
) -> None:
    user_id, authenticator = registered(ctx, clock)
    with ctx.db.transaction() as db:
        options = json.loads(
            passkey.begin_authentication(ctx, db, bound_to=BOUND_TO, purpose=Purpose.SECOND_STEP, user_id=user_id)
            or "{}"
        )
    assertion = json.dumps(authenticator.get(options))
    barrier = threading.Barrier(threads)
    outcomes: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def submit() -> None:
        try:
            barrier.wait(timeout=10)
            with ctx.db.transaction() as db:
                checked = passkey.check_assertion(
                    ctx, db, assertion, bound_to=BOUND_TO, purpose=Purpose.SECOND_STEP, request=RequestInfo(),
                    user_id=user_id,
                )  # fmt: skip
            with lock:
                outcomes.append(checked.outcome)
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=submit) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []
    assert sorted(outcomes) == ["accepted"] + ["replayed"] * (threads - 1)
    with ctx.db.transaction() as db:
        assert db.scalar(select(func.count()).select_from(PasskeyChallenge)) == 0
        assert db.scalar(select(PasskeyCredential.sign_count)) == authenticator.sign_count


def test_a_challenge_is_deleted_by_the_one_answer_that_uses_it(ctx: Context, clock: FrozenClock) -> None:
    make_user(ctx)
    with ctx.db.transaction() as db:
        challenge = passkey.issue_challenge(ctx, db, bound_to=BOUND_TO, purpose=Purpose.SIGN_IN, user_id=None)
    with ctx.db.transaction() as db:
        other_purpose = passkey.consume_challenge(ctx, db, challenge, bound_to=BOUND_TO, purpose=Purpose.SECOND_STEP)
        other_session = passkey.consume_challenge(ctx, db, challenge, bound_to="another", purpose=Purpose.SIGN_IN)
        first = passkey.consume_challenge(ctx, db, challenge, bound_to=BOUND_TO, purpose=Purpose.SIGN_IN)
        second = passkey.consume_challenge(ctx, db, challenge, bound_to=BOUND_TO, purpose=Purpose.SIGN_IN)
    assert [other_purpose.state, other_session.state, first.state, second.state] == [
        "gone", "gone", "consumed", "gone"
    ]  # fmt: skip


def test_unanswered_challenges_are_purged_after_they_expire(ctx: Context, clock: FrozenClock) -> None:
    with ctx.db.transaction() as db:
        passkey.issue_challenge(ctx, db, bound_to="a", purpose=Purpose.SIGN_IN, user_id=None)
    clock.advance(minutes=4)
    with ctx.db.transaction() as db:
        passkey.issue_challenge(ctx, db, bound_to="b", purpose=Purpose.SIGN_IN, user_id=None)
    clock.advance(minutes=2)
    assert purge.purge(ctx)["passkey_challenges"] == 1
    with ctx.db.transaction() as db:
        assert db.scalar(select(PasskeyChallenge.bound_to)) == "b"
