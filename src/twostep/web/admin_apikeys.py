"""Administration of API keys (``/admin/api-keys``): list, create (the key is shown once), revoke.

Administrators only, in a session that passed a real second step; every form carries a CSRF token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response

from twostep.domain.login_flow import Area
from twostep.i18n import N_
from twostep.services import apikeys
from twostep.web.pages import Page, build_page

router = APIRouter()
PageDep = Annotated[Page, Depends(build_page)]

TEXTS = {
    "apikey_name_missing": N_("Give the key a name, for example the application that will use it."),
    "apikey_name_too_long": N_("Use at most 200 characters for the name."),
    "apikey_unknown": N_("This key does not exist."),
    "created": N_("Key created. Copy it now: it is shown only this once."),
    "revoked": N_("Key %(prefix)s revoked. Applications using it are refused from now on."),
    "forbidden": N_(
        "Managing API keys needs an administrator who signed in with a code on this visit. "
        "Sign out, then sign in again with your second step."
    ),
}


def _blocked(page: Page) -> Response | None:
    blocked = page.guard(Area.SIGNED_IN)
    if blocked is not None:
        return blocked
    if page.session is None:
        return page.redirect("/login")
    if not page.session.is_admin or not apikeys.admin_may_manage(page.ctx, page.session.session_id):
        forbidden = TEXTS["forbidden"]
        return page.render(
            "message.html", status_code=403, title=page.gettext("Not allowed"), error=page.gettext(forbidden)
        )
    return None


def _render(page: Page, *, status_code: int = 200, **params: object) -> Response:
    params.setdefault("new_key", None)
    params.setdefault("notice", "")
    params.setdefault("error", "")
    params.setdefault("name", "")
    params.setdefault("name_error", "")
    return page.render("admin_api_keys.html", status_code=status_code, keys=apikeys.list_keys(page.ctx), **params)


@router.get("/admin/api-keys", response_class=HTMLResponse)
def api_keys_page(page: PageDep) -> Response:
    return _blocked(page) or _render(page)


@router.post("/admin/api-keys", response_class=HTMLResponse)
def api_keys_create(
    page: PageDep,
    name: Annotated[str, Form(max_length=400)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    blocked = _blocked(page)
    if blocked is not None:
        return blocked
    if not page.csrf_ok(csrf_token):
        return _render(page, status_code=400, error=page.message("csrf"), name=name)
    assert page.session is not None
    try:
        created = apikeys.create(page.ctx, name, actor_id=page.session.user_id, request=page.info)
    except apikeys.ApiKeyError as error:
        return _render(page, status_code=422, name_error=page.gettext(TEXTS[error.code]), name=name)
    notice = TEXTS["created"]
    return _render(page, new_key=created.key, notice=page.gettext(notice))


@router.post("/admin/api-keys/{key_id}/revoke", response_class=HTMLResponse)
def api_keys_revoke(page: PageDep, key_id: int, csrf_token: Annotated[str, Form()] = "") -> Response:
    blocked = _blocked(page)
    if blocked is not None:
        return blocked
    if not page.csrf_ok(csrf_token):
        return _render(page, status_code=400, error=page.message("csrf"))
    assert page.session is not None
    try:
        info = apikeys.revoke(page.ctx, str(key_id), actor_id=page.session.user_id, request=page.info)
    except apikeys.ApiKeyError as error:
        return _render(page, status_code=404, error=page.gettext(TEXTS[error.code]))
    notice = TEXTS["revoked"]
    return _render(page, notice=page.gettext(notice) % {"prefix": info.prefix})
