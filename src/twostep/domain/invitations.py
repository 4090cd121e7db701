"""A list of people to invite, as an administrator pastes or uploads it.

Accepted, one person per line (blank lines are skipped):

    ada@example.com
    Ada Lovelace <ada@example.com>
    ada@example.com, Ada Lovelace          (also ";" or a tab: a row copied from a spreadsheet)
    ada@example.com, bo@example.com        (several addresses on one line, nothing else)

or a CSV file whose first row names its columns (``email`` required; ``name``, ``language`` and
``roles`` optional, roles separated by ``;``). Passwords and authenticator secrets are not taken here:
``twostep user import`` brings those.

Every line is judged on its own: a bad line is refused with its number and a reason code (the web
layer words it), and the others can still be invited. Pure: no I/O.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from twostep.domain.emails import normalize_email
from twostep.domain.rollout import parse_roles
from twostep.domain.text_input import forbidden_character

MAX_PEOPLE = 1000
NAME_MAX = 200
LANGUAGES = ("en", "pl", "nl", "sv")
COLUMNS = ("email", "name", "language", "roles")
_ANGLE = re.compile(r"^\s*\"?(?P<name>[^<>\"]*?)\"?\s*<(?P<email>[^<>]+)>\s*$")
_SEPARATORS = re.compile(r"[,;\t]")


@dataclass(frozen=True)
class Invitee:
    line: int
    email: str
    name: str = ""
    language: str | None = None
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Refused:
    """``reason``: email_invalid, duplicate (``other_line``), name_too_long, control_character,
    language_unknown, role_invalid, too_many, column_unknown, column_missing."""

    line: int
    text: str
    reason: str
    other_line: int = 0
    detail: str = ""


@dataclass(frozen=True)
class InviteList:
    people: list[Invitee] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)


def _language(raw: str) -> str | None:
    code = raw.strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else None


def _check_name(line: int, text: str, name: str) -> Refused | None:
    if len(name) > NAME_MAX:
        return Refused(line, text, "name_too_long")
    if forbidden_character(name) is not None:
        return Refused(line, text, "control_character")
    return None


def _free_line(number: int, text: str) -> tuple[list[tuple[str, str]], Refused | None]:
    """(address, name) pairs on one free-form line, or why it can't be read."""
    angle = _ANGLE.match(text)
    if angle:
        return [(angle.group("email").strip(), angle.group("name").strip())], None
    parts = [part.strip() for part in _SEPARATORS.split(text) if part.strip()]
    with_at = [part for part in parts if "@" in part]
    if len(with_at) == len(parts):
        return [(part, "") for part in parts], None
    if len(with_at) == 1:
        name = " ".join(part for part in parts if "@" not in part)
        return [(with_at[0], name)], None
    return [], Refused(number, text, "email_invalid")


def _csv_rows(text: str) -> tuple[list[tuple[int, str, dict[str, str]]], Refused | None]:
    reader = csv.reader(io.StringIO(text))
    rows: list[tuple[int, str, dict[str, str]]] = []
    header: list[str] = []
    for values in reader:
        number = reader.line_num
        if not header:
            header = [value.strip().lower() for value in values]
            unknown = [name for name in header if name not in COLUMNS]
            if unknown:
                return [], Refused(number, ",".join(values), "column_unknown", detail=", ".join(unknown))
            continue
        if not any(value.strip() for value in values):
            continue
        rows.append((number, ",".join(values), dict(zip(header, (v.strip() for v in values), strict=False))))
    return rows, None


def looks_like_csv(text: str) -> bool:
    """A header row that names an ``email`` column."""
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    return "email" in [cell.strip().strip('"').lower() for cell in first.split(",")]


def parse(text: str) -> InviteList:
    """Everyone on the list, in order, and every line that could not be read."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    result = InviteList()
    seen: dict[str, int] = {}
    candidates: list[tuple[int, str, str, str, str, str]] = []  # line, text, email, name, language, roles
    if looks_like_csv(text):
        rows, problem = _csv_rows(text)
        if problem is not None:
            result.refused.append(problem)
            return result
        for number, raw, row in rows:
            candidates.append(
                (number, raw, row.get("email", ""), row.get("name", ""), row.get("language", ""), row.get("roles", ""))
            )
    else:
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            pairs, problem = _free_line(number, line.strip())
            if problem is not None:
                result.refused.append(problem)
            candidates.extend((number, line.strip(), email, name, "", "") for email, name in pairs)
    for number, raw, raw_email, name, raw_language, raw_roles in candidates:
        if len(result.people) >= MAX_PEOPLE:
            result.refused.append(Refused(number, raw, "too_many"))
            break
        email = normalize_email(raw_email)
        if email is None:
            result.refused.append(Refused(number, raw, "email_invalid"))
            continue
        if email in seen:
            result.refused.append(Refused(number, raw, "duplicate", other_line=seen[email]))
            continue
        problem = _check_name(number, raw, name)
        if problem is not None:
            result.refused.append(problem)
            continue
        language = None
        if raw_language.strip():
            language = _language(raw_language)
            if language is None:
                result.refused.append(Refused(number, raw, "language_unknown", detail=raw_language.strip()[:20]))
                continue
        roles, bad = parse_roles(raw_roles, separators=";") if raw_roles.strip() else ([], [])
        if bad:
            result.refused.append(Refused(number, raw, "role_invalid", detail=", ".join(bad)[:100]))
            continue
        seen[email] = number
        result.people.append(Invitee(number, email, name, language, tuple(roles)))
    return result
