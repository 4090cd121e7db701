"""Administration of OpenID Connect applications (``/admin/oidc``): register, edit redirect URIs,
rotate the secret (shown once), delete. Effective at once (no restart); every change is audited.

The console's gate (as web.admin): administrators in a session that passed a real second step, and a
fresh re-authentication for every change.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response

from twostep.domain.login_flow import Area, Stage
from twostep.i18n import N_
from twostep.services import admin
from twostep.services.oidc import clients
from twostep.web.pages import Page, build_page
from twostep.web.reauth import reauth_url

router = APIRouter()
PageDep = Annotated[Page, Depends(build_page)]
OptionalForm = Annotated[str, Form(max_length=20000)]

TEXTS = {
    "forbidden": N_("This page is for administrators only."),
    "created": N_("Application registered. Copy the secret now: it is shown only this once."),
    "created_public": N_("Application registered."),
    "rotated": N_("New secret made; the old one no longer works. Copy it now: it is shown only this once."),
    "saved": N_("Addresses saved."),
    "deleted": N_("Application deleted, and every token issued to it."),
    "uri_invalid": N_("Each address must be a full http:// or https:// URL."),
    "uri_fragment": N_("An address must not contain a # fragment."),
    "uri_wildcard": N_("Addresses are matched exactly; a * wildcard is not allowed."),
    "uri_missing": N_("Give at least one redirect URI."),
    "name_missing": N_("Give the application a name."),
    "name_invalid": N_("Use at most 200 characters for the name."),
    "client_unknown": N_("This application does not exist."),
    "public_client": N_("A public application has no secret."),
}


def _lines(raw: str) -> list[str]:
    """Several URIs in one field, separated by spaces (a URI holds no space)."""
    return raw.split()


def _blocked(page: Page, *, change: bool = False) -> Response | None:
    """The console's gate (web.admin): signed in, admin role (else 403 and ``authz_fail``), a real
    second step in this session; a change also needs a re-authentication within five minutes,
    since a registered application can receive any user's identity."""
    if page.stage is not Stage.SIGNED_IN:
        return page.guard(Area.SIGNED_IN) or page.redirect("/login")
    access = admin.session_access(page.ctx, page.session_token)
    if access is None:
        return page.redirect("/login")
    if not access.is_admin:
        admin.record_denied(page.ctx, access.user_id, page.request.url.path, page.info)
        return page.render(
            "message.html", status_code=403, title=page.gettext("Not allowed"), error=page.gettext(TEXTS["forbidden"])
        )
    if not access.real_second_step or (change and not access.fresh):
        return page.redirect(reauth_url("/admin/oidc"))
    return None


def _render(page: Page, *, status_code: int = 200, **params: object) -> Response:
    for name in ("notice", "error", "name", "redirect_uris", "post_logout_uris", "new_secret", "new_client"):
        params.setdefault(name, "")
    params.setdefault("public", False)
    base = page.ctx.settings.base_url.rstrip("/")
    return page.render(
        "oidc_clients.html",
        status_code=status_code,
        clients=clients.list_clients(page.ctx),
        discovery=f"{base}/.well-known/openid-configuration",
        **params,
    )


def _error(page: Page, error: clients.ClientError) -> str:
    return page.gettext(TEXTS.get(error.code, "uri_invalid"))


@router.get("/admin/oidc", response_class=HTMLResponse)
def oidc_page(page: PageDep) -> Response:
    return _blocked(page) or _render(page)


@router.post("/admin/oidc", response_class=HTMLResponse)
def oidc_create(
    page: PageDep,
    name: Annotated[str, Form(max_length=400)] = "",
    redirect_uris: OptionalForm = "",
    post_logout_uris: OptionalForm = "",
    public: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    blocked = _blocked(page, change=True)
    if blocked is not None:
        return blocked
    kept = {"name": name, "redirect_uris": redirect_uris, "post_logout_uris": post_logout_uris, "public": public == "1"}
    if not page.csrf_ok(csrf_token):
        return _render(page, status_code=400, error=page.message("csrf"), **kept)
    try:
        created = clients.create(
            page.ctx, name, _lines(redirect_uris), post_logout_uris=_lines(post_logout_uris),
            public=public == "1", request=page.info, actor_id=_actor(page),
        )
    except clients.ClientError as error:
        return _render(page, status_code=422, error=_error(page, error), **kept)
    notice = TEXTS["created"] if created.secret else TEXTS["created_public"]
    return _render(
        page, notice=page.gettext(notice), new_secret=created.secret or "", new_client=created.info.client_id
    )


def _actor(page: Page) -> int | None:
    return page.session.user_id if page.session is not None else None


@router.post("/admin/oidc/{client_id}/uris", response_class=HTMLResponse)
def oidc_save_uris(
    page: PageDep,
    client_id: str,
    redirect_uris: OptionalForm = "",
    post_logout_uris: OptionalForm = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    blocked = _blocked(page, change=True)
    if blocked is not None:
        return blocked
    if not page.csrf_ok(csrf_token):
        return _render(page, status_code=400, error=page.message("csrf"))
    try:
        clients.update(page.ctx, client_id, redirect_uris=_lines(redirect_uris),
                       post_logout_uris=_lines(post_logout_uris), request=page.info, actor_id=_actor(page))
    except clients.ClientError as error:
        return _render(page, status_code=422, error=_error(page, error))
    return _render(page, notice=page.gettext(TEXTS["saved"]))


@router.post("/admin/oidc/{client_id}/rotate-secret", response_class=HTMLResponse)
def oidc_rotate(page: PageDep, client_id: str, csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    blocked = _blocked(page, change=True)
    if blocked is not None:
        return blocked
    if not page.csrf_ok(csrf_token):
        return _render(page, status_code=400, error=page.message("csrf"))
    try:
        secret = clients.rotate_secret(page.ctx, client_id, request=page.info, actor_id=_actor(page))
    except clients.ClientError as error:
        return _render(page, status_code=404 if error.code == "client_unknown" else 422, error=_error(page, error))
    return _render(page, notice=page.gettext(TEXTS["rotated"]), new_secret=secret, new_client=client_id)


@router.post("/admin/oidc/{client_id}/delete", response_class=HTMLResponse)
def oidc_delete(page: PageDep, client_id: str, csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    blocked = _blocked(page, change=True)
    if blocked is not None:
        return blocked
    if not page.csrf_ok(csrf_token):
        return _render(page, status_code=400, error=page.message("csrf"))
    try:
        clients.delete(page.ctx, client_id, request=page.info, actor_id=_actor(page))
    except clients.ClientError as error:
        return _render(page, status_code=404, error=_error(page, error))
    return _render(page, notice=page.gettext(TEXTS["deleted"]))
