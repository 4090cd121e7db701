"""Characters no text that enters twostep may carry: control characters and lone surrogates.

Why refuse rather than strip: a NUL byte cannot be stored in a PostgreSQL ``text`` column (the
driver raises, the request became a 500 and uvicorn dropped the keep-alive connection), a lone
surrogate (``"\\ud800"``, legal in JSON's ``\\u`` escapes) cannot be encoded as UTF-8 at all, and the
other C0/C1 controls have no meaning in an email address, a code, a name or a password; silently
removing them would make two different inputs equal. One rule for every way in: form fields, query
and path parameters, cookies the pages read, JSON strings of the API, and rows of ``user import``.

Tab, line feed and carriage return are refused too in single-line values (every field twostep has
today); ``multiline=True`` lets them through for a field that really holds several lines.
"""

from __future__ import annotations

import re

_SINGLE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_MULTI_LINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def forbidden_character(text: str, *, multiline: bool = False) -> str | None:
    """None when ``text`` is acceptable, else the first offending character, named (``U+0000``)."""
    found = (_MULTI_LINE if multiline else _SINGLE_LINE).search(text)
    if found is None:
        return None
    code = ord(found.group())
    kind = "a lone surrogate" if 0xD800 <= code <= 0xDFFF else "a control character"
    return f"{kind} (U+{code:04X})"


def is_clean(text: str, *, multiline: bool = False) -> bool:
    return (_MULTI_LINE if multiline else _SINGLE_LINE).search(text) is None


def first_bad_json_string(value: object, where: str = "") -> tuple[str, str] | None:
    """The first string (key or value) of a parsed JSON document that ``forbidden_character`` refuses,
    as (dotted location, problem); None when every string is clean. JSON's ``\\u0000`` and
    ``\\ud800`` escapes are how NULs and lone surrogates arrive in an API body."""
    if isinstance(value, str):
        problem = forbidden_character(value)
        return (where, problem) if problem is not None else None
    if isinstance(value, dict):
        for key, item in value.items():
            key_text = str(key)
            problem = forbidden_character(key_text)
            if problem is not None:
                return (f"{where}.{key_text}" if where else key_text, problem)
            found = first_bad_json_string(item, f"{where}.{key_text}" if where else key_text)
            if found is not None:
                return found
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = first_bad_json_string(item, f"{where}[{index}]")
            if found is not None:
                return found
    return None
