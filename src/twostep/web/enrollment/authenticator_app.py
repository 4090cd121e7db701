"""Choosing a second step (/enroll) and enrolling an authenticator app (/enroll/totp): a QR code, a
wrong first code never forces a re-scan."""

from __future__ import annotations

from typing import Annotated

import segno
from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response

from twostep.domain.login_flow import Area
from twostep.services.enrollment import enrollment
from twostep.services.signin import completion, views
from twostep.web.core import code_entry, messages
from twostep.web.core.links import same_origin_path
from twostep.web.core.pages import Page, build_page

router = APIRouter()
PageDep = Annotated[Page, Depends(build_page)]
OptionalForm = Annotated[str, Form()]


#: Where the mailbox check may send the user back to (never anywhere else).
ENROLL_PAGES = frozenset({"/enroll", "/enroll/passkey", "/enroll/totp", "/enroll/email", "/enroll/sms"})


def qr_data_uri(uri: str) -> str:
    """Drawn on our server (never a third-party QR service): a PNG as a data: URI."""
    return str(segno.make(uri, error="m").png_data_uri(scale=6, border=4))


def context_notice(page: Page) -> str:
    """Why this enrollment happens, when it is news to the user: a lost phone just removed, or an
    administrator's reset (said at the next sign-in)."""
    why = enrollment.enroll_context(page.ctx, page.session_token)
    return page.gettext(messages.ENROLL_TEXT[why]) if why else ""


@router.get("/enroll", response_class=HTMLResponse)
def enroll_choice(page: PageDep) -> Response:
    blocked = page.guard(Area.ENROLL)
    if blocked:
        return blocked
    return page.render("enroll.html", methods=views.enrollment_choices(page.ctx), replacing=context_notice(page))


def render_enrolled(page: Page, token: str, result: enrollment.ConfirmResult) -> Response:
    """"Two-step verification is on", with the recovery codes once; the session is the new one."""
    page.set_session(token)
    page.session_token = token
    page.session = views.session_info(page.ctx, token)
    return page.render(
        "enrolled.html",
        recovery_codes=result.recovery_codes,
        replaced_codes=result.replaced_codes,
        continue_to=completion.RESUME_PATH,  # resumes what the session carries, else My account
    )


@router.post("/enroll/done", response_class=HTMLResponse)
def enroll_done(
    page: PageDep,
    saved: OptionalForm = "",
    continue_to: Annotated[str, Form(max_length=4000)] = "",
    csrf_token: OptionalForm = "",
) -> Response:
    """"Continue" under the recovery codes: only once "I have saved these codes" is ticked (the
    browser asks for the tick itself; this is the check for one that did not)."""
    blocked = page.guard(Area.SIGNED_IN)
    if blocked:
        return blocked
    target = same_origin_path(continue_to, default="/account")  # a path on this site, never elsewhere
    if not page.csrf_ok(csrf_token) or saved != "1":
        error = page.gettext(messages.ENROLL_TEXT["codes_not_saved"]) if saved != "1" else page.message("csrf")
        return page.render(
            "message.html", status_code=400, title=page.gettext("Your recovery codes"), error=error, home=target
        )
    return page.redirect(target)


@router.get("/enroll/totp", response_class=HTMLResponse)
def enroll_totp_form(page: PageDep) -> Response:
    blocked = page.guard(Area.ENROLL)
    if blocked:
        return blocked
    return render_totp_page(page)


def not_admitted(page: Page, refusal: str, path: str) -> Response:
    """Where a session that may not bind a method now goes instead (services.enrollment.admission)."""
    if refusal == "reauth":
        return page.redirect(f"/account/reauth?next={path}")
    if refusal == "mailbox":
        return page.redirect(f"/enroll/mailbox?next={path}")
    page.set_session(None)
    return page.redirect("/login?notice=session_expired")


def render_totp_page(page: Page, *, status_code: int = 200, error: str = "") -> Response:
    started = enrollment.start_totp(page.ctx, page.session_token)
    if isinstance(started, str):
        return not_admitted(page, started, "/enroll/totp")
    return page.render(
        "enroll_totp.html",
        status_code=status_code,
        enrollment=started,
        qr=qr_data_uri(started.uri),
        error=error,
        replacing=context_notice(page),
    )


@router.post("/enroll/totp", response_class=HTMLResponse)
def enroll_totp_submit(
    page: PageDep, code: Annotated[str, Form(max_length=64)] = "", csrf_token: OptionalForm = ""
) -> Response:
    blocked = page.guard(Area.ENROLL)
    if blocked:
        return blocked
    if not page.csrf_ok(csrf_token):
        return render_totp_page(page, status_code=400, error=page.message("csrf"))
    if shape := code_entry.shape_error(page, code):
        return render_totp_page(page, status_code=422, error=shape)
    result = enrollment.confirm_totp(page.ctx, page.session_token, code, page.info)
    if result.outcome == "confirmed" and result.token:
        return render_enrolled(page, result.token, result)
    if result.outcome in ("reauth", "mailbox", "no_session"):
        return not_admitted(page, result.outcome, "/enroll/totp")
    if result.outcome == "throttled":
        return render_totp_page(
            page, status_code=429, error=page.message("throttled", seconds=result.wait_seconds)
        )
    if result.outcome == "expired":
        return render_totp_page(page, status_code=410, error=page.message("enroll_expired"))
    if result.drift_seconds is not None:
        return render_totp_page(
            page, status_code=401, error=page.message("clock_off", seconds=abs(result.drift_seconds))
        )
    return render_totp_page(page, status_code=401, error=page.message("code_invalid"))
