"""A user-agent string as a person reads it: "Chrome on Linux", "Safari on iPhone", "curl".

Why our own 60 lines and not a library: the audit log needs only the browser family and the
operating system, never versions or device models. The PyPI parsers (``ua-parser``,
``user-agents``) carry a regular-expression table of several hundred kB that must be kept current
to be right; a wrong guess on an exotic agent costs nothing here, because the raw string is always
one click away. The rules below follow the order every parser uses, since agents claim each other:

- Edge says "Chrome" and "Safari", Opera says "Chrome", Samsung Internet says "Chrome", Chrome says
  "Safari": the most specific token is tested first (``Edg/`` before ``Chrome/`` before ``Safari/``);
- iOS browsers other than Safari carry their own token (``CriOS``, ``FxiOS``, ``EdgiOS``);
- Android before Linux (Android agents say "Linux"), iPhone/iPad before "Mac OS X" (iOS agents say
  "like Mac OS X");
- non-browser clients (curl, python-requests, Go, the twostep command line) are named as themselves.

Pure: no I/O, no clock; ``tests/unit/test_user_agents.py`` holds real agent strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: (token to look for, lower case; the name shown). The first match wins.
_BROWSERS: tuple[tuple[str, str], ...] = (
    ("edg/", "Edge"),
    ("edga/", "Edge"),
    ("edgios/", "Edge"),
    ("opr/", "Opera"),
    ("opera", "Opera"),
    ("samsungbrowser/", "Samsung Internet"),
    ("yabrowser/", "Yandex Browser"),
    ("vivaldi/", "Vivaldi"),
    ("fxios/", "Firefox"),
    ("firefox/", "Firefox"),
    ("crios/", "Chrome"),
    ("chromium/", "Chromium"),
    ("chrome/", "Chrome"),
    ("safari/", "Safari"),
    ("msie ", "Internet Explorer"),
    ("trident/", "Internet Explorer"),
)

_SYSTEMS: tuple[tuple[str, str], ...] = (
    ("android", "Android"),
    ("iphone", "iPhone"),
    ("ipad", "iPad"),
    ("ipod", "iPod"),
    ("cros", "ChromeOS"),
    ("windows", "Windows"),
    ("mac os x", "macOS"),
    ("macintosh", "macOS"),
    ("linux", "Linux"),
    ("freebsd", "FreeBSD"),
    ("openbsd", "OpenBSD"),
)

#: Command-line and library clients: the product token at the start, as its own name.
_TOOLS = re.compile(r"^(curl|wget|python-requests|python-httpx|python-urllib|go-http-client|okhttp|twostep)\b", re.I)
_TOOL_NAMES = {
    "curl": "curl",
    "wget": "Wget",
    "python-requests": "Python requests",
    "python-httpx": "Python httpx",
    "python-urllib": "Python urllib",
    "go-http-client": "Go",
    "okhttp": "OkHttp",
    "twostep": "twostep",
}
_BOTS = re.compile(r"bot\b|crawler|spider|headlesschrome", re.I)


@dataclass(frozen=True)
class AgentSummary:
    """``browser`` and ``system`` are names, or "" when unknown; ``text`` is what to show."""

    browser: str
    system: str
    automated: bool = False

    @property
    def text(self) -> str:
        if self.browser and self.system:
            return f"{self.browser} on {self.system}"
        return self.browser or self.system


def summarize(user_agent: str) -> AgentSummary:
    """The browser family and operating system named by ``user_agent`` (empty parts when unknown)."""
    raw = user_agent.strip()[:512]
    if not raw:
        return AgentSummary("", "")
    tool = _TOOLS.match(raw)
    if tool:
        return AgentSummary(_TOOL_NAMES[tool.group(1).lower()], "", automated=True)
    agent = raw.lower()
    browser = next((name for token, name in _BROWSERS if token in agent), "")
    if "headlesschrome" in agent:
        browser = "Headless Chrome"
    system = next((name for token, name in _SYSTEMS if token in agent), "")
    if not browser and not system:
        # Unknown shape: the first product token ("SomeApp/1.2 ..." -> "SomeApp"), never the whole string.
        first = re.match(r"[A-Za-z][\w.\-]{0,39}", raw)
        return AgentSummary(first.group(0) if first else "", "", automated=bool(_BOTS.search(raw)))
    return AgentSummary(browser, system, automated=bool(_BOTS.search(raw)))


def summary_text(user_agent: str) -> str:
    """``summarize(user_agent).text``: "Chrome on Linux", or "" for an empty string."""
    return summarize(user_agent).text
