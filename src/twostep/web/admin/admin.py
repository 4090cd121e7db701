"""The administration console under /admin.

Users, their two-step state and the actions on them, and the audit log. Every route is behind the
one console gate (``web/admin/admin_gate.py``), which runs before any path parameter or form field is read.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from twostep.services.admin import admin
from twostep.services.admin.admin import Actor, AdminError, AuditFilter
from twostep.web.admin.admin_gate import ActorDep, AdminPageDep, AdminRoute, returns_to
from twostep.web.admin.readable import Readable, render
from twostep.web.core import messages
from twostep.web.core.messages import EVENT_NAMES
from twostep.web.core.pages import Page

router = APIRouter(prefix="/admin", route_class=AdminRoute)
OptionalForm = Annotated[str, Form()]

MESSAGES = messages.ADMIN_TEXT

NOTICES = messages.ADMIN_NOTICES


def _csrf_refused(page: Page) -> Response:
    return page.render("message.html", status_code=400, title=page.gettext("Not allowed"), error=page.message("csrf"))


def _user_id(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


# --- users -----------------------------------------------------------------------------------


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_page(page: AdminPageDep, actor: ActorDep, user_id: str) -> Response:
    code = page.request.query_params.get("notice", "")
    notice = NOTICES.get(code) or messages.USERS_NOTICES.get(code, "")
    return render_user(page, actor, user_id, notice=page.gettext(notice) if notice else "")


def render_user(
    page: Page,
    actor: Actor,
    raw_id: str,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    notice: str = "",
    reason: str = "",
) -> Response:
    user_id = _user_id(raw_id)
    detail = admin.user_detail(page.ctx, user_id) if user_id is not None else None
    if detail is None:
        return page.render(
            "message.html",
            status_code=404,
            title=page.gettext("Page not found"),
            error=page.message(MESSAGES["not_found"]),
        )
    return render(
        page,
        "admin/user.html",
        status_code=status_code,
        user=detail,
        is_self=detail.id == actor.id,
        errors=errors or {},
        notice=notice,
        reason=reason,
        now=page.ctx.clock.now(),
    )


def _refusal(page: Page, actor: Actor, raw_id: str, error: AdminError, *, reason: str = "") -> Response:
    status = 404 if error.code == "not_found" else 403 if error.code == "forbidden" else 422
    message = page.message(MESSAGES.get(error.code, error.code))
    return render_user(page, actor, raw_id, status_code=status, errors={error.field or "form": message}, reason=reason)


Action = Literal["reset-2fa", "unlock", "sign-out", "delete", "grant-admin", "revoke-admin", "verify-email"]


def _act(
    page: Page, actor: Actor, raw_id: str, action: Action, csrf_token: str, *, reason: str = "", confirm: str = ""
) -> Response:
    back = f"/admin/users/{quote(raw_id)}"
    if not page.csrf_ok(csrf_token):
        return _csrf_refused(page)
    user_id = _user_id(raw_id)
    if user_id is None:
        return render_user(page, actor, raw_id)
    ctx, info = page.ctx, page.info
    try:
        if action == "reset-2fa":
            admin.reset_2fa(ctx, actor, user_id, reason[:2000], info)
            notice = "reset"
        elif action == "unlock":
            admin.unlock(ctx, actor, user_id, info)
            notice = "unlocked"
        elif action == "verify-email":
            notice = "email_verified" if admin.mark_email_verified(ctx, actor, user_id, info) else "unchanged"
        elif action == "sign-out":
            admin.sign_out_everywhere(ctx, actor, user_id, info)
            if user_id == actor.id:
                page.set_session(None)
                return page.redirect("/login?notice=signed_out")
            notice = "signed_out"
        elif action == "delete":
            admin.delete_user(ctx, actor, user_id, confirm[:400], info)
            return page.redirect("/admin/users?notice=deleted")
        else:
            grant = action == "grant-admin"
            changed = admin.set_admin(ctx, actor, user_id, grant, info)
            if not grant and changed and user_id == actor.id:
                return page.redirect("/account")
            notice = ("granted" if grant else "revoked") if changed else "unchanged"
    except AdminError as error:
        return _refusal(page, actor, raw_id, error, reason=reason[:2000])
    return page.redirect(f"{back}?notice={notice}")


@router.post("/users/{user_id}/reset-2fa", response_class=HTMLResponse)
@returns_to("/admin/users/{user_id}")
def reset_2fa(
    page: AdminPageDep, actor: ActorDep, user_id: str, reason: OptionalForm = "", csrf_token: OptionalForm = ""
) -> Response:
    return _act(page, actor, user_id, "reset-2fa", csrf_token, reason=reason)


@router.post("/users/{user_id}/unlock", response_class=HTMLResponse)
@returns_to("/admin/users/{user_id}")
def unlock(page: AdminPageDep, actor: ActorDep, user_id: str, csrf_token: OptionalForm = "") -> Response:
    return _act(page, actor, user_id, "unlock", csrf_token)


@router.post("/users/{user_id}/verify-email", response_class=HTMLResponse)
@returns_to("/admin/users/{user_id}")
def verify_email(page: AdminPageDep, actor: ActorDep, user_id: str, csrf_token: OptionalForm = "") -> Response:
    return _act(page, actor, user_id, "verify-email", csrf_token)


@router.post("/users/{user_id}/sign-out", response_class=HTMLResponse)
@returns_to("/admin/users/{user_id}")
def sign_out(page: AdminPageDep, actor: ActorDep, user_id: str, csrf_token: OptionalForm = "") -> Response:
    return _act(page, actor, user_id, "sign-out", csrf_token)


@router.post("/users/{user_id}/delete", response_class=HTMLResponse)
@returns_to("/admin/users/{user_id}")
def delete(
    page: AdminPageDep, actor: ActorDep, user_id: str, confirm: OptionalForm = "", csrf_token: OptionalForm = ""
) -> Response:
    return _act(page, actor, user_id, "delete", csrf_token, confirm=confirm)


@router.post("/users/{user_id}/grant-admin", response_class=HTMLResponse)
@returns_to("/admin/users/{user_id}")
def grant_admin(page: AdminPageDep, actor: ActorDep, user_id: str, csrf_token: OptionalForm = "") -> Response:
    return _act(page, actor, user_id, "grant-admin", csrf_token)


@router.post("/users/{user_id}/revoke-admin", response_class=HTMLResponse)
@returns_to("/admin/users/{user_id}")
def revoke_admin(page: AdminPageDep, actor: ActorDep, user_id: str, csrf_token: OptionalForm = "") -> Response:
    return _act(page, actor, user_id, "revoke-admin", csrf_token)


# --- audit log -------------------------------------------------------------------------------


def _filters(page: Page) -> tuple[AuditFilter, dict[str, str]]:
    params = page.request.query_params
    errors: dict[str, str] = {}
    dates: dict[str, date | None] = {}
    for name in ("since", "until"):
        raw = params.get(name, "").strip()
        dates[name] = None
        if raw:
            try:
                dates[name] = date.fromisoformat(raw[:10])
            except ValueError:
                errors[name] = page.message(MESSAGES["date_invalid"])
    before = params.get("before", "")
    outcome = params.get("outcome", "")
    return (
        AuditFilter(
            event=params.get("event", "")[:64],
            user=params.get("user", "")[:320],
            actor=params.get("actor", "")[:320],
            outcome=outcome if outcome in ("success", "failure") else "",
            since=dates["since"],
            until=dates["until"],
            before_id=int(before) if before.isdigit() and len(before) < 19 else None,
            exact_event=params.get("event", "") in EVENT_NAMES,
        ),
        errors,
    )


def _query(filters: AuditFilter, **extra: str) -> str:
    values = {
        "event": filters.event,
        "user": filters.user,
        "actor": filters.actor,
        "outcome": filters.outcome,
        "since": filters.since.isoformat() if filters.since else "",
        "until": filters.until.isoformat() if filters.until else "",
        **extra,
    }
    return urlencode({key: value for key, value in values.items() if value})


@router.get("/audit", response_class=HTMLResponse)
def audit_log(page: AdminPageDep) -> Response:
    filters, errors = _filters(page)
    result = admin.audit_page(page.ctx, filters)
    fmt = Readable(page.language)
    return render(
        page,
        "admin/audit.html",
        status_code=422 if errors else 200,
        result=result,
        filters=filters,
        errors=errors,
        event_groups=fmt.groups(),
        details={row.id: _detail(row.detail) for row in result.rows},
        export_csv="/admin/audit/export?" + _query(filters, format="csv"),
        export_jsonl="/admin/audit/export?" + _query(filters, format="jsonl"),
        older=("/admin/audit?" + _query(filters, before=str(result.next_before_id))) if result.next_before_id else "",
        newest="/admin/audit?" + _query(filters) if filters.before_id else "",
    )


def _detail(raw: str) -> dict[str, str]:
    """An event's JSON detail as text pairs for a <dl> (nested values as compact JSON)."""
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {"detail": raw[:2000]}
    if not isinstance(value, dict):
        return {"detail": raw[:2000]}
    return {
        str(key): item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
        for key, item in sorted(value.items())
    }


@router.get("/audit/export")
def audit_export(page: AdminPageDep, actor: ActorDep, format: str = "jsonl") -> Response:
    filters, errors = _filters(page)
    if errors or format not in ("csv", "jsonl"):
        return page.render(
            "message.html", status_code=422, title=page.gettext("The request was not understood."), error=""
        )
    fmt: admin.ExportFormat = "csv" if format == "csv" else "jsonl"
    admin.record_export(page.ctx, actor, fmt, filters, page.info)
    stamp = page.ctx.clock.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingResponse(
        admin.export_events(page.ctx, filters, fmt),
        media_type="text/csv; charset=utf-8" if fmt == "csv" else "application/jsonl; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="audit-{stamp}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )
    page.finish(response)
    return response
