"""Forward-auth access rules: which sign-in a request to a protected application needs.

Rules come from the configuration file (``[[access_rules]]``) and are checked in order; the first
rule whose every given condition matches decides, and a request no rule matches is denied (default
policy ``deny``). Conditions, each optional (an absent condition matches everything):

    hosts    exact names or ``*.example.com`` (any subdomain, not example.com itself); no port
    paths    a prefix (``/api`` matches ``/api`` and ``/api/…``, never ``/apix``) or, starting with
             ``^``, a regular expression searched in the path
    methods  HTTP methods (``GET``, ``POST`` …)
    roles    the signed-in user holds at least one of them

Levels: ``bypass`` (no sign-in), ``one_factor`` (a signed-in session), ``two_factor`` (a session
whose second step was passed, or skipped on a remembered device when ``allow_remembered_device``),
``deny``. ``two_factor_within = "15m"`` asks for the second step again when it is older (step-up).

Threats (issue 17): a rule is matched on the *normalised* path — percent-decoded, dot segments
removed, repeated slashes merged — so ``/public/../admin`` or ``/public%2f..%2fadmin`` cannot ride a
``bypass`` prefix to a path the upstream will serve as ``/admin``. A rule with ``roles`` cannot be
decided for an anonymous request: it asks for a sign-in first (fail closed), never skips the rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal, NewType
from urllib.parse import unquote

from twostep.domain.text_input import is_clean


class Level(StrEnum):
    BYPASS = "bypass"
    ONE_FACTOR = "one_factor"
    TWO_FACTOR = "two_factor"
    DENY = "deny"


class RuleError(ValueError):
    """A rule in the configuration that cannot be used; the message names the rule and the key."""


RULE_KEYS = frozenset({"hosts", "paths", "methods", "roles", "level", "two_factor_within", "allow_remembered_device"})
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})
_HOST = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rule:
    index: int
    level: Level
    hosts: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    methods: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    two_factor_within: timedelta | None = None
    allow_remembered_device: bool = True

    def describe(self) -> str:
        return self.description

    @cached_property
    def description(self) -> str:
        """``rule 2 hosts=admin.example.com roles=admin level=two_factor …`` (made once per rule)."""
        parts = [f"rule {self.index + 1}"]
        for name, values in (("hosts", self.hosts), ("paths", self.paths), ("methods", sorted(self.methods)),
                             ("roles", sorted(self.roles))):
            if values:
                parts.append(f"{name}={','.join(values)}")
        parts.append(f"level={self.level.value}")
        if self.two_factor_within is not None:
            parts.append(f"two_factor_within={int(self.two_factor_within.total_seconds())}s")
        if not self.allow_remembered_device:
            parts.append("allow_remembered_device=false")
        return " ".join(parts)


@dataclass(frozen=True)
class Target:
    """What the proxy asks about: the original request's method, host (lower case, no port) and path."""

    method: str
    host: str
    path: str


@dataclass(frozen=True)
class Subject:
    """A signed-in session, as forward-auth sees it."""

    user: str
    roles: frozenset[str]
    password_at: datetime | None
    second_step_at: datetime | None
    via_remembered_device: bool


Verdict = Literal["allow", "sign_in", "step_up", "forbidden"]


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    rule: Rule | None
    reason: str


# --- parsing the configuration -----------------------------------------------------------------


