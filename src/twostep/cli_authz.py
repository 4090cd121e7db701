"""``twostep authz check --url URL [--method M] [--user EMAIL]``: which forward-auth rule decides a
request, and why (each rule before it says why it was passed over)."""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import urlsplit

from twostep.settings import Settings


def add_commands(commands: Any) -> None:
    authz = commands.add_parser("authz", help="forward-auth access rules").add_subparsers(
        dest="authz_command", required=True
    )
    check = authz.add_parser("check", help="which access rule matches a request, and why")
    check.add_argument("--url", required=True, help="the protected address, e.g. https://app.example.com/admin")
    check.add_argument("--method", default="GET", help="the request method (default: GET)")
    check.add_argument("--user", help="as this account, freshly signed in with a second step (default: anonymous)")
    check.set_defaults(handler=cmd_authz_check)


def cmd_authz_check(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from twostep.domain import authz

    rules = authz.parse_rules(list(settings.access_rules))
    parts = urlsplit(args.url)
    found = authz.split_host(parts.netloc) if parts.scheme in ("http", "https") else None
    path = authz.normalize_path((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    if found is None or path is None:
        print(f"error: --url {args.url!r} is not an http(s) URL with a host and a path", file=sys.stderr)
        return 2
    method = args.method.upper()
    if method not in authz.METHODS:
        print(f"error: --method {args.method!r} is not an HTTP method", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    subject = None
    if args.user:
        from twostep.cli import _context
        from twostep.services.admin import roles

        ctx = _context(settings)
        held = roles.roles_of_email(ctx, args.user)
        ctx.db.dispose()
        if held is None:
            print(f"error: no account has the email address {args.user}", file=sys.stderr)
            return 2
        subject = authz.Subject(args.user, frozenset(held), now, now, via_remembered_device=False)
    target = authz.Target(method, found[0], path)
    who = f"{args.user} (roles: {', '.join(sorted(subject.roles)) or 'none'})" if subject else "anonymous"
    print(f"request: {method} {found[0]} {path} as {who}")
    if not rules:
        print("no access rules are configured ([[access_rules]] in the configuration file)")
    for rule in rules:
        reason = authz.skip_reason(rule, target, subject)
        if reason is not None:
            print(f"  {rule.describe()}: skipped, {reason}")
            continue
        break
    decision = authz.decide(rules, target, subject, now)
    answer = {"allow": "200 allowed", "forbidden": "403 forbidden", "sign_in": "302 to the sign-in page",
              "step_up": "302 to the sign-in page (step-up)"}[decision.verdict]
    print(f"decision: {answer} — {decision.reason}")
    return 0
