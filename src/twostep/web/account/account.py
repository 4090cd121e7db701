"""My account: methods, remembered devices, sessions, recovery codes, password.

Reading the page needs a signed-in session. Every change needs a fresh re-authentication as well:
a change page or form without it redirects to /account/reauth?next=<this page>, and the service
checks again when the form arrives (a page left open for ten minutes is not fresh any more).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from babel.dates import format_date
from fastapi import APIRouter, Depends, Form, Path
from fastapi.responses import HTMLResponse, Response

from twostep.domain.codes import RECOVERY_CODE_COUNT
from twostep.domain.login_flow import Area
from twostep.services.account import account_changes, account_view, reauth
from twostep.web.account.reauth import reauth_url
from twostep.web.core import messages
from twostep.web.core.pages import Page, build_page

router = APIRouter()
PageDep = Annotated[Page, Depends(build_page)]
OptionalForm = Annotated[str, Form()]
PasswordForm = Annotated[str, Form(max_length=1024)]
FactorId = Annotated[int, Path(ge=1, le=2**31 - 1)]

NOTICES = messages.ACCOUNT_NOTICES


def when(language: str) -> Callable[..., str]:
    """A formatter for the templates: a date and time in the page's language, in UTC."""

    def format_when(moment: datetime | None, *, with_time: bool = True) -> str:
        if moment is None:
            return "—"
        moment = moment.astimezone(UTC)
        day = format_date(moment, "medium", locale=language)
        return f"{day}, {moment:%H:%M} UTC" if with_time else day

    return format_when


def _signed_in(page: Page) -> Response | None:
    blocked = page.guard(Area.SIGNED_IN)
    if blocked or page.session is None:
        return blocked or page.redirect("/login")
    return None


def _not_found(page: Page) -> Response:
    return page.render("message.html", status_code=404, title=page.gettext("Page not found"), error="")


def _fresh_or_reauth(page: Page, here: str) -> Response | None:
    if reauth.fresh(page.ctx, page.session_token):
        return None
    return page.redirect(reauth_url(here))


def render_account(page: Page, *, status_code: int = 200, error: str = "", notice: str = "") -> Response:
    assert page.session is not None
    view = account_view.overview(page.ctx, page.session.user_id, page.session.session_id)
    return page.render(
        "account.html",
        status_code=status_code,
        view=view,
        notice=page.gettext(NOTICES[notice]) if notice in NOTICES else "",
        error=error,
        when=when(page.language),
    )


def _after_change(page: Page, result: account_changes.ChangeResult, here: str, notice: str) -> Response:
    """The common answers of a change that needs nothing but a button press."""
    if result.outcome == "done":
        return page.redirect(f"/account?notice={notice}")
    if result.outcome == "reauth":
        return page.redirect(reauth_url(here))
    if result.outcome == "no_session":
        page.set_session(None)
        return page.redirect("/login?notice=session_expired")
    if result.outcome == "not_found":
        return render_account(page, status_code=404, notice="not_found")
    return render_account(page, status_code=409, error=page.message(result.code))


@router.get("/account", response_class=HTMLResponse)
def account_page(page: PageDep) -> Response:
    blocked = _signed_in(page)
    if blocked:
        return blocked
    return render_account(page, notice=page.request.query_params.get("notice", ""))


# --- methods -------------------------------------------------------------------------------------


@router.get("/account/methods/{factor_id}/remove", response_class=HTMLResponse)
def remove_method_form(page: PageDep, factor_id: FactorId) -> Response:
    here = f"/account/methods/{factor_id}/remove"
    blocked = _signed_in(page) or _fresh_or_reauth(page, here)
    if blocked:
        return blocked
    method = account_view.method_to_remove(page.ctx, page.session_token, factor_id)
    if method is None:
        return _not_found(page)
    return page.render("account_remove_method.html", method=method, error="")


@router.post("/account/methods/{factor_id}/remove", response_class=HTMLResponse)
def remove_method(page: PageDep, factor_id: FactorId, csrf_token: OptionalForm = "") -> Response:
    here = f"/account/methods/{factor_id}/remove"
    blocked = _signed_in(page)
    if blocked:
        return blocked
    method = account_view.method_to_remove(page.ctx, page.session_token, factor_id)
    if method is None:
        return _not_found(page)
    if not page.csrf_ok(csrf_token):
        return page.render("account_remove_method.html", status_code=400, method=method, error=page.message("csrf"))
    result = account_changes.remove_method(page.ctx, page.session_token, factor_id, page.info)
    if result.outcome == "last_method":
        return page.render(
            "account_remove_method.html", status_code=409, method=method, error=page.message("last_method")
        )
    return _after_change(page, result, here, "method_removed")


