"""Administration of API keys (``/admin/api-keys``): list, create (the key is shown once), revoke.

Behind the one console gate (``web/admin/admin_gate.py``) like every /admin route: administrators only, in a
session that passed a real second step, with a fresh re-authentication for creating or revoking a
key; every form carries a CSRF token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response

from twostep.services.api import apikeys
from twostep.web.admin.admin_gate import ActorDep, AdminPageDep, AdminRoute, returns_to
from twostep.web.core import messages
from twostep.web.core.pages import Page

router = APIRouter(route_class=AdminRoute)

TEXTS = messages.API_KEY_TEXT


def _render(page: Page, *, status_code: int = 200, **params: object) -> Response:
    params.setdefault("new_key", None)
    params.setdefault("notice", "")
    params.setdefault("error", "")
    params.setdefault("name", "")
    params.setdefault("name_error", "")
    return page.render("admin_api_keys.html", status_code=status_code, keys=apikeys.list_keys(page.ctx), **params)


@router.get("/admin/api-keys", response_class=HTMLResponse)
def api_keys_page(page: AdminPageDep) -> Response:
    return _render(page)


@router.post("/admin/api-keys", response_class=HTMLResponse)
def api_keys_create(
    page: AdminPageDep,
    actor: ActorDep,
    name: Annotated[str, Form(max_length=400)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    if not page.csrf_ok(csrf_token):
        return _render(page, status_code=400, error=page.message("csrf"), name=name)
    try:
        created = apikeys.create(page.ctx, name, actor_id=actor.id, request=page.info)
    except apikeys.ApiKeyError as error:
        return _render(page, status_code=422, name_error=page.gettext(TEXTS[error.code]), name=name)
    notice = TEXTS["created"]
    return _render(page, new_key=created.key, notice=page.gettext(notice))


@router.post("/admin/api-keys/{key_id}/revoke", response_class=HTMLResponse)
@returns_to("/admin/api-keys")
def api_keys_revoke(
    page: AdminPageDep, actor: ActorDep, key_id: str, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    if not page.csrf_ok(csrf_token):
        return _render(page, status_code=400, error=page.message("csrf"))
    try:
        info = apikeys.revoke(page.ctx, key_id[:40], actor_id=actor.id, request=page.info)
    except apikeys.ApiKeyError as error:
        return _render(page, status_code=404, error=page.gettext(TEXTS[error.code]))
    notice = TEXTS["revoked"]
    return _render(page, notice=page.gettext(notice) % {"prefix": info.prefix})
