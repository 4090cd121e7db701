"""/enroll/passkey: add a passkey (the first method, or another one from My account).

The page works as progressive enhancement: ``static/passkey.js`` runs the browser's ceremony
(``/webauthn/register/…``) and then submits this page's form, which names and confirms the passkey
(``passkey_enrollment.confirm``) and shows the recovery codes like every method. Without JavaScript
the page says a passkey needs it and links the other methods.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response

from twostep.domain.login_flow import Area
from twostep.domain.passkeys import NAME_MAX
from twostep.services.enrollment import passkey_enrollment
from twostep.services.signin import completion, views
from twostep.web.core.messages import PASSKEY_TEXT
from twostep.web.core.pages import Page, build_page
from twostep.web.enrollment.authenticator_app import not_admitted

router = APIRouter()
PageDep = Annotated[Page, Depends(build_page)]
OptionalForm = Annotated[str, Form()]
PATH = "/enroll/passkey"


def render_passkey_page(page: Page, *, status_code: int = 200, error: str = "", name: str = "") -> Response:
    refusal = passkey_enrollment.admitted(page.ctx, page.session_token)
    if refusal == "unavailable":
        return page.redirect("/enroll")
    if refusal is not None:
        return not_admitted(page, refusal, PATH)
    pending = passkey_enrollment.pending(page.ctx, page.session_token)
    others = [m for m in views.enrollment_choices(page.ctx) if m != passkey_enrollment.KIND]
    return page.render(
        "enroll_passkey.html",
        status_code=status_code,
        error=error,
        name=name or (pending.provider if pending and pending.provider else ""),
        pending=pending is not None,
        others=others,
        name_max=NAME_MAX,
    )


@router.get(PATH, response_class=HTMLResponse)
def enroll_passkey_form(page: PageDep) -> Response:
    blocked = page.guard(Area.ENROLL)
    if blocked:
        return blocked
    return render_passkey_page(page)


@router.post(PATH, response_class=HTMLResponse)
def enroll_passkey_submit(
    page: PageDep, name: Annotated[str, Form(max_length=200)] = "", csrf_token: OptionalForm = ""
) -> Response:
    blocked = page.guard(Area.ENROLL)
    if blocked:
        return blocked
    if not page.csrf_ok(csrf_token):
        return render_passkey_page(page, status_code=400, error=page.message("csrf"), name=name)
    result = passkey_enrollment.confirm(page.ctx, page.session_token, name, page.info)
    if result.outcome == "confirmed" and result.token:
        page.set_session(result.token)
        page.session_token = result.token
        return page.render(
            "enrolled.html",
            method=passkey_enrollment.KIND,
            recovery_codes=result.recovery_codes,
            continue_to=completion.RESUME_PATH,  # resumes what the session carries, else My account
        )
    if result.outcome in ("reauth", "mailbox", "no_session"):
        return not_admitted(page, result.outcome, PATH)
    return render_passkey_page(page, status_code=409, error=page.gettext(PASSKEY_TEXT["none_pending"]), name=name)
