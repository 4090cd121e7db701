"""Every audit event twostep records has a name in words (web/admin/readable.py), translated."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from twostep.i18n import gettext_for
from twostep.web.admin.readable import Readable
from twostep.web.core.messages import ADMIN_ACTIONS, EVENT_NAMES

SOURCES = Path(__file__).resolve().parents[2] / "src" / "twostep"


def recorded_events() -> set[str]:
    """Event names passed as literals to ``audit.record(ctx, db, "<event>", …)`` or as a second-step
    check's ``fail_event``, anywhere in the sources."""
    found: set[str] = set()
    for path in SOURCES.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "record" and len(node.args) >= 3:
                event = node.args[2]
                if isinstance(event, ast.Constant) and isinstance(event.value, str):
                    found.add(event.value)
            for keyword in node.keywords:
                if keyword.arg == "fail_event" and isinstance(keyword.value, ast.Constant):
                    found.add(str(keyword.value.value))
    return found


def test_every_recorded_event_has_a_name_in_words() -> None:
    events = recorded_events()
    assert len(events) > 30  # the scan finds the calls
    assert sorted(events - set(EVENT_NAMES)) == []


def recorded_admin_actions() -> set[str]:
    found: set[str] = set()
    for path in SOURCES.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "_record_admin" and len(node.args) >= 5:
                action = node.args[4]
                if isinstance(action, ast.Constant) and isinstance(action.value, str):
                    found.add(action.value)
    return found


def test_every_administrator_action_has_a_name_in_words() -> None:
    actions = recorded_admin_actions()
    assert {"reset_2fa", "invite_user"} <= actions
    missing = actions - set(ADMIN_ACTIONS)
    assert sorted(missing) == []


@pytest.mark.parametrize("language", ["pl", "nl", "sv"])
def test_event_names_are_translated(language: str) -> None:
    gettext = gettext_for(language)
    untranslated = [name for name in EVENT_NAMES.values() if gettext(name) == name]
    assert untranslated == []
    assert Readable(language).event("authn_login_success") != "Signed in"
    assert Readable(language).event("some_future_event") == "some_future_event"
