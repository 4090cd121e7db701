"""An administrator removes one passkey of a user (``/admin/users/{id}/passkeys/{factor_id}/remove``):
a lost key, or one someone else registered. Behind the one console gate (``AdminRoute``: admin role,
a fresh re-authentication for this change); audited and told to the user by the service."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response

from twostep.services.admin import admin
from twostep.services.admin.admin import AdminError
from twostep.web.admin.admin import _csrf_refused, _refusal, _user_id, render_user
from twostep.web.admin.admin_gate import ActorDep, AdminPageDep, AdminRoute, returns_to

router = APIRouter(prefix="/admin", route_class=AdminRoute)
OptionalForm = Annotated[str, Form()]


@router.post("/users/{user_id}/passkeys/{factor_id}/remove", response_class=HTMLResponse)
@returns_to("/admin/users/{user_id}")
def remove_passkey(
    page: AdminPageDep, actor: ActorDep, user_id: str, factor_id: str, csrf_token: OptionalForm = ""
) -> Response:
    if not page.csrf_ok(csrf_token):
        return _csrf_refused(page)
    found_user, found_factor = _user_id(user_id), _user_id(factor_id)
    if found_user is None:
        return render_user(page, actor, user_id)
    try:
        if found_factor is None:
            raise AdminError("passkey_not_found")
        admin.remove_passkey(page.ctx, actor, found_user, found_factor, page.info)
    except AdminError as error:
        return _refusal(page, actor, user_id, error)
    return page.redirect(f"/admin/users/{quote(user_id)}?notice=passkey_removed")
