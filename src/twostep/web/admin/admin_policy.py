"""Rolling out two-step verification, for administrators: the policy (/admin/policy), who has not
enrolled yet (/admin/missing, also as CSV), and roles (/admin/roles).

Behind the same console gate as the rest of /admin (``web/admin/admin_gate.py``): signed in, the admin
role (else 403 and ``authz_fail``), a real second step in this session, and for every change a
password and second step given again within the last five minutes (checklist A-01, S-09).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from twostep.services.admin import roles
from twostep.services.core.accounts import AccountError
from twostep.services.factors import registry as factor_registry
from twostep.services.rollout import policy
from twostep.web.admin.admin_gate import ActorDep, AdminPageDep, AdminRoute
from twostep.web.core import messages
from twostep.web.core.pages import Page

router = APIRouter(prefix="/admin", route_class=AdminRoute)
OptionalForm = Annotated[str, Form()]

TEXTS = messages.ROLLOUT_TEXT


def _text(page: Page, code: str, **params: Any) -> str:
    text = page.gettext(TEXTS.get(code, code))
    try:
        return text % params if params else text
    except (KeyError, ValueError, TypeError):
        return text


# --- policy -------------------------------------------------------------------------------------


def _render_policy(
    page: Page,
    *,
    status_code: int = 200,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
) -> Response:
    view = policy.policy_view(page.ctx)
    return page.render(
        "admin/policy.html",
        status_code=status_code,
        view=view,
        values=values if values is not None else view.values,
        errors=errors or {},
        notice=notice,
        methods=tuple(factor_registry.sign_in_kinds()),
    )


@router.get("/policy", response_class=HTMLResponse)
def policy_page(page: AdminPageDep) -> Response:
    notice = page.request.query_params.get("notice", "")
    return _render_policy(page, notice=_text(page, notice) if notice in TEXTS else "")


async def _form(request: Request) -> dict[str, str | list[str] | None]:
    form = await request.form()
    data: dict[str, str | list[str] | None] = {}
    for key in policy.KEYS | {"csrf_token"}:
        found = [str(v)[:2000] for v in form.getlist(key)]
        data[key] = found if key == "twofa_allowed_methods" else (found[0] if found else None)
    return data


FormDep = Annotated[dict[str, str | list[str] | None], Depends(_form)]


@router.post("/policy", response_class=HTMLResponse)
def policy_save(page: AdminPageDep, actor: ActorDep, form: FormDep) -> Response:
    if not page.csrf_ok(str(form.get("csrf_token") or "")):
        return _render_policy(page, status_code=400, errors={"form": page.message("csrf")})
    values, problems = policy.validate(form)
    if problems:
        shown = {key: _text(page, error.code, **error.params) for key, error in problems.items()}
        echo = {key: form.get(key) or "" for key in policy.KEYS} | {
            k: v for k, v in values.items() if isinstance(v, bool)
        }
        echo["twofa_allowed_methods"] = ",".join(form.get("twofa_allowed_methods") or [])
        return _render_policy(page, status_code=422, values=echo, errors=shown)
    changed = policy.save(page.ctx, values, actor_id=actor.id, request=page.info)
    return page.redirect("/admin/policy?notice=" + ("policy_saved" if changed else "policy_unchanged"))


@router.post("/policy/reset", response_class=HTMLResponse)
def policy_reset(page: AdminPageDep, actor: ActorDep, csrf_token: OptionalForm = "") -> Response:
    if not page.csrf_ok(csrf_token):
        return _render_policy(page, status_code=400, errors={"form": page.message("csrf")})
    policy.reset(page.ctx, actor_id=actor.id, request=page.info)
    return page.redirect("/admin/policy?notice=policy_reset")


# --- who has not enrolled -----------------------------------------------------------------------


@router.get("/missing", response_class=HTMLResponse)
def missing_page(page: AdminPageDep, required: str = "", p: str = "1") -> Response:
    number = int(p) if p.isdigit() and len(p) < 7 else 1
    report = policy.missing_report(page.ctx, only_required=required == "1", page=number)
    return page.render("admin/missing.html", report=report, required=required == "1", wide=True)


@router.get("/missing.csv")
def missing_csv(page: AdminPageDep, required: str = "") -> Response:
    stamp = page.ctx.clock.now().strftime("%Y-%m-%d")
    return StreamingResponse(
        policy.missing_csv(page.ctx, only_required=required == "1"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="not-enrolled-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )


# --- roles --------------------------------------------------------------------------------------


def _render_roles(
    page: Page,
    *,
    status_code: int = 200,
    email: str = "",
    current: str = "",
    errors: dict[str, str] | None = None,
    notice: str = "",
) -> Response:
    found = bool(email) and "email" not in (errors or {}) and roles.roles_of_email(page.ctx, email) is not None
    return page.render(
        "admin/roles.html",
        status_code=status_code,
        in_use=roles.roles_in_use(page.ctx),
        found=found,
        email=email,
        current=current,
        errors=errors or {},
        notice=notice,
    )


@router.get("/roles", response_class=HTMLResponse)
def roles_page(page: AdminPageDep, email: str = "") -> Response:
    email = email[:320]
    held = roles.roles_of_email(page.ctx, email) if email else None
    if email and held is None:
        return _render_roles(page, status_code=404, email=email, errors={"email": _text(page, "user_unknown")})
    return _render_roles(page, email=email, current=", ".join(held or []))


@router.post("/roles", response_class=HTMLResponse)
def roles_save(
    page: AdminPageDep,
    actor: ActorDep,
    email: Annotated[str, Form(max_length=400)] = "",
    roles_text: Annotated[str, Form(alias="roles", max_length=2000)] = "",
    csrf_token: OptionalForm = "",
) -> Response:
    if not page.csrf_ok(csrf_token):
        return _render_roles(
            page, status_code=400, email=email, current=roles_text, errors={"form": page.message("csrf")}
        )
    try:
        wanted = roles.parse(roles_text)
        _before, after = roles.set_roles(
            page.ctx, email, wanted, actor_id=actor.id, request=page.info, admin_here=False
        )
    except roles.RoleError as error:
        return _render_roles(
            page,
            status_code=422,
            email=email,
            current=roles_text,
            errors={"roles": _text(page, error.code, roles=error.names)},
        )
    except AccountError as error:
        return _render_roles(
            page, status_code=422, email=email, current=roles_text, errors={"email": _text(page, error.code)}
        )
    shown = ", ".join(after) or _text(page, "no_roles")
    return _render_roles(
        page,
        email=email,
        current=", ".join(after),
        notice=_text(page, "roles_saved", email=email.strip().lower(), roles=shown),
    )
