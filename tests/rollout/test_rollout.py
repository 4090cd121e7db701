"""The rollout rules (domain.rollout) on their own: who must enroll, and how the grace period ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from twostep.domain.rollout import TwoStepPolicy, Verdict, decide, parse_roles

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def verdict(
    policy: TwoStepPolicy,
    roles: tuple[str, ...] = (),
    *,
    started: datetime | None = None,
    sign_ins: int = 0,
    must_enroll: bool = False,
) -> Verdict:
    return decide(
        policy, roles=roles, must_enroll=must_enroll, grace_started_at=started, grace_sign_ins=sign_ins, now=NOW
    ).verdict


def test_who_must_enroll_by_mode_and_role() -> None:
    roles_mode = TwoStepPolicy(required="roles", required_roles=frozenset({"finance"}))
    assert verdict(roles_mode, ("finance", "staff")) is Verdict.FORCE
    assert verdict(roles_mode, ("staff",)) is Verdict.FREE
    assert verdict(TwoStepPolicy(required="optional"), ("finance",)) is Verdict.FREE
    immediate = TwoStepPolicy(required="optional", immediate_roles=frozenset({"sensitive-data"}))
    assert verdict(immediate, ("sensitive-data",)) is Verdict.FORCE
    assert verdict(TwoStepPolicy(required="optional"), must_enroll=True) is Verdict.FORCE


def test_day_limit_counts_whole_days_rounded_up_from_the_first_sign_in() -> None:
    policy = TwoStepPolicy(grace_days=7)
    first = decide(policy, roles=(), must_enroll=False, grace_started_at=None, grace_sign_ins=0, now=NOW)
    assert (first.verdict, first.days_left, first.deadline, first.grace_started) == (
        Verdict.REMIND,
        7,
        NOW + timedelta(days=7),
        False,
    )
    later = decide(
        policy,
        roles=(),
        must_enroll=False,
        grace_started_at=NOW - timedelta(days=6, hours=1),
        grace_sign_ins=5,
        now=NOW,
    )
    assert (later.verdict, later.days_left, later.sign_ins_left) == (Verdict.REMIND, 1, None)
    assert verdict(policy, started=NOW - timedelta(days=7)) is Verdict.FORCE


def test_sign_in_limit_and_whichever_comes_first() -> None:
    policy = TwoStepPolicy(grace_sign_ins=3)
    assert [verdict(policy, started=NOW, sign_ins=n) for n in range(5)] == [
        Verdict.REMIND,
        Verdict.REMIND,
        Verdict.REMIND,
        Verdict.FORCE,
        Verdict.FORCE,
    ]
    both = TwoStepPolicy(grace_days=30, grace_sign_ins=3)
    assert verdict(both, started=NOW - timedelta(days=31), sign_ins=0) is Verdict.FORCE
    assert verdict(both, started=NOW, sign_ins=3) is Verdict.FORCE
    assert verdict(TwoStepPolicy(grace_days=30, immediate_roles=frozenset({"x"})), ("x",)) is Verdict.FORCE


def test_the_authenticator_app_is_always_allowed_and_bad_policies_are_refused() -> None:
    assert TwoStepPolicy(allowed_methods=("email",)).allowed_methods == ("totp", "email")
    with pytest.raises(ValueError):
        TwoStepPolicy(required="sometimes")
    with pytest.raises(ValueError):
        TwoStepPolicy(grace_days=-1)


def test_role_names_are_short_lower_case_words() -> None:
    assert parse_roles("Finance, sensitive-data;ops.eu , ,") == (["finance", "ops.eu", "sensitive-data"], [])
    assert parse_roles("good, Not Good, -dash, " + "x" * 65) == (["good"], ["Not Good", "-dash", "x" * 65])
