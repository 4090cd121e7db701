"""Who must set up two-step verification, and by when: the rollout policy as pure rules.

After a correct password, an account without a confirmed method gets one of three answers:

    required for this account?  --no-->  FREE    password alone; "Add a method" on My account
            | yes
    must_enroll (admin reset), an "immediate" role,
    or no grace period configured?  --yes-->  FORCE   enrollment stage, nothing else reachable
            | no
    grace over? (days since the requirement first met the
    account >= grace_days, or sign-ins since >= grace_sign_ins)  --yes-->  FORCE
            | no
    REMIND  "Set up now" / "Later, N days left"; this sign-in counts against grace_sign_ins

The grace period starts at the first sign-in at which the requirement applies to the account (not
when the operator changed the policy), so people who sign in rarely still get the whole period.
Whichever limit is configured and reached first ends it. The caller stores the start and the count.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

METHODS = ("passkey", "totp", "sms", "email")
#: The method a policy can never switch off (every account can always add an authenticator app).
ALWAYS_ALLOWED = "totp"
REQUIRED_CHOICES = ("all", "roles", "optional")
_ROLE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def normalize_role(raw: str) -> str | None:
    """Roles are short lower-case names (``admin``, ``sensitive-data``); None if not one."""
    role = raw.strip().lower()
    return role if _ROLE.match(role) else None


def parse_roles(text: str | Iterable[str], separators: str = ",;") -> tuple[list[str], list[str]]:
    """(valid roles sorted and unique, the pieces that are not role names) from "a, b; c" or a list."""
    pieces = re.split(f"[{re.escape(separators)}]", text) if isinstance(text, str) else list(text)
    good: set[str] = set()
    bad: list[str] = []
    for piece in pieces:
        if not piece.strip():
            continue
        role = normalize_role(piece)
        if role is None:
            bad.append(piece.strip())
        else:
            good.add(role)
    return sorted(good), bad


@dataclass(frozen=True)
class TwoStepPolicy:
    """``required``: "all", "roles" (holders of ``required_roles``) or "optional".
    ``immediate_roles`` must enroll at their next sign-in whatever the mode and the grace period
    (Azets: access to sensitive data). The authenticator app is always allowed."""

    required: str = "all"
    required_roles: frozenset[str] = field(default_factory=frozenset)
    immediate_roles: frozenset[str] = field(default_factory=frozenset)
    allowed_methods: tuple[str, ...] = METHODS
    grace_days: int = 0
    grace_sign_ins: int = 0

    def __post_init__(self) -> None:
        if self.required not in REQUIRED_CHOICES:
            raise ValueError(f"required must be one of {', '.join(REQUIRED_CHOICES)}")
        if self.grace_days < 0 or self.grace_sign_ins < 0:
            raise ValueError("grace limits can't be negative")
        methods = tuple(m for m in METHODS if m in self.allowed_methods or m == ALWAYS_ALLOWED)
        object.__setattr__(self, "allowed_methods", methods)

    @property
    def has_grace(self) -> bool:
        return self.grace_days > 0 or self.grace_sign_ins > 0

    def required_for(self, roles: Iterable[str]) -> bool:
        held = set(roles)
        if held & self.immediate_roles:
            return True
        if self.required == "all":
            return True
        return self.required == "roles" and bool(held & self.required_roles)

    def immediate_for(self, roles: Iterable[str]) -> bool:
        return bool(set(roles) & self.immediate_roles)


class Verdict(StrEnum):
    FREE = "free"
    REMIND = "remind"
    FORCE = "force"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    deadline: datetime | None = None  # when the day limit ends the grace period
    days_left: int | None = None  # whole days until then, rounded up (None: no day limit)
    sign_ins_left: int | None = None  # skips still allowed after this one (None: no sign-in limit)
    grace_started: bool = False


def decide(
    policy: TwoStepPolicy,
    *,
    roles: Iterable[str],
    must_enroll: bool,
    grace_started_at: datetime | None,
    grace_sign_ins: int,
    now: datetime,
) -> Decision:
    """The answer for an account without a confirmed method that just gave its password at ``now``.

    ``grace_sign_ins`` counts the earlier sign-ins in the grace period; a REMIND answer means the
    caller stores ``grace_started_at`` (if unset) and adds one."""
    held = set(roles)
    if must_enroll:
        return Decision(Verdict.FORCE)
    if not policy.required_for(held):
        return Decision(Verdict.FREE)
    if policy.immediate_for(held) or not policy.has_grace:
        return Decision(Verdict.FORCE)
    started = grace_started_at or now
    deadline = started + timedelta(days=policy.grace_days) if policy.grace_days else None
    if deadline is not None and now >= deadline:
        return Decision(Verdict.FORCE, deadline=deadline, grace_started=True)
    if policy.grace_sign_ins and grace_sign_ins >= policy.grace_sign_ins:
        return Decision(Verdict.FORCE, deadline=deadline, grace_started=True)
    days_left = math.ceil((deadline - now) / timedelta(days=1)) if deadline is not None else None
    sign_ins_left = policy.grace_sign_ins - grace_sign_ins - 1 if policy.grace_sign_ins else None
    return Decision(
        Verdict.REMIND,
        deadline=deadline,
        days_left=days_left,
        sign_ins_left=sign_ins_left,
        grace_started=grace_started_at is not None,
    )
