"""Appearance (``/admin/appearance``): upload, preview and remove the logo shown in every page's
header (and the setup PDF), in addition to ``TWOSTEP_LOGO_URL``, which it overrides while present.

Behind the one console gate (``web/admin/admin_gate.py``): administrators only, in a session that
passed a real second step, with a fresh re-authentication for every change; every form carries a
CSRF token. What is accepted is decided by ``domain.logo`` (PNG, JPEG, WebP by their magic bytes;
never SVG; at most 256 KB); the image itself is served at ``/branding/logo`` (``web/core/branding``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import HTMLResponse, Response

from twostep.domain.logo import MAX_BYTES
from twostep.services.admin import appearance
from twostep.web.admin.admin_gate import ActorDep, AdminPageDep, AdminRoute, returns_to
from twostep.web.core import messages
from twostep.web.core.pages import Page

router = APIRouter(prefix="/admin", route_class=AdminRoute)
TEXT = messages.APPEARANCE_TEXT
Text = Annotated[str, Form(max_length=400)]


def _render(page: Page, *, status_code: int = 200, errors: dict[str, str] | None = None, notice: str = "") -> Response:
    return page.render(
        "admin/appearance.html",
        status_code=status_code,
        logo=appearance.find_logo(page.ctx),
        logo_src=appearance.logo_src(page.ctx),
        configured_url=page.ctx.settings.logo_url,
        errors=errors or {},
        notice=notice,
    )


@router.get("/appearance", response_class=HTMLResponse)
def appearance_page(page: AdminPageDep, notice: str = "") -> Response:
    return _render(page, notice=page.gettext(TEXT[notice]) if notice in ("logo_saved", "logo_removed") else "")


@router.post("/appearance/logo", response_class=HTMLResponse)
@returns_to("/admin/appearance")
async def logo_upload(
    page: AdminPageDep,
    actor: ActorDep,
    logo: Annotated[UploadFile | None, File()] = None,
    csrf_token: Text = "",
) -> Response:
    if not page.csrf_ok(csrf_token):
        return _render(page, status_code=400, errors={"form": page.message("csrf")})
    data = await logo.read(MAX_BYTES + 1) if logo is not None and logo.filename else b""
    try:
        appearance.save_logo(page.ctx, data, actor_id=actor.id, request=page.info)
    except appearance.LogoRefused as refused:
        return _render(page, status_code=422, errors={"logo": page.gettext(TEXT[refused.reason])})
    return page.redirect("/admin/appearance?notice=logo_saved")


@router.post("/appearance/logo/remove", response_class=HTMLResponse)
@returns_to("/admin/appearance")
def logo_remove(page: AdminPageDep, actor: ActorDep, csrf_token: Text = "") -> Response:
    if not page.csrf_ok(csrf_token):
        return _render(page, status_code=400, errors={"form": page.message("csrf")})
    appearance.remove_logo(page.ctx, actor_id=actor.id, request=page.info)
    return page.redirect("/admin/appearance?notice=logo_removed")
