"""/account/reauth: confirm it's you (password, then a second step) before changing sign-in settings.

Pages that need a fresh re-authentication redirect here with ``?next=<local path>``; after both
steps the session id is rotated and the browser goes back to ``next``. Only local paths are
followed (never another host), so the page cannot be used as an open redirect.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response

from twostep.domain.login_flow import Area
from twostep.services.account import reauth
from twostep.services.factors import registry as factor_registry
from twostep.web.core import code_entry as code_feedback
from twostep.web.core.links import same_origin_path
from twostep.web.core.pages import Page, build_page

router = APIRouter()
PageDep = Annotated[Page, Depends(build_page)]
OptionalForm = Annotated[str, Form()]
REAUTH_PATH = "/account/reauth"



def safe_next(raw: str | None) -> str:
    """A path on this site (web.links.same_origin_path), or /account; never the re-auth page itself."""
    value = same_origin_path((raw or "").strip()[:501], default="/account")
    if len(value) > 500 or urlsplit(value).path.startswith(REAUTH_PATH):
        return "/account"
    return value


def reauth_url(next_path: str) -> str:
    """Where to send a browser whose session is not fresh enough for ``next_path``."""
    return f"{REAUTH_PATH}?next={quote(safe_next(next_path), safe='/')}"


def _render(page: Page, next_path: str, *, status_code: int = 200, error: str = "", sent: str = "") -> Response:
    view = reauth.view(page.ctx, page.session_token)
    if view is None:
        return page.redirect("/login?notice=session_expired")
    if view.step == "done":
        return page.redirect(next_path)
    feedback = code_feedback.after_send(page, sent, view.method, view.resend_in)
    return page.render(
        "reauth.html",
        status_code=max(status_code, feedback.status_code),
        view=view,
        next=next_path,
        error=error,
        send_error=feedback.send_error,
        just_sent=feedback.just_sent,
    )


@router.get(REAUTH_PATH, response_class=HTMLResponse)
def reauth_form(page: PageDep, next: str = "/account", method: str = "", sent: str = "") -> Response:
    blocked = page.guard(Area.SIGNED_IN)
    if blocked:
        return blocked
    if method:
        reauth.choose_method(page.ctx, page.session_token, method)
    return _render(page, safe_next(next), sent=sent)


@router.post(REAUTH_PATH + "/send", response_class=HTMLResponse)
def reauth_send(
    page: PageDep, next: Annotated[str, Form(max_length=600)] = "/account", csrf_token: OptionalForm = ""
) -> Response:
    """"Send a code" for an email or SMS method, once the password step is done; POST-redirect-GET."""
    blocked = page.guard(Area.SIGNED_IN)
    if blocked:
        return blocked
    target = safe_next(next)
    if not page.csrf_ok(csrf_token):
        return _render(page, target, status_code=400, error=page.message("csrf"))
    result = reauth.send_code(page.ctx, page.session_token, page.info)
    if result.outcome == "no_session":
        page.set_session(None)
        return page.redirect("/login?notice=session_expired")
    if result.outcome == "refused":
        return page.redirect(reauth_url(target))
    return page.redirect(f"{reauth_url(target)}&sent={code_feedback.send_flag(result)}")


@router.post(REAUTH_PATH, response_class=HTMLResponse)
def reauth_password(
    page: PageDep,
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=600)] = "/account",
    csrf_token: OptionalForm = "",
) -> Response:
    blocked = page.guard(Area.SIGNED_IN)
    if blocked:
        return blocked
    target = safe_next(next)
    if not page.csrf_ok(csrf_token):
        return _render(page, target, status_code=400, error=page.message("csrf"))
    result = reauth.confirm_password(page.ctx, page.session_token, password, page.info)
    return _after(page, result, target, wrong="password_wrong")


@router.post(REAUTH_PATH + "/code", response_class=HTMLResponse)
def reauth_code(
    page: PageDep,
    code: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=600)] = "/account",
    csrf_token: OptionalForm = "",
) -> Response:
    blocked = page.guard(Area.SIGNED_IN)
    if blocked:
        return blocked
    target = safe_next(next)
    if not page.csrf_ok(csrf_token):
        return _render(page, target, status_code=400, error=page.message("csrf"))
    if shape := code_feedback.shape_error(page, code):
        return _render(page, target, status_code=422, error=shape)
    result = reauth.confirm_code(page.ctx, page.session_token, code, page.info)
    if result.outcome in ("invalid", "replayed"):
        return _render(page, target, status_code=401, error=code_feedback.refusal(page, result.outcome, result.method))
    return _after(page, result, target, wrong="code_invalid")


def _after(page: Page, result: reauth.ReauthResult, target: str, *, wrong: str) -> Response:
    if result.outcome == "done" and result.token:
        page.set_session(result.token)
        return page.redirect(target)
    if result.outcome == "code":
        view = reauth.view(page.ctx, page.session_token)
        if view is not None and factor_registry.sent_at_once(view.method):
            # As at sign-in (the Kintone page): an email code goes out right away, SMS on request.
            flag = code_feedback.send_flag(reauth.send_code(page.ctx, page.session_token, page.info))
            return page.redirect(f"{reauth_url(target)}&sent={flag}")
        return page.redirect(reauth_url(target))
    if result.outcome == "password":
        return page.redirect(reauth_url(target))
    if result.outcome == "restart":
        page.set_session(None)
        return page.redirect("/login?notice=restart")
    if result.outcome == "no_session":
        page.set_session(None)
        return page.redirect("/login?notice=session_expired")
    if result.outcome == "throttled":
        return _render(page, target, status_code=429, error=page.message("throttled", seconds=result.wait_seconds))
    return _render(page, target, status_code=401, error=page.message(wrong))
