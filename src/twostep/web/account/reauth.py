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
from twostep.web.core import messages
from twostep.web.core.links import same_origin_path
from twostep.web.core.pages import Page, build_page

router = APIRouter()
PageDep = Annotated[Page, Depends(build_page)]
OptionalForm = Annotated[str, Form()]
REAUTH_PATH = "/account/reauth"

#: Feedback on sending a code: the same texts as at sign-in (one translation serves both).
SEND_TEXT = messages.CODE_TEXT
SENT_KEY, FAILED_KEY = messages.SENT_KEY, messages.FAILED_KEY


def safe_next(raw: str | None) -> str:
    """A path on this site (web.links.same_origin_path), or /account; never the re-auth page itself."""
    value = same_origin_path((raw or "").strip()[:501], default="/account")
    if len(value) > 500 or urlsplit(value).path.startswith(REAUTH_PATH):
        return "/account"
    return value


def reauth_url(next_path: str) -> str:
    """Where to send a browser whose session is not fresh enough for ``next_path``."""
    return f"{REAUTH_PATH}?next={quote(safe_next(next_path), safe='/')}"


def _render(
    page: Page, next_path: str, *, status_code: int = 200, error: str = "", notice: str = "", send_error: str = ""
) -> Response:
    view = reauth.view(page.ctx, page.session_token)
    if view is None:
        return page.redirect("/login?notice=session_expired")
    if view.step == "done":
        return page.redirect(next_path)
    return page.render(
        "reauth.html",
        status_code=status_code,
        view=view,
        next=next_path,
        error=error,
        notice=notice,
        send_error=send_error,
    )


@router.get(REAUTH_PATH, response_class=HTMLResponse)
def reauth_form(page: PageDep, next: str = "/account", method: str = "", sent: str = "") -> Response:
    blocked = page.guard(Area.SIGNED_IN)
    if blocked:
        return blocked
    if method:
        reauth.choose_method(page.ctx, page.session_token, method)
    notice, send_error = {
        "1": (SEND_TEXT["sent"], ""),
        "failed": ("", SEND_TEXT["mail_failed"]),
        "limited": ("", SEND_TEXT["limited"]),
    }.get(sent, ("", ""))
    return _render(
        page,
        safe_next(next),
        notice=page.message(notice) if notice else "",
        send_error=page.message(send_error) if send_error else "",
    )


@router.post(REAUTH_PATH + "/send", response_class=HTMLResponse)
def reauth_send(
    page: PageDep, next: Annotated[str, Form(max_length=600)] = "/account", csrf_token: OptionalForm = ""
) -> Response:
    """"Send a code" for an email or SMS method, once the password step is done."""
    blocked = page.guard(Area.SIGNED_IN)
    if blocked:
        return blocked
    target = safe_next(next)
    if not page.csrf_ok(csrf_token):
        return _render(page, target, status_code=400, send_error=page.message("csrf"))
    result = reauth.send_code(page.ctx, page.session_token, page.info)
    if result.outcome == "no_session":
        page.set_session(None)
        return page.redirect("/login?notice=session_expired")
    if result.outcome == "refused":
        return page.redirect(reauth_url(target))
    if result.outcome == "sent":
        key = SENT_KEY.get(result.method, "sent")
        return _render(page, target, notice=page.message(SEND_TEXT[key], target=result.target_label))
    if result.outcome == "cooldown":
        return _render(
            page, target, status_code=429, send_error=page.message(SEND_TEXT["cooldown"], seconds=result.wait_seconds)
        )
    if result.outcome == "hourly_limit":
        minutes = max(1, -(-result.wait_seconds // 60))
        limited = page.message(SEND_TEXT["hourly_limit"], minutes=minutes)
        return _render(page, target, status_code=429, send_error=limited)
    if result.outcome == "failed":
        failed = SEND_TEXT[FAILED_KEY.get(result.method, "mail_failed")]
        return _render(page, target, status_code=503, send_error=page.message(failed))
    return _render(page, target, status_code=400, send_error=page.message(SEND_TEXT["no_code_method"]))


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
    result = reauth.confirm_code(page.ctx, page.session_token, code, page.info)
    return _after(page, result, target, wrong="code_invalid")


def _after(page: Page, result: reauth.ReauthResult, target: str, *, wrong: str) -> Response:
    if result.outcome == "done" and result.token:
        page.set_session(result.token)
        return page.redirect(target)
    if result.outcome == "code":
        view = reauth.view(page.ctx, page.session_token)
        if view is not None and factor_registry.sent_at_once(view.method):
            # As at sign-in (the Kintone page): an email code goes out right away, SMS on request.
            sent = reauth.send_code(page.ctx, page.session_token, page.info).outcome
            flag = {"sent": "1", "failed": "failed", "cooldown": "limited", "hourly_limit": "limited"}.get(sent, "")
            return page.redirect(reauth_url(target) + (f"&sent={flag}" if flag else ""))
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