def parse_duration(value: object, where: str) -> timedelta:
    """``"90s"``, ``"15m"``, ``"12h"``, ``"1d"`` or a number of seconds."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match and int(match.group(1)) > 0:
            return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    raise RuleError(f"{where}: {value!r} is not a duration such as \"90s\", \"15m\", \"12h\" or \"1d\"")


def _strings(raw: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise RuleError(f"{where}.{key}: give a list of non-empty strings")
    return tuple(item.strip() for item in value)


def parse_rule(raw: object, index: int) -> Rule:
    where = f"access_rules[{index + 1}]"
    if not isinstance(raw, Mapping):
        raise RuleError(f"{where}: each rule is a table ([[access_rules]])")
    unknown = sorted(set(raw) - RULE_KEYS)
    if unknown:
        raise RuleError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(RULE_KEYS))})")
    level_raw = raw.get("level")
    if level_raw not in {level.value for level in Level}:
        raise RuleError(f"{where}.level: {level_raw!r} is not one of bypass, one_factor, two_factor, deny")
    level = Level(level_raw)
    hosts = tuple(host.lower() for host in _strings(raw, "hosts", where))
    for host in hosts:
        if not _HOST.match(host):
            raise RuleError(f"{where}.hosts: {host!r} is not a host name or *.domain pattern (no scheme, no port)")
    paths = _strings(raw, "paths", where)
    for path in paths:
        if path.startswith("^"):
            try:
                re.compile(path)
            except re.error as error:
                raise RuleError(f"{where}.paths: {path!r} is not a valid regular expression ({error})") from None
        elif not path.startswith("/") or not is_clean(path):
            raise RuleError(f"{where}.paths: {path!r} must start with / (a prefix) or ^ (a regular expression)")
    methods = frozenset(method.upper() for method in _strings(raw, "methods", where))
    if methods - METHODS:
        raise RuleError(f"{where}.methods: {sorted(methods - METHODS)[0]!r} is not an HTTP method")
    roles = frozenset(_strings(raw, "roles", where))
    within = None
    if raw.get("two_factor_within") is not None:
        if level is not Level.TWO_FACTOR:
            raise RuleError(f"{where}.two_factor_within: only for level = \"two_factor\"")
        within = parse_duration(raw["two_factor_within"], f"{where}.two_factor_within")
    remembered = raw.get("allow_remembered_device", True)
    if not isinstance(remembered, bool):
        raise RuleError(f"{where}.allow_remembered_device: true or false")
    if level is Level.BYPASS and roles:
        raise RuleError(f"{where}: a bypass rule cannot name roles (bypass means no sign-in)")
    return Rule(index, level, hosts, paths, methods, roles, within, remembered)


def parse_rules(raw: object) -> tuple[Rule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list | tuple):
        raise RuleError("access_rules: give a list of tables ([[access_rules]])")
    return tuple(parse_rule(item, index) for index, item in enumerate(raw))


# --- matching ----------------------------------------------------------------------------------


def normalize_path(raw: str) -> str | None:
    """The path a server will serve: percent-decoded, dot segments removed (RFC 3986 §5.2.4),
    repeated slashes merged. None for a path that is not one (no leading slash, control characters,
    a backslash, undecodable bytes)."""
    path = raw.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):
        return None
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        return None
    if "\\" in decoded or not is_clean(decoded):
        return None
    out: list[str] = []
    for segment in decoded.split("/")[1:]:
        if segment in ("", "."):
            continue
        if segment == "..":
            if out:
                out.pop()
            continue
        out.append(segment)
    trailing = decoded.endswith(("/", "/.", "/..")) and out
    return "/" + "/".join(out) + ("/" if trailing else "")


def host_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


def path_matches(pattern: str, path: str) -> bool:
    if pattern.startswith("^"):
        return re.search(pattern, path) is not None
    prefix = pattern.rstrip("/")
    return path == prefix or path.startswith(prefix + "/") or prefix == ""


def _matches_request(rule: Rule, target: Target) -> bool:
    return (
        (not rule.hosts or any(host_matches(pattern, target.host) for pattern in rule.hosts))
        and (not rule.paths or any(path_matches(pattern, target.path) for pattern in rule.paths))
        and (not rule.methods or target.method in rule.methods)
    )


def decide(rules: Sequence[Rule], target: Target, subject: Subject | None, now: datetime) -> Decision:
    """First match wins; no match: deny. ``target.path`` must be normalised (``normalize_path``)."""
    return decide_among(matching(rules, target), subject, now)


def matching(rules: Sequence[Rule], target: Target) -> tuple[Rule, ...]:
    """The rules whose hosts, paths and methods match ``target``, in order: all ``decide`` needs of
    the target, so a hot path may keep it per target."""
    return tuple(rule for rule in rules if _matches_request(rule, target))


def decide_among(candidates: Sequence[Rule], subject: Subject | None, now: datetime) -> Decision:
    """``decide`` for the rules ``matching`` gave. Without a subject the answer never depends on
    ``now`` (freshness is a signed-in session's)."""
    for rule in candidates:
        if rule.roles:
            if subject is None:
                return Decision("sign_in", rule, f"{rule.description} needs a signed-in user with a role")
            if not rule.roles & subject.roles:
                continue
        return _apply(rule, subject, now)
    return Decision("forbidden", None, "no rule matches: default policy deny")


def _apply(rule: Rule, subject: Subject | None, now: datetime) -> Decision:
    described = rule.description
    if rule.level is Level.BYPASS:
        return Decision("allow", rule, f"{described}: no sign-in needed")
    if rule.level is Level.DENY:
        return Decision("forbidden", rule, f"{described}: denied")
    if subject is None:
        return Decision("sign_in", rule, f"{described}: not signed in")
    if rule.level is Level.ONE_FACTOR:
        return Decision("allow", rule, f"{described}: signed in")
    if subject.via_remembered_device and subject.second_step_at is None:
        if not rule.allow_remembered_device:
            return Decision("step_up", rule, f"{described}: a remembered device is not enough here")
        if rule.two_factor_within is not None:
            return Decision("step_up", rule, f"{described}: no second step in this session (remembered device)")
        return Decision("allow", rule, f"{described}: second step skipped on a remembered device")
    if subject.second_step_at is None:
        # Signed in with a password only: the account had no second-step method at sign-in.
        return Decision("forbidden", rule, f"{described}: the account has no second step")
    if rule.two_factor_within is not None and now - subject.second_step_at > rule.two_factor_within:
        return Decision("step_up", rule, f"{described}: the second step is older than the window")
    return Decision("allow", rule, f"{described}: second step passed")


def allowed_until(decision: Decision, subject: Subject | None) -> datetime | None:
    """The moment an ``allow`` may stop holding with nothing but time passing (the step-up window of
    ``two_factor_within``; ``_apply`` reads the clock nowhere else), or None when only a change to
    the session, the account or the rules can end it: how long a proxy may keep the answer."""
    rule = decision.rule
    if decision.verdict != "allow" or rule is None or rule.two_factor_within is None:
        return None
    if subject is None or subject.second_step_at is None:
        return None
    return subject.second_step_at + rule.two_factor_within


def protected_hosts(rules: Iterable[Rule]) -> tuple[str, ...]:
    """The host patterns the rules name: where a sign-in may send the browser back to (``rd``)."""
    seen: dict[str, None] = {}
    for rule in rules:
        for host in rule.hosts:
            seen.setdefault(host, None)
    return tuple(seen)


def within_domain(host: str, domain: str) -> bool:
    """``host`` is ``domain`` or one of its subdomains (a cookie domain's reach)."""
    domain = domain.lower().lstrip(".")
    return bool(domain) and (host == domain or host.endswith("." + domain))


MAX_URL = 4000
#: An address ``return_url`` accepted: the only kind of off-site URL a page may redirect to.
ReturnUrl = NewType("ReturnUrl", str)
_NETLOC_HOST = re.compile(r"^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$")


def split_host(netloc: str) -> tuple[str, str] | None:
    """``host[:port]`` → (host, port) in lower case; None when it is not a plain host and port
    (userinfo, spaces, anything a URL parser could read two ways)."""
    value = netloc.strip().lower()
    if not value or len(value) > 300 or not _NETLOC_HOST.match(value):
        return None
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, rest.removeprefix(":")
    host, _, port = value.partition(":")
    if not host or host.startswith(".") or host.endswith(".") or ".." in host:
        return None
    return host, port


def return_url(raw: str, rules: Sequence[Rule], *, cookie_domain: str, base_url: str) -> ReturnUrl | None:
    """``rd`` when the sign-in may send the browser back there: an http(s) URL (https only when
    twostep itself is served over https) whose host is twostep's own, inside the cookie domain, or
    named by an access rule's ``hosts``. Anything else (another site: an open redirect) is None."""
    from urllib.parse import urlsplit

    if not raw or len(raw) > MAX_URL or not is_clean(raw) or "\\" in raw:
        return None
    try:
        parts = urlsplit(raw)
    except ValueError:
        return None
    allowed_schemes = ("https",) if base_url.startswith("https://") else ("http", "https")
    if parts.scheme not in allowed_schemes or "@" in parts.netloc:
        return None
    found = split_host(parts.netloc)
    if found is None:
        return None
    host = found[0]
    own = split_host(urlsplit(base_url).netloc)
    if own is not None and host == own[0]:
        return ReturnUrl(raw)
    if cookie_domain and within_domain(host, cookie_domain):
        return ReturnUrl(raw)
    if any(host_matches(pattern, host) for pattern in protected_hosts(rules)):
        return ReturnUrl(raw)
    return None


def skip_reason(rule: Rule, target: Target, subject: Subject | None) -> str | None:
    """Why ``rule`` does not decide ``target`` (None: it does), for ``twostep authz check``."""
    if rule.hosts and not any(host_matches(pattern, target.host) for pattern in rule.hosts):
        return f"host {target.host} is not {' or '.join(rule.hosts)}"
    if rule.paths and not any(path_matches(pattern, target.path) for pattern in rule.paths):
        return f"path {target.path} matches none of {', '.join(rule.paths)}"
    if rule.methods and target.method not in rule.methods:
        return f"method {target.method} is not {' or '.join(sorted(rule.methods))}"
    if rule.roles and subject is not None and not rule.roles & subject.roles:
        return f"the user has none of the roles {', '.join(sorted(rule.roles))}"
    return None
