"""The sign-in state machine: a session earns rights only by walking these stages in order.

    (anonymous) --password ok, method confirmed--> SECOND_STEP --code ok--> SIGNED_IN
    (anonymous) --password ok, no method--------> ENROLL -------method confirmed--> SIGNED_IN
    (anonymous) --password ok + remembered device for this user--> SIGNED_IN (password-only, AAL1)

Each arrow issues a new session id (the old one is deleted). SECOND_STEP and ENROLL grant access
to their own pages only; anything unexpected ends in "denied" (fail closed).
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum


class Stage(StrEnum):
    SECOND_STEP = "second_step"
    ENROLL = "enroll"
    RESET_SECOND_STEP = "reset_second_step"
    SIGNED_IN = "signed_in"


PENDING_LIFETIME = timedelta(minutes=10)
ENROLL_LIFETIME = timedelta(minutes=30)
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
REAUTH_WINDOW = timedelta(minutes=5)


class Area(StrEnum):
    """Which part of the site a route belongs to, for the stage gate."""

    PUBLIC = "public"
    SECOND_STEP = "second_step"
    ENROLL = "enroll"
    SIGNED_IN = "signed_in"


ALLOWED: dict[Stage, frozenset[Area]] = {
    Stage.SECOND_STEP: frozenset({Area.PUBLIC, Area.SECOND_STEP}),
    Stage.RESET_SECOND_STEP: frozenset({Area.PUBLIC}),
    Stage.ENROLL: frozenset({Area.PUBLIC, Area.ENROLL}),
    Stage.SIGNED_IN: frozenset({Area.PUBLIC, Area.ENROLL, Area.SIGNED_IN}),
}


def may_enter(stage: Stage | None, area: Area) -> bool:
    if area is Area.PUBLIC:
        return True
    if stage is None:
        return False
    return area in ALLOWED.get(stage, frozenset())


def stage_after_password(*, has_confirmed_method: bool, device_remembered: bool, must_enroll: bool) -> Stage:
    if has_confirmed_method:
        return Stage.SIGNED_IN if device_remembered else Stage.SECOND_STEP
    return Stage.ENROLL if must_enroll else Stage.SIGNED_IN


def home_for(stage: Stage) -> str:
    """Where a session in this stage belongs when it wanders off."""
    return {
        Stage.SECOND_STEP: "/login/code",
        Stage.ENROLL: "/enroll",
        Stage.RESET_SECOND_STEP: "/password/reset",
        Stage.SIGNED_IN: "/account",
    }[stage]
