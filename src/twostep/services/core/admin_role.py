"""The administrator role is given or taken in one place, whatever the way in.

Every way an account becomes (or stops being) an administrator — the user page of the console,
``twostep user grant-admin|revoke-admin``, ``twostep user create --admin``, ``twostep user
set-roles --role admin`` and ``twostep user import`` with ``roles=admin`` — ends here, so each
writes the OWASP ``authz_admin`` event (who, on whom, grant or revoke, from where) in the same
transaction as the change, and mails the account the ``role_changed`` notice once it is committed
(checklist N-02: a privilege change the owner did not make must reach them). The first
administrator, created through the one-time setup link by that person themselves, is the only
account that becomes an administrator without it (its ``user_created`` event names the role).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from twostep.services.core import audit, devices, notify
from twostep.services.core.context import Context, RequestInfo
from twostep.storage.models import User

ADMIN = "admin"


@dataclass(frozen=True)
class Grantor:
    """Who changes the role: an administrator (``user``) on the web, or the operator at the command line."""

    user: User | None
    email: str = ""
    via: Literal["web", "cli", "import"] = "cli"


def record_change(
    ctx: Context, db: Session, user: User, *, granted: bool, grantor: Grantor, request: RequestInfo
) -> None:
    """Call in the transaction that adds or removes the ``admin`` row: the ``authz_admin`` event now,
    the notice to the account after the commit (never if the transaction is rolled back)."""
    audit.record(
        ctx,
        db,
        "authz_admin",
        request=request,
        user=user,
        actor=grantor.user,
        action="grant_admin" if granted else "revoke_admin",
        actor_email=grantor.email,
        via=grantor.via,
    )
    browser = devices.browser_summary(request.user_agent) if request.user_agent else ""
    notify.tell_owner_after_commit(ctx, db, user, "role_changed", request, granted=granted, browser_label=browser)
