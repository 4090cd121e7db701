"""Append-only audit events named after OWASP's logging vocabulary (authn_*, session_*, authz_*)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Protocol, cast

from sqlalchemy import Table, insert

from twostep.services.core.context import Context, RequestInfo
from twostep.storage.database import Executor, FastStatement
from twostep.storage.models import AuditEvent, User

log = logging.getLogger("twostep.audit")


class Identified(Protocol):
    """An account as the audit log names it (a ``User`` row, or a lighter read model)."""

    @property
    def id(self) -> int: ...

    @property
    def email(self) -> str: ...


COLUMNS = [
    "at",
    "event",
    "outcome",
    "user_id",
    "user_email",
    "actor_id",
    "ip",
    "user_agent",
    "request_id",
    "reason",
    "detail",
]
_INSERT = FastStatement(insert(cast(Table, AuditEvent.__table__)), column_keys=COLUMNS)
Listener = Callable[[str, str, dict[str, Any]], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    """Also tell ``listener(event, outcome, detail)`` about every event (metrics count sign-in checks)."""
    if listener not in _listeners:
        _listeners.append(listener)


def record(
    ctx: Context,
    db: Executor,
    event: str,
    *,
    request: RequestInfo,
    user: Identified | None = None,
    actor: User | None = None,
    outcome: str = "success",
    reason: str = "",
    **detail: Any,
) -> None:
    """Adds the event to the caller's transaction, so it commits (or not) with the action itself.

    A prebuilt INSERT rather than ``db.add``: the same row in the same transaction, without the ORM
    unit of work and SQLAlchemy's per-statement work, which cost several times the insert itself on
    the verification API's hot path.
    """
    _INSERT.execute(
        db, row(ctx, event, request=request, user=user, actor=actor, outcome=outcome, reason=reason, detail=detail)
    )
    announce(event, request=request, user=user, outcome=outcome, detail=detail)


def row(
    ctx: Context,
    event: str,
    *,
    request: RequestInfo,
    user: Identified | None = None,
    actor: User | None = None,
    outcome: str = "success",
    reason: str = "",
    detail: dict[str, Any],
) -> dict[str, Any]:
    """The ``audit_events`` row ``record`` inserts, for a statement that inserts it itself (the
    verification API's single-statement success path on PostgreSQL); then call ``announce``."""
    return {
        "at": ctx.clock.now(),
        "event": event,
        "outcome": outcome,
        "user_id": user.id if user else None,
        "user_email": user.email if user else "",
        "actor_id": actor.id if actor else None,
        "ip": request.ip[:64],
        "user_agent": request.user_agent[:300],
        "request_id": request.request_id[:64],
        "reason": reason,
        "detail": json.dumps(detail, default=str, sort_keys=True) if detail else "",
    }


def announce(
    event: str,
    *,
    request: RequestInfo,
    detail: dict[str, Any],
    user: Identified | None = None,
    outcome: str = "success",
) -> None:
    """Tell the listeners and the log about an event whose row was written."""
    for listener in _listeners:
        listener(event, outcome, detail)
    log.info(
        "audit %s",
        event,
        extra={
            "event": event,
            "outcome": outcome,
            "user_id": user.id if user else None,
            "request_id": request.request_id,
        },
    )
