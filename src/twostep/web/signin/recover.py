"""Recovery pages: "Can't get a code?" (/login/recover), "I lost my phone", new recovery codes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from twostep.domain.codes import RECOVERY_LOW_WATERMARK
from twostep.domain.login_flow import Area, Stage
from twostep.services.factors import registry as factor_registry
from twostep.services.recovery import recovery_login
from twostep.web.account.reauth import reauth_url
from twostep.web.core import messages
from twostep.web.core.pages import Page, build_page

router = APIRouter()
PageDep = Annotated[Page, Depends(build_page)]
OptionalForm = Annotated[str, Form()]

MESSAGES = messages.RECOVER_TEXT


@router.get("/login/recover", response_class=HTMLResponse)
def recover_form(page: PageDep) -> Response:
    if page.stage is not Stage.SECOND_STEP:
        return page.guard(Area.SECOND_STEP) or page.redirect("/account")
    return render_recover(page)


def render_recover(page: Page, *, status_code: int = 200, error: str = "") -> Response:
    view = recovery_login.recover_page_view(page.ctx, page.session_token)
    if view is None:
        return page.redirect("/login?notice=session_expired")
    return page.render("recover.html", status_code=status_code, view=view, error=error)


@router.post("/login/recover", response_class=HTMLResponse)
def recover_submit(page: PageDep, recovery_code: OptionalForm = "", csrf_token: OptionalForm = "") -> Response:
    if page.stage is not Stage.SECOND_STEP:
        return page.guard(Area.SECOND_STEP) or page.redirect("/account")
    if not page.csrf_ok(csrf_token):
        return render_recover(page, status_code=400, error=page.message("csrf"))
    if not recovery_code.strip():
        return render_recover(page, status_code=422, error=page.message(MESSAGES["recovery_empty"]))
    result = recovery_login.sign_in_with_recovery_code(page.ctx, page.session_token, recovery_code[:64], page.info)
    if result.outcome == "signed_in" and result.token:
        page.set_session(result.token)
        return page.redirect("/login/recover/lost-phone?signed_in=1")
    if result.outcome == "restart":
        page.set_session(None)
        return page.redirect("/login?notice=restart")
    if result.outcome == "no_session":
        page.set_session(None)
        return page.redirect("/login?notice=session_expired")
    if result.outcome == "throttled":
        return render_recover(page, status_code=429, error=page.message("throttled", seconds=result.wait_seconds))
    return render_recover(page, status_code=401, error=page.message(MESSAGES["recovery_invalid"]))


@router.get("/login/recover/lost-phone", response_class=HTMLResponse)
def lost_phone_form(page: PageDep, signed_in: str = "") -> Response:
    blocked = page.guard(Area.SIGNED_IN)
    if blocked:
        return blocked
    return render_lost_phone(page, signed_in_with_code=signed_in == "1")


def render_lost_phone(
    page: Page, *, status_code: int = 200, error: str = "", signed_in_with_code: bool = False
) -> Response:
    view = recovery_login.lost_phone_view(page.ctx, page.session_token)
    if view is None:
        return page.redirect("/login")
    if not view.fresh:
        return page.redirect(reauth_url("/login/recover/lost-phone"))
    return page.render(
        "recover_lost_phone.html",
        status_code=status_code,
        view=view,
        error=error,
        signed_in_with_code=signed_in_with_code,
        low_watermark=RECOVERY_LOW_WATERMARK,
    )


@router.post("/login/recover/lost-phone", response_class=HTMLResponse)
def lost_phone_submit(
    page: PageDep,
    factor: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    csrf_token: OptionalForm = "",
) -> Response:
    blocked = page.guard(Area.SIGNED_IN)
    if blocked:
        return blocked
    if not page.csrf_ok(csrf_token):
        return render_lost_phone(page, status_code=400, error=page.message("csrf"))
    factor_ids = [int(value) for value in factor[:20] if value.isdigit() and len(value) < 12]
    result = recovery_login.replace_lost_methods(page.ctx, page.session_token, factor_ids, page.info)
    if result.outcome == "enroll" and result.token:
        page.set_session(result.token)
        # Straight to setting up the new phone (the app when it was one of the removed methods);
        # that page says the old one was removed and links to the other methods.
        kinds = [kind for kind in factor_registry.sign_in_kinds() if kind in result.removed]
        return page.redirect(f"/enroll/{kinds[0]}" if kinds else "/enroll")
    if result.outcome == "reauth":
        return page.redirect(reauth_url("/login/recover/lost-phone"))
    if result.outcome == "nothing_chosen":
        return render_lost_phone(page, status_code=422, error=page.message(MESSAGES["nothing_chosen"]))
    page.set_session(None)
    return page.redirect("/login?notice=session_expired")


@router.post("/account/recovery-codes.txt")
def download(
    page: PageDep,
    codes: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    csrf_token: OptionalForm = "",
) -> Response:
    """The codes just shown, as a file; only codes that are the user's unused ones, never cached."""
    blocked = page.guard(Area.SIGNED_IN)
    if blocked:
        return blocked
    if not page.csrf_ok(csrf_token):
        return page.render(
            "message.html", status_code=400, title=page.gettext("Not allowed"), error=page.message("csrf")
        )
    found = recovery_login.codes_for_download(page.ctx, page.session_token, codes[:20], page.info)
    if found is None:
        return page.redirect("/login")
    if isinstance(found, recovery_login.DownloadRefused):
        if found.outcome == "reauth":
            return page.redirect(reauth_url("/account"))
        return page.render(
            "message.html",
            status_code=429,
            title=page.gettext("Not allowed"),
            error=page.message("throttled", seconds=found.wait_seconds),
        )
    service = page.ctx.service_name
    lines = [
        page.gettext("Recovery codes for %(email)s at %(service)s") % {"email": found.email, "service": service},
        page.gettext("Each code lets you sign in once if you can't get a code from your phone."),
        "",
        *found.codes,
        "",
    ]
    safe_name = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in service.lower()) or "twostep"
    response = PlainTextResponse(
        "\r\n".join(lines),
        headers={
            "Content-Disposition": f'attachment; filename="{safe_name}-recovery-codes.txt"',
            "Cache-Control": "no-store",
        },
    )
    page.finish(response)
    return response
