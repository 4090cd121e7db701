"""Administration of OpenID Connect applications (``/admin/oidc``): register, edit redirect URIs,
the "claims only from userinfo" switch, rotate the secret (shown once), delete, and "test this
redirect URI" (services.oidc.redirect_check). Effective at once (no restart); every action is audited.

Behind the one console gate (``web/admin/admin_gate.py``): administrators in a session that passed a real
second step, and a fresh re-authentication for every change, since a registered application can
receive any user's identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response

from twostep.services.oidc import clients, redirect_check
from twostep.web.admin.admin_gate import AdminPageDep, AdminRoute, returns_to
from twostep.web.core import messages
from twostep.web.core.pages import Page

router = APIRouter(route_class=AdminRoute)
OptionalForm = Annotated[str, Form(max_length=20000)]

TEXTS = messages.OIDC_CLIENT_TEXT
REDIRECT_TEXTS = messages.OIDC_REDIRECT_TEXT


@dataclass(frozen=True)
class ShownFinding:
    level: str
    label: str
    text: str


@dataclass(frozen=True)
class ShownReport:
    client_id: str
    uri: str
    registered: bool
    findings: list[ShownFinding]


def _lines(raw: str) -> list[str]:
    """Several URIs in one field, separated by spaces (a URI holds no space)."""
    return raw.split()


def _render(page: Page, *, status_code: int = 200, **params: object) -> Response:
    for name in ("notice", "error", "name", "redirect_uris", "post_logout_uris", "new_secret", "new_client"):
        params.setdefault(name, "")
    params.setdefault("public", False)
    params.setdefault("report", None)
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
def oidc_page(page: AdminPageDep) -> Response:
    return _render(page)


@router.post("/admin/oidc", response_class=HTMLResponse)
def oidc_create(
    page: AdminPageDep,
    name: Annotated[str, Form(max_length=400)] = "",
    redirect_uris: OptionalForm = "",
    post_logout_uris: OptionalForm = "",
    public: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
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
@returns_to("/admin/oidc")
def oidc_save_uris(
    page: AdminPageDep,
    client_id: str,
    redirect_uris: OptionalForm = "",
    post_logout_uris: OptionalForm = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if not page.csrf_ok(csrf_token):
        return _render(page, status_code=400, error=page.message("csrf"))
    try:
        clients.update(page.ctx, client_id, redirect_uris=_lines(redirect_uris),
                       post_logout_uris=_lines(post_logout_uris), request=page.info, actor_id=_actor(page))
    except clients.ClientError as error:
        return _render(page, status_code=422, error=_error(page, error))
    return _render(page, notice=page.gettext(TEXTS["saved"]))


@router.post("/admin/oidc/{client_id}/rotate-secret", response_class=HTMLResponse)
@returns_to("/admin/oidc")
def oidc_rotate(page: AdminPageDep, client_id: str, csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    if not page.csrf_ok(csrf_token):
        return _render(page, status_code=400, error=page.message("csrf"))
    try:
        secret = clients.rotate_secret(page.ctx, client_id, request=page.info, actor_id=_actor(page))
    except clients.ClientError as error:
        return _render(page, status_code=404 if error.code == "client_unknown" else 422, error=_error(page, error))
    return _render(page, notice=page.gettext(TEXTS["rotated"]), new_secret=secret, new_client=client_id)


@router.post("/admin/oidc/{client_id}/delete", response_class=HTMLResponse)
@returns_to("/admin/oidc")
def oidc_delete(page: AdminPageDep, client_id: str, csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    if not page.csrf_ok(csrf_token):
        return _render(page, status_code=400, error=page.message("csrf"))
    try:
        clients.delete(page.ctx, client_id, request=page.info, actor_id=_actor(page))
    except clients.ClientError as error:
        return _render(page, status_code=404, error=_error(page, error))
    return _render(page, notice=page.gettext(TEXTS["deleted"]))


def _shown(page: Page, client_id: str, report: redirect_check.Report) -> ShownReport:
    def text(finding: redirect_check.Finding) -> str:
        values = dict(finding.params)
        if "parts" in values:
            values["parts"] = ", ".join(page.gettext(REDIRECT_TEXTS[part]) for part in values["parts"].split())
        message = page.gettext(REDIRECT_TEXTS.get(finding.code) or TEXTS.get(finding.code) or TEXTS["uri_invalid"])
        return message % values if values else message

    return ShownReport(
        client_id=client_id,
        uri=report.uri,
        registered=report.registered,
        findings=[
            ShownFinding(f.level, page.gettext(REDIRECT_TEXTS[f"level_{f.level}"]), text(f)) for f in report.findings
        ],
    )


@router.post("/admin/oidc/{client_id}/test-redirect-uri", response_class=HTMLResponse)
@returns_to("/admin/oidc")
def oidc_test_redirect_uri(
    page: AdminPageDep,
    client_id: str,
    uri: Annotated[str, Form(max_length=4000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """A POST (with CSRF, and the gate's fresh re-authentication) although it changes nothing: a
    registered address is probed over the network, which no link or image tag may trigger."""
    if not page.csrf_ok(csrf_token):
        return _render(page, status_code=400, error=page.message("csrf"))
    try:
        report = redirect_check.check(page.ctx, client_id, uri, actor_id=_actor(page), request=page.info)
    except clients.ClientError as error:
        return _render(page, status_code=404, error=_error(page, error))
    return _render(page, report=_shown(page, client_id, report))


@router.post("/admin/oidc/{client_id}/settings", response_class=HTMLResponse)
@returns_to("/admin/oidc")
def oidc_settings(
    page: AdminPageDep,
    client_id: str,
    claims_in_userinfo_only: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if not page.csrf_ok(csrf_token):
        return _render(page, status_code=400, error=page.message("csrf"))
    try:
        clients.update(page.ctx, client_id, claims_in_userinfo_only=claims_in_userinfo_only == "1",
                       request=page.info, actor_id=_actor(page))
    except clients.ClientError as error:
        return _render(page, status_code=404, error=_error(page, error))
    return _render(page, notice=page.gettext(TEXTS["settings_saved"]))
