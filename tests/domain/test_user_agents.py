"""The browser summary shown in the audit log: real user-agent strings, as browsers send them."""

from __future__ import annotations

import pytest

from twostep.domain.user_agents import summarize, summary_text

AGENTS = [
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
     "Chrome on Linux"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36 Edg/131.0.2903.86", "Edge on Windows"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0", "Firefox on Linux"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
     "Safari/605.1.15", "Safari on macOS"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1 Mobile/15E148 Safari/604.1", "Safari on iPhone"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1", "Chrome on iPhone"),
    ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", "Samsung Internet on Android"),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
     "Safari/537.36", "Chrome on Android"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36 OPR/114.0.0.0", "Opera on Windows"),
    ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36", "Chrome on ChromeOS"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 "
     "Safari/537.36", "Headless Chrome on Linux"),
    ("curl/8.5.0", "curl"),
    ("python-requests/2.32.3", "Python requests"),
    ("Go-http-client/1.1", "Go"),
    ("SomeMonitor/3.1 (+https://monitor.example)", "SomeMonitor"),
    ("", ""),
]  # fmt: skip


@pytest.mark.parametrize(("agent", "expected"), AGENTS)
def test_user_agent_summary_names_browser_and_system(agent: str, expected: str) -> None:
    assert summary_text(agent) == expected


def test_tools_and_robots_are_marked_automated() -> None:
    assert summarize("curl/8.5.0").automated
    assert summarize("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)").automated
    assert not summarize(AGENTS[0][0]).automated


def test_a_huge_or_strange_agent_never_comes_back_whole() -> None:
    assert len(summary_text("x" * 10_000)) <= 40
    assert summary_text("<script>alert(1)</script>") == ""
