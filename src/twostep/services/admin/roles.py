"""Roles: ``admin`` plus any the operator defines (``sensitive-data``, ``finance``…), assigned at
/admin/roles, with ``twostep user set-roles`` and by import. The policy may require 2FA by role."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from twostep.domain import rollout
from twostep.services.core import accounts, admin_role, audit
from twostep.services.core.accounts import ADMIN, AccountError
from twostep.services.core.context import Context, RequestInfo
from twostep.storage.models import User, UserRole


class RoleError(AccountError):
    """A refusal about roles; ``names`` lists the offending role names, if any."""

    def __init__(self, code: str, names: str = "") -> None:
        super().__init__(code, "roles")
        self.names = names


def parse(text: str | Iterable[str]) -> list[str]:
    """Role names from "a, b; c" or a list; RoleError("role_invalid") names the bad ones."""
    good, bad = rollout.parse_roles(text)
    if bad:
        raise RoleError("role_invalid", ", ".join(bad))
    return good


def add_in(db: Session, user_id: int, roles: Iterable[str], have: Iterable[str] = ()) -> list[str]:
    """Add roles the account doesn't hold yet (inside the caller's transaction); returns the new ones."""
    held = set(have) if have else set(accounts.roles_of(db, user_id))
    new = sorted(set(roles) - held)
    for role in new:
        db.add(UserRole(user_id=user_id, role=role))
    return new


def _admin_count(db: Session) -> int:
    """Locks the admin rows (PostgreSQL) so two removals can't both see "another admin is left"."""
    return len(db.scalars(select(UserRole.user_id).where(UserRole.role == ADMIN).with_for_update()).all())


def set_roles(
    ctx: Context,
    raw_email: str,
    roles: Iterable[str],
    *,
    actor_id: int | None = None,
    request: RequestInfo | None = None,
    admin_here: bool = True,
) -> tuple[list[str], list[str]]:
    """Give the account exactly these roles; returns (before, after). Refuses to remove the last
    administrator (nobody could administer the service any more). With ``admin_here=False`` (the
    roles page) the admin role can't change: the user page grants it, with its notification."""
    wanted = parse(list(roles))
    with ctx.db.transaction() as db:
        user = accounts.find_user_by_email(db, raw_email)
        if user is None:
            raise AccountError("user_unknown", "email")
        before = accounts.roles_of(db, user.id)
        if not admin_here and (ADMIN in before) != (ADMIN in wanted):
            raise RoleError("admin_elsewhere")
        if ADMIN in before and ADMIN not in wanted and _admin_count(db) <= 1:
            raise RoleError("last_admin")
        removed = sorted(set(before) - set(wanted))
        if removed:
            db.execute(delete(UserRole).where(UserRole.user_id == user.id, UserRole.role.in_(removed)))
        add_in(db, user.id, wanted, before)
        if before != wanted:
            actor = db.get(User, actor_id) if actor_id is not None else None
            if (ADMIN in before) != (ADMIN in wanted):
                grantor = admin_role.Grantor(actor, actor.email if actor else "", "web" if actor else "cli")
                admin_role.record_change(
                    ctx, db, user, granted=ADMIN in wanted, grantor=grantor, request=request or RequestInfo()
                )
            audit.record(
                ctx,
                db,
                "authz_change",
                request=request or RequestInfo(),
                user=user,
                actor=actor,
                roles_from=before,
                roles_to=wanted,
            )
        return before, wanted


def roles_in_use(ctx: Context) -> list[tuple[str, int]]:
    with ctx.db.transaction() as db:
        rows = db.execute(select(UserRole.role, func.count()).group_by(UserRole.role).order_by(UserRole.role)).all()
    return [(role, int(count)) for role, count in rows]


def roles_of_email(ctx: Context, raw_email: str) -> list[str] | None:
    with ctx.db.transaction() as db:
        user = accounts.find_user_by_email(db, raw_email)
        return accounts.roles_of(db, user.id) if user is not None else None
