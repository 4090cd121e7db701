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
from twostep.i18n import gettext_for
from twostep.web.core.messages import ADMIN_ACTIONS, EVENT_GROUPS, EVENT_NAMES, OUTCOMES
from twostep.web.core.pages import Page


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
