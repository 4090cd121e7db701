"""Where a sign-in continues: ``/login?next=PATH`` remembers a same-origin path (``links.same_origin_path``)
in a short cookie, and the sign-in's last step redirects there instead of ``/account``.

Used by the OpenID Connect hand-off (``/oauth2/authorize/resume?...``). ``fresh=1`` asks for a full
sign-in even in a signed-in browser (``prompt=login``, ``max_age``): the login form is shown, and a
remembered device does not skip the second step. Until the sign-in completion is one place (issue 13),
the two completions (password only, and the second step) call ``after_sign_in``.
"""

from __future__ import annotations

from twostep.web.links import same_origin_path
from twostep.web.pages import Page

LIFETIME_SECONDS = 30 * 60
_FRESH = "fresh:"


def _cookie_name(page: Page) -> str:
    return page.web.cookies.session.replace("twostep_session", "twostep_continue")


def _stored(page: Page) -> str:
    remembered = getattr(page.request.state, "continue_to", None)
    if isinstance(remembered, str):
        return remembered
    return page.request.cookies.get(_cookie_name(page), "")[:2100]


def remember(page: Page) -> bool:
    """On the login page: keep ``?next=`` (when it is a path on this site). True when ``fresh=1``."""
    raw = page.request.query_params.get("next", "")
    target = same_origin_path(raw, default="")
    if not target:
        return False
    fresh = page.request.query_params.get("fresh") == "1"
    value = (_FRESH if fresh else "") + target
    page.request.state.continue_to = value
    page.cookies_to_set.append((_cookie_name(page), value, LIFETIME_SECONDS))
    return fresh


def fresh_sign_in(page: Page) -> bool:
    return _stored(page).startswith(_FRESH)


def device_cookie(page: Page) -> str | None:
    """The remembered-device cookie, unless a fresh sign-in was asked (then both steps run)."""
    if fresh_sign_in(page):
        return None
    return page.request.cookies.get(page.web.cookies.device)


def after_sign_in(page: Page, default: str = "/account") -> str:
    """The remembered target (once: the cookie is cleared), else ``default``."""
    stored = _stored(page)
    if not stored:
        return default
    page.cookies_to_clear.append(_cookie_name(page))
    return same_origin_path(stored.removeprefix(_FRESH), default=default)
