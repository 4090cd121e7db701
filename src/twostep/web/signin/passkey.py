"""The WebAuthn ceremony endpoints, in one place: JSON for ``static/passkey.js``.

    POST /webauthn/register/options       {}                               -> creation options
    POST /webauthn/register/verify        {"credential": {...}}            -> {"status": "verified"}
    POST /webauthn/authenticate/options   {"purpose": P}                   -> request options
    POST /webauthn/authenticate/verify    {"purpose": P, "credential": {...}, "next": "…"}
                                                                           -> {"status": "signed_in",
                                                                               "redirect": "/…"}

``P`` is ``sign_in`` (a passkey alone, from ``/login``: the button or autofill), ``second_step``
(after the password, from ``/login/code``) or ``reauth`` (``/account/reauth``). Every request
carries the page's CSRF token in ``X-CSRF-Token`` (the same token as the page's forms, bound to the
session or the pre-session cookie). Every refusal is RFC 9457 ``application/problem+json`` whose
``detail`` is in the page's language (the script shows it in the page's alert) and, where the
browser should go elsewhere, a ``redirect`` member. Never a 500: a malformed body is a 400.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from twostep.domain.login_flow import Stage
from twostep.services.account import reauth
from twostep.services.enrollment import passkey_enrollment
from twostep.services.factors import passkey
from twostep.services.reset import password_reset
from twostep.services.signin import completion, login, passwordless
from twostep.web.account.reauth import safe_next
from twostep.web.core.messages import PASSKEY_TEXT
from twostep.web.core.pages import Page, build_page
from twostep.web.reset import password_reset as reset_pages

router = APIRouter()
PageDep = Annotated[Page, Depends(build_page)]
PROBLEM_JSON = "application/problem+json"
CSRF_HEADER = "x-csrf-token"
MAX_BODY = 64 * 1024

#: slug -> HTTP status of each refusal.
STATUS = {
    "malformed": 400,
    "csrf": 403,
    "invalid": 401,
    "expired": 410,
    "not_allowed": 403,
    "duplicate": 409,
    "unavailable": 404,
    "passwordless_off": 403,
    "no_session": 401,
    "reauth": 403,
    "mailbox": 403,
    "throttled": 429,
}


def problem(page: Page, slug: str, *, redirect: str | None = None, wait_seconds: int = 0) -> Response:
    """An RFC 9457 problem in the page's language (``detail``), with ``redirect`` when the browser
    should go elsewhere (a re-authentication, a restarted sign-in)."""
    status = STATUS[slug]
    if slug == "throttled":
        detail = page.message("throttled", seconds=wait_seconds)
    else:
        detail = page.gettext(PASSKEY_TEXT[slug])
    body: dict[str, Any] = {"type": f"urn:twostep:webauthn:{slug}", "title": slug, "status": status, "detail": detail}
    headers = {"Retry-After": str(max(1, wait_seconds))} if slug == "throttled" else {}
    if redirect:
        body["redirect"] = redirect
    response = JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)
    page.finish(response)
    return response


def answer(page: Page, body: dict[str, Any] | str) -> Response:
    content = body if isinstance(body, str) else json.dumps(body)
    response = Response(content, media_type="application/json")
    page.finish(response)
    return response


def _body(raw: bytes) -> dict[str, Any] | None:
    if len(raw) > MAX_BODY:
        return None
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _credential(body: dict[str, Any]) -> str | None:
    value = body.get("credential")
    return json.dumps(value) if isinstance(value, dict) else None


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    return value if isinstance(value, str) else ""


def browser_binding(page: Page) -> str:
    """What a passwordless challenge is bound to before sign-in: this browser's session or
    pre-session cookie (a digest: the challenge table never holds a cookie value)."""
    return page.ctx.digester.digest(page.session_token or page.presession, "webauthn-browser")


def _checked(page: Page, request: Request, raw: bytes) -> dict[str, Any] | Response:
    body = _body(raw)
    if not page.csrf_ok(request.headers.get(CSRF_HEADER)):
        return problem(page, "csrf")
    if body is None:
        return problem(page, "malformed")
    return body


def _refused(page: Page, refusal: str, next_path: str) -> Response:
    if refusal == "reauth":
        return problem(page, "reauth", redirect=f"/account/reauth?next={next_path}")
    if refusal == "mailbox":
        return problem(page, "mailbox", redirect=f"/enroll/mailbox?next={next_path}")
    if refusal == "ended":
        page.set_session(None)
        return problem(page, "no_session", redirect="/login?notice=session_expired")
    return problem(page, refusal)


# --- registration -------------------------------------------------------------------------------


def _register_options(page: Page, request: Request, raw: bytes) -> Response:
    body = _checked(page, request, raw)
    if isinstance(body, Response):
        return body
    built = passkey_enrollment.options(page.ctx, page.session_token)
    if built in ("reauth", "mailbox", "ended", "unavailable"):
        return _refused(page, built, "/enroll/passkey")
    return answer(page, built)


def _register_verify(page: Page, request: Request, raw: bytes) -> Response:
    body = _checked(page, request, raw)
    if isinstance(body, Response):
        return body
    credential = _credential(body)
    if credential is None:
        return problem(page, "malformed")
    result = passkey_enrollment.verify(page.ctx, page.session_token, credential, page.info)
    if result.outcome == "registered":
        return answer(page, {"status": "verified", "provider": result.provider})
    return _refused(page, result.outcome, "/enroll/passkey")


@router.post("/webauthn/register/options")
async def register_options(page: PageDep, request: Request) -> Response:
    return await run_in_threadpool(_register_options, page, request, await request.body())


@router.post("/webauthn/register/verify")
async def register_verify(page: PageDep, request: Request) -> Response:
    return await run_in_threadpool(_register_verify, page, request, await request.body())


# --- authentication -----------------------------------------------------------------------------


def _authenticate_options(page: Page, request: Request, raw: bytes) -> Response:
    body = _checked(page, request, raw)
    if isinstance(body, Response):
        return body
    purpose = _text(body, "purpose")
    ctx = page.ctx
    if purpose == "sign_in":
        if not passwordless.allowed(ctx):
            return problem(page, "passwordless_off" if passkey.available(ctx) else "unavailable")
        issued = passwordless.options(ctx, bound_to=browser_binding(page), request=page.info)
        if issued.retry_after:
            return problem(page, "throttled", wait_seconds=issued.retry_after)
        built = issued.options
    elif purpose == "second_step":
        if page.stage is not Stage.SECOND_STEP:
            return problem(page, "no_session", redirect="/login?notice=session_expired")
        built = login.passkey_options(ctx, page.session_token)
    elif purpose == "reauth":
        if page.stage is not Stage.SIGNED_IN:
            return problem(page, "no_session", redirect="/login?notice=session_expired")
        built = reauth.passkey_options(ctx, page.session_token)
    elif purpose == "reset":
        if page.stage is not Stage.RESET_SECOND_STEP:
            return problem(page, "no_session", redirect="/password/forgot?notice=expired")
        built = password_reset.passkey_options(ctx, page.session_token)
    else:
        return problem(page, "malformed")
    return answer(page, built) if built is not None else problem(page, "unavailable")


def _signed_in(page: Page, token: str, continue_to: str) -> Response:
    """``continue_to`` is the completion's: a path on this site (``/login/continue`` for a target on
    another host, which that page sends the browser on to)."""
    page.set_session(token)
    return answer(page, {"status": "signed_in", "redirect": continue_to})


def _authenticate_verify(page: Page, request: Request, raw: bytes) -> Response:
    body = _checked(page, request, raw)
    if isinstance(body, Response):
        return body
    credential = _credential(body)
    purpose = _text(body, "purpose")
    if credential is None:
        return problem(page, "malformed")
    ctx = page.ctx
    if purpose == "sign_in":
        result = passwordless.sign_in(
            ctx, credential, bound_to=browser_binding(page), current_token=page.session_token, request=page.info,
            continue_to=completion.continue_target(ctx, _text(body, "next")),
        )  # fmt: skip
        if result.outcome == "signed_in" and result.token:
            return _signed_in(page, result.token, result.continue_to)
        return problem(page, "passwordless_off" if result.outcome == "not_allowed" else "invalid")
    if purpose == "second_step":
        if page.stage is not Stage.SECOND_STEP:
            return problem(page, "no_session", redirect="/login?notice=session_expired")
        step = login.second_step(
            ctx, page.session_token, credential, remember_device=False, request=page.info, method=passkey.KIND
        )
        if step.outcome == "signed_in" and step.token:
            return _signed_in(page, step.token, step.continue_to)
        if step.outcome == "restart":
            page.set_session(None)
            return problem(page, "invalid", redirect="/login?notice=restart")
        if step.outcome == "no_session":
            page.set_session(None)
            return problem(page, "no_session", redirect="/login?notice=session_expired")
        if step.outcome == "throttled":
            return problem(page, "throttled", wait_seconds=step.wait_seconds)
        return problem(page, "invalid")
    if purpose == "reset":
        return _reset_verify(page, credential)
    if purpose == "reauth":
        if page.stage is not Stage.SIGNED_IN:
            return problem(page, "no_session", redirect="/login?notice=session_expired")
        done = reauth.confirm_passkey(ctx, page.session_token, credential, page.info)
        if done.outcome == "done" and done.token:
            page.set_session(done.token)
            return answer(page, {"status": "reauthenticated", "redirect": safe_next(_text(body, "next"))})
        if done.outcome in ("restart", "no_session"):
            page.set_session(None)
            return problem(page, "no_session", redirect="/login?notice=session_expired")
        if done.outcome == "throttled":
            return problem(page, "throttled", wait_seconds=done.wait_seconds)
        return problem(page, "invalid")
    return problem(page, "malformed")


def _reset_verify(page: Page, credential: str) -> Response:
    """The password reset's second step answered with a passkey: the reset completes and signs in,
    as with a code (``web.reset.password_reset``)."""
    if page.stage is not Stage.RESET_SECOND_STEP:
        return problem(page, "no_session", redirect="/password/forgot?notice=expired")
    done = password_reset.confirm_passkey(page.ctx, page.session_token, credential, page.info)
    if done.outcome == "signed_in" and done.token:
        location = reset_pages.signed_in_location(page, done.token, done.continue_to)
        return answer(page, {"status": "signed_in", "redirect": location})
    if done.outcome in ("restart", "no_session"):
        page.set_session(None)
        notice = "restart" if done.outcome == "restart" else "expired"
        return problem(page, "invalid" if notice == "restart" else "no_session",
                       redirect=f"/password/forgot?notice={notice}")
    if done.outcome == "throttled":
        return problem(page, "throttled", wait_seconds=done.wait_seconds)
    return problem(page, "invalid")


@router.post("/webauthn/authenticate/options")
async def authenticate_options(page: PageDep, request: Request) -> Response:
    return await run_in_threadpool(_authenticate_options, page, request, await request.body())


@router.post("/webauthn/authenticate/verify")
async def authenticate_verify(page: PageDep, request: Request) -> Response:
    return await run_in_threadpool(_authenticate_verify, page, request, await request.body())