@router.post("/account/passkeys/{factor_id}/name", response_class=HTMLResponse)
def rename_passkey(
    page: PageDep, factor_id: FactorId, name: Annotated[str, Form(max_length=200)] = "", csrf_token: OptionalForm = ""
) -> Response:
    blocked = _signed_in(page)
    if blocked:
        return blocked
    if not page.csrf_ok(csrf_token):
        return render_account(page, status_code=400, error=page.message("csrf"))
    result = account_changes.rename_passkey(page.ctx, page.session_token, factor_id, name, page.info)
    if result.outcome == "done":
        return page.redirect("/account?notice=passkey_renamed#passkeys")
    return _after_change(page, result, "/account", "passkey_renamed")


# --- remembered devices and sessions -------------------------------------------------------------


@router.post("/account/devices/{device_id}/revoke", response_class=HTMLResponse)
def revoke_device(page: PageDep, device_id: FactorId, csrf_token: OptionalForm = "") -> Response:
    blocked = _signed_in(page)
    if blocked:
        return blocked
    if not page.csrf_ok(csrf_token):
        return render_account(page, status_code=400, error=page.message("csrf"))
    result = account_changes.revoke_device(page.ctx, page.session_token, device_id, page.info)
    return _after_change(page, result, "/account", "device_revoked")


@router.post("/account/sessions/others/end", response_class=HTMLResponse)
def end_other_sessions(page: PageDep, csrf_token: OptionalForm = "") -> Response:
    blocked = _signed_in(page)
    if blocked:
        return blocked
    if not page.csrf_ok(csrf_token):
        return render_account(page, status_code=400, error=page.message("csrf"))
    result = account_changes.end_other_sessions(page.ctx, page.session_token, page.info)
    if result.outcome == "not_found":
        return page.redirect("/account?notice=nothing_to_end")
    return _after_change(page, result, "/account", "sessions_ended")


@router.post("/account/sessions/{session_id}/end", response_class=HTMLResponse)
def end_session(
    page: PageDep, session_id: Annotated[str, Path(max_length=64)], csrf_token: OptionalForm = ""
) -> Response:
    blocked = _signed_in(page)
    if blocked:
        return blocked
    if not page.csrf_ok(csrf_token):
        return render_account(page, status_code=400, error=page.message("csrf"))
    result = account_changes.end_session(page.ctx, page.session_token, session_id, page.info)
    return _after_change(page, result, "/account", "session_ended")


# --- recovery codes ------------------------------------------------------------------------------


@router.get("/account/recovery-codes", response_class=HTMLResponse)
def recovery_codes_form(page: PageDep) -> Response:
    blocked = _signed_in(page) or _fresh_or_reauth(page, "/account/recovery-codes")
    if blocked:
        return blocked
    return page.render("account_recovery_codes.html", codes=[], error="", total=RECOVERY_CODE_COUNT)


@router.post("/account/recovery-codes", response_class=HTMLResponse)
def regenerate_recovery_codes(page: PageDep, csrf_token: OptionalForm = "") -> Response:
    blocked = _signed_in(page)
    if blocked:
        return blocked
    if not page.csrf_ok(csrf_token):
        error = page.message("csrf")
        return page.render(
            "account_recovery_codes.html", status_code=400, codes=[], error=error, total=RECOVERY_CODE_COUNT
        )
    result = account_changes.regenerate_recovery_codes(page.ctx, page.session_token, page.info)
    if result.outcome == "done":
        # Shown this once: the page is no-store (security headers) and the codes are kept nowhere in clear.
        return page.render(
            "account_recovery_codes.html", codes=result.recovery_codes, error="", total=RECOVERY_CODE_COUNT
        )
    return _after_change(page, result, "/account/recovery-codes", "")


# --- password ------------------------------------------------------------------------------------


def _password_page(page: Page, *, status_code: int = 200, errors: dict[str, str] | None = None) -> Response:
    return page.render("account_password.html", status_code=status_code, errors=errors or {})


@router.get("/account/password", response_class=HTMLResponse)
def password_form(page: PageDep) -> Response:
    blocked = _signed_in(page) or _fresh_or_reauth(page, "/account/password")
    if blocked:
        return blocked
    return _password_page(page)


@router.post("/account/password", response_class=HTMLResponse)
def change_password(
    page: PageDep,
    current_password: PasswordForm = "",
    password: PasswordForm = "",
    password_confirm: PasswordForm = "",
    csrf_token: OptionalForm = "",
) -> Response:
    blocked = _signed_in(page)
    if blocked:
        return blocked
    if not page.csrf_ok(csrf_token):
        return _password_page(page, status_code=400, errors={"form": page.message("csrf")})
    result = account_changes.change_password(
        page.ctx, page.session_token, current_password, password, password_confirm, page.info
    )
    if result.outcome == "invalid":
        return _password_page(page, status_code=422, errors={result.form_field or "form": page.message(result.code)})
    if result.outcome == "throttled":
        message = page.message("throttled", seconds=result.wait_seconds)
        return _password_page(page, status_code=429, errors={result.form_field or "form": message})
    return _after_change(page, result, "/account/password", "password_changed")
