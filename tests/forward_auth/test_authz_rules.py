"""Forward-auth access rules (domain.authz): parsing, matching, levels, freshness, return addresses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from twostep.domain.authz import (
    RuleError,
    Subject,
    Target,
    decide,
    normalize_path,
    parse_rules,
    return_url,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RULES = parse_rules(
    [
        {"hosts": ["app.example.com"], "paths": ["/public"], "level": "bypass"},
        {"hosts": ["app.example.com"], "paths": ["^/api/v[0-9]+/health$"], "methods": ["GET"], "level": "bypass"},
        {"hosts": ["admin.example.com"], "roles": ["admin"], "level": "two_factor"},
        {"hosts": ["admin.example.com"], "level": "deny"},
        {"hosts": ["fresh.example.com"], "level": "two_factor", "two_factor_within": "15m"},
        {"hosts": ["strict.example.com"], "level": "two_factor", "allow_remembered_device": False},
        {"hosts": ["*.example.com"], "methods": ["POST"], "level": "two_factor"},
        {"hosts": ["*.example.com"], "level": "one_factor"},
    ]
)


def subject(*, roles: tuple[str, ...] = (), second_step_ago: int | None = 60, remembered: bool = False) -> Subject:
    return Subject(
        user="ada@example.com",
        roles=frozenset(roles),
        password_at=NOW - timedelta(minutes=1),
        second_step_at=NOW - timedelta(seconds=second_step_ago) if second_step_ago is not None else None,
        via_remembered_device=remembered,
    )


def verdict(host: str, path: str = "/", who: Subject | None = None, method: str = "GET") -> str:
    return decide(RULES, Target(method, host, path), who, NOW).verdict


def test_first_matching_rule_wins_and_no_match_is_denied() -> None:
    assert verdict("app.example.com", "/public/x") == "allow"
    assert verdict("app.example.com", "/private") == "sign_in"
    assert verdict("app.example.com", "/private", subject()) == "allow"
    assert verdict("elsewhere.org", "/", subject()) == "forbidden"
    assert decide((), Target("GET", "app.example.com", "/"), subject(), NOW).verdict == "forbidden"


def test_path_prefix_matches_whole_segments_only() -> None:
    assert verdict("app.example.com", "/public") == "allow"
    assert verdict("app.example.com", "/publicity") == "sign_in"


def test_path_regex_and_method_conditions() -> None:
    assert verdict("app.example.com", "/api/v2/health") == "allow"
    assert verdict("app.example.com", "/api/v2/health", method="POST") == "sign_in"
    assert verdict("app.example.com", "/api/v2/healthz") == "sign_in"


def test_host_wildcard_matches_subdomains_not_the_domain_itself() -> None:
    assert verdict("x.y.example.com", "/", subject()) == "allow"
    assert verdict("example.com", "/", subject()) == "forbidden"
    assert verdict("badexample.com", "/", subject()) == "forbidden"


def test_role_rule_asks_anonymous_to_sign_in_and_skips_users_without_the_role() -> None:
    assert verdict("admin.example.com") == "sign_in"
    assert verdict("admin.example.com", who=subject(roles=("admin",))) == "allow"
    assert verdict("admin.example.com", who=subject(roles=("staff",))) == "forbidden"


def test_two_factor_needs_a_second_step_and_password_only_is_forbidden() -> None:
    assert verdict("x.example.com", method="POST", who=subject()) == "allow"
    assert verdict("x.example.com", method="POST", who=subject(second_step_ago=None)) == "forbidden"


def test_two_factor_within_asks_for_a_step_up_when_the_second_step_is_older() -> None:
    assert verdict("fresh.example.com", who=subject(second_step_ago=14 * 60)) == "allow"
    assert verdict("fresh.example.com", who=subject(second_step_ago=16 * 60)) == "step_up"
    remembered = subject(second_step_ago=None, remembered=True)
    assert verdict("fresh.example.com", who=remembered) == "step_up"


def test_remembered_device_counts_unless_the_rule_refuses_it() -> None:
    remembered = subject(second_step_ago=None, remembered=True)
    assert verdict("x.example.com", method="POST", who=remembered) == "allow"
    assert verdict("strict.example.com", who=remembered) == "step_up"
    assert verdict("strict.example.com", who=subject()) == "allow"


def test_dot_segments_and_encoded_slashes_cannot_ride_a_bypass_prefix() -> None:
    for raw in ("/public/../admin", "/public/%2e%2e/admin", "/public%2f..%2fadmin", "//public/./../admin"):
        path = normalize_path(raw)
        assert path == "/admin", raw
        assert verdict("app.example.com", path) == "sign_in"
    assert normalize_path("/a\\b") is None
    assert normalize_path("/a%00b") is None
    assert normalize_path("relative") is None
    assert normalize_path("/a/b/?q=1") == "/a/b/"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"level": "allow"}, "access_rules[1].level"),
        ({"level": "bypass", "roles": ["admin"]}, "bypass rule cannot name roles"),
        ({"level": "one_factor", "hosts": ["https://x.com"]}, "access_rules[1].hosts"),
        ({"level": "one_factor", "paths": ["admin"]}, "access_rules[1].paths"),
        ({"level": "one_factor", "paths": ["^(unclosed"]}, "not a valid regular expression"),
        ({"level": "one_factor", "methods": ["FETCH"]}, "access_rules[1].methods"),
        ({"level": "one_factor", "two_factor_within": "15m"}, "only for level"),
        ({"level": "two_factor", "two_factor_within": "soon"}, "not a duration"),
        ({"level": "two_factor", "allow_remembered_device": "no"}, "true or false"),
        ({"level": "deny", "host": ["x.com"]}, "unknown key 'host'"),
    ],
)
def test_invalid_rules_are_refused_naming_the_rule_and_key(rule: dict[str, object], message: str) -> None:
    with pytest.raises(RuleError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        parse_rules([rule])


def test_return_address_must_be_a_protected_host() -> None:
    def check(url: str, domain: str = "") -> str | None:
        return return_url(url, RULES, cookie_domain=domain, base_url="https://auth.example.org")

    assert check("https://app.example.com/x?y=1") == "https://app.example.com/x?y=1"
    assert check("https://auth.example.org/account") is not None
    assert check("https://evil.example/") is None
    assert check("https://evil.example/", domain="example.org") is None
    assert check("https://wiki.example.org/", domain="example.org") is not None
    assert check("http://app.example.com/") is None  # twostep on https: back to https only
    assert check("https://app.example.com@evil.example/") is None
    assert check("//evil.example/") is None
    assert check("javascript:alert(1)") is None
    assert check("https://app.example.com\\@evil.example/") is None
