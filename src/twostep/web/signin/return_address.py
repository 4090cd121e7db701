"""Forward-auth's return address (``rd``) on the sign-in pages, and ``/login/continue``.

``/login?rd=<url>`` is one more ``continue_to`` target: validated by ``completion.continue_target``
(forward-auth registered its protected hosts: ``services.forward_auth.allow_return_addresses``),
carried and resumed by the one completion. What is left here is the web side: ``/login/continue``,
the GET page a sign-in to another host ends on (``completion.RESUME_PATH``), and an already
signed-in browser sent to ``/login?rd=…`` (straight back, or a step-up first).
"""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from twostep.domain import authz
from twostep.domain.login_flow import Area
from twostep.services import forward_auth
from twostep.services.signin import completion
from twostep.web.account.reauth import reauth_url
from twostep.web.core.pages import Page, build_page

log = logging.getLogger("twostep")
router = APIRouter()
PageDep = Annotated[Page, Depends(build_page)]
CONTINUE_PATH = completion.RESUME_PATH
SAFE_URL_CHARACTERS = ":/?#[]@!$&'()*+,;=%~"  # already-encoded URL: only other characters are encoded


def _rules(page: Page) -> tuple[authz.Rule, ...]:
    return authz.parse_rules(list(page.ctx.settings.access_rules))


def safe_rd(page: Page, raw: str | None) -> authz.ReturnUrl | None:
    settings = page.ctx.settings
    return authz.return_url(
        (raw or "").strip(), _rules(page), cookie_domain=settings.cookie_domain, base_url=settings.base_url
    )


def _cookie_reaches(page: Page, url: str) -> bool:
    """The session cookie is sent to ``url``'s host (else forward-auth there never sees the sign-in
    and would send the browser back here: a loop)."""
    host = (urlsplit(url).hostname or "").lower()
    settings = page.ctx.settings
    if settings.cookie_domain:
        return authz.within_domain(host, settings.cookie_domain)
    return host == (urlsplit(settings.base_url).hostname or "").lower()


def resume_signed_in(page: Page, raw_rd: str) -> Response:
    """``/login?rd=…`` for a browser that is signed in already: a step-up (the rule wants a fresher
    or a real second step) goes through re-authentication first; otherwise straight back."""
    target = safe_rd(page, raw_rd)
    if target is None:
        return page.redirect("/account")
    if not _cookie_reaches(page, target):
        log.warning("forward-auth: the session cookie does not reach %s; set TWOSTEP_COOKIE_DOMAIN",
                    urlsplit(target).hostname)
        return page.redirect("/account")
    parts = urlsplit(target)
    path = authz.normalize_path((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    identity = forward_auth.find_identity(page.ctx, page.session_token)
    if path is not None and identity is not None:
        wanted = authz.Target("GET", (parts.hostname or "").lower(), path)
        if forward_auth.decide(page.ctx, _rules(page), wanted, identity).verdict == "step_up":
            completion.keep_target(page.ctx, page.session_token, target)
            return page.redirect(reauth_url(CONTINUE_PATH))
    return page.redirect_to_protected(target)


@router.get(CONTINUE_PATH)
def resume(page: PageDep) -> Response:
    """Where a completed sign-in to another host, a step-up's re-authentication and the enrollment's
    "Continue" lead: a page that sends the browser on to the target the session kept (``Refresh``,
    plus a link), a page of this site, or My account.

    A page rather than a redirect: when this request is the end of a form submission's redirects,
    a redirect to another host would be stopped by ``form-action 'self'``; a refresh is a new
    navigation, which that directive does not govern."""
    blocked = page.guard(Area.SIGNED_IN)
    if blocked:
        return blocked
    target = completion.take_target(page.ctx, page.session_token)  # validated again as it is taken
    if target is None or target.startswith("/"):
        return page.redirect(target or "/account")
    response = page.render("continue.html", target=target)
    response.headers["Refresh"] = f"0;url={quote(target, safe=SAFE_URL_CHARACTERS)}"
    return response
