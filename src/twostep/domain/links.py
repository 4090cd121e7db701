"""Links and redirects built from what the request says (its path, a ``next`` parameter) stay on
this site: every such place goes through ``same_origin_path`` (issue 12, item 10).

Threat: an open redirect or an off-site link in our own page. ``GET //evil.example/phish`` has the
path ``//evil.example/phish``; written back as a link (the language switcher did), a browser reads it
as a scheme-relative URL and leaves for evil.example. Backslashes count as slashes in browsers
(``/\\evil.example``), and control characters are dropped by them (``/\\t/evil.example``), so both
are refused too.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from twostep.domain.text_input import is_clean

MAX_LENGTH = 2000


def same_origin_path(raw: str | None, default: str = "/") -> str:
    """``raw`` when it is a path on this site (with an optional query), otherwise ``default``.

    A path here starts with exactly one ``/``, holds no backslash and no control character, and
    names neither a scheme nor a host.
    """
    value = raw or ""
    if not value.startswith("/") or value.startswith(("//", "/\\")) or len(value) > MAX_LENGTH:
        return default
    if "\\" in value or not is_clean(value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value
