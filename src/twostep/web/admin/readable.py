"""What the console shows people instead of internal values: event names in words, dates in the
administrator's language (Babel), browsers as "Chrome on Linux", counts with the language's digits
grouping. Templates get a ``Readable`` as ``fmt`` (``web.admin.admin_render.render`` passes it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from babel.dates import format_skeleton, format_time
from babel.numbers import format_decimal
from fastapi.responses import HTMLResponse

from twostep.domain.user_agents import summarize
from twostep.i18n import N_, gettext_for
from twostep.web.core.pages import Page

#: Every audit event twostep records, in words, grouped for the event filter's <select>.
#: ``tests/unit/test_audit_event_names.py`` finds every event name recorded in the sources and
#: fails when one is missing here.
EVENT_GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        N_("Signing in"),
        (
            ("authn_login_success", N_("Signed in")),
            ("authn_password_ok", N_("Password accepted")),
            ("authn_login_fail", N_("Sign-in failed")),
            ("authn_login_lock", N_("Sign-in paused after wrong attempts")),
            ("authn_login_fail_max", N_("Sign-in ended after five wrong codes")),
            ("authn_token_reuse", N_("A code was used a second time (refused)")),
            ("authn_device_remembered", N_("Browser remembered")),
            ("authn_code_sent", N_("Code sent")),
            ("authn_code_send_fail", N_("Code or invitation could not be sent")),
            ("session_logout", N_("Signed out")),
            ("session_renewed", N_("Confirmed it's them again")),
            ("session_expired", N_("Sessions ended by an administrator")),
        ),
    ),
    (
        N_("Two-step methods"),
        (
            ("authn_token_created", N_("Method set up or new recovery codes")),
            ("authn_token_enroll_fail", N_("Wrong code while setting up a method")),
            ("authn_token_delete", N_("Method removed")),
            ("authn_token_revoked", N_("Unfinished method withdrawn")),
            ("authn_token_disabled", N_("Method turned off after too many wrong codes")),
            ("authn_mailbox_check", N_("Mailbox confirmed")),
            ("authn_mailbox_check_fail", N_("Mailbox check failed")),
        ),
    ),
    (
        N_("Passwords"),
        (
            ("authn_password_change", N_("Password changed")),
            ("authn_password_change_fail", N_("Password change failed")),
            ("authn_password_reset_request", N_("Password reset asked for")),
            ("authn_password_reset_code_ok", N_("Password reset code accepted")),
            ("authn_password_rehashed", N_("Imported password upgraded")),
        ),
    ),
    (
        N_("Accounts and administration"),
        (
            ("user_created", N_("Account created")),
            ("user_invited", N_("Invitation sent")),
            ("user_updated", N_("Account changed by an administrator")),
            ("user_deleted", N_("Account deleted")),
            ("user_import", N_("Users imported")),
            ("authz_change", N_("Roles changed")),
            ("authz_admin", N_("Administrator action")),
            ("authz_fail", N_("Refused: not an administrator")),
            ("policy_changed", N_("Policy changed")),
        ),
    ),
    (
        N_("Applications"),
        (
            ("apikey_created", N_("API key created")),
            ("apikey_revoked", N_("API key revoked")),
            ("oidc_client_created", N_("Application registered")),
            ("oidc_client_updated", N_("Application changed")),
            ("oidc_client_deleted", N_("Application deleted")),
            ("oidc_client_secret_rotated", N_("Application secret replaced")),
            ("oidc_code_reuse", N_("Authorization code used twice (refused)")),
            ("oidc_refresh_reuse", N_("Refresh token used twice (refused)")),
        ),
    ),
)
EVENT_NAMES: dict[str, str] = {event: name for _, events in EVENT_GROUPS for event, name in events}

#: ``authz_admin`` events say which action in their ``action`` detail.
ADMIN_ACTIONS: dict[str, str] = {
    "reset_2fa": N_("reset two-step verification"),
    "unlock": N_("unlocked the account"),
    "sign_out_everywhere": N_("signed out everywhere"),
    "delete_user": N_("deleted the account"),
    "grant_admin": N_("made administrator"),
    "revoke_admin": N_("removed the administrator role"),
    "audit_export": N_("exported the audit log"),
    "invite_user": N_("invited"),
    "invite_users": N_("invited a list of people"),
    "resend_invitation": N_("sent the invitation again"),
    "bulk_reset_2fa": N_("reset two-step verification of several users"),
    "bulk_sign_out": N_("signed out several users"),
    "bulk_delete": N_("deleted several accounts"),
}

OUTCOMES: dict[str, str] = {"success": N_("Success"), "failure": N_("Failure")}


@dataclass(frozen=True)
class Readable:
    language: str

    def _(self, message: str) -> str:
        return gettext_for(self.language)(message)

    def when(self, moment: datetime | None) -> str:
        """ "2 mar 2026 09:05 UTC" in the administrator's language (times are shown in UTC)."""
        if moment is None:
            return "—"
        moment = moment.astimezone(UTC)
        day = format_skeleton("yMMMd", moment, locale=self.language)
        return f"{day} {format_time(moment, 'short', locale=self.language, tzinfo=UTC)} UTC"

    def day(self, value: date) -> str:
        """ "2 mar": a chart's category label."""
        return format_skeleton("MMMd", value, locale=self.language)

    def number(self, value: int) -> str:
        return format_decimal(value, locale=self.language)

    def event(self, name: str) -> str:
        known = EVENT_NAMES.get(name)
        return self._(known) if known else name

    def admin_action(self, detail: Mapping[str, object]) -> str:
        action = str(detail.get("action", ""))
        known = ADMIN_ACTIONS.get(action)
        return self._(known) if known else action

    def outcome(self, value: str) -> str:
        known = OUTCOMES.get(value)
        return self._(known) if known else value

    def agent(self, user_agent: str) -> str:
        """ "Chrome on Linux" (words translated), the browser alone, or "" for an empty string."""
        found = summarize(user_agent)
        if found.browser and found.system:
            # Translators: a browser and an operating system, like "Chrome on Linux".
            return self._("%(browser)s on %(system)s") % {"browser": found.browser, "system": found.system}
        return found.browser or found.system

    def groups(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """The event filter's choices: (group, [(event, name)]) in the administrator's language."""
        return [(self._(group), [(event, self._(name)) for event, name in events]) for group, events in EVENT_GROUPS]


def render(page: Page, template: str, *, status_code: int = 200, **params: Any) -> HTMLResponse:
    """``page.render`` for a console page: wide, with ``fmt`` (a ``Readable`` in the page's language)."""
    params.setdefault("wide", True)
    return page.render(template, status_code=status_code, fmt=Readable(page.language), **params)
