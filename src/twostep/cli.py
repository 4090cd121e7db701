"""The `twostep` command: serve, migrate, and manage users and API keys."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from twostep.settings import Settings, load_settings


def _context(settings: Settings):  # type: ignore[no-untyped-def]
    from twostep.app import build_context

    return build_context(settings)


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from twostep.storage.migrate import upgrade

    upgrade(settings.resolved_database_url)
    print("database is up to date", file=sys.stderr)
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from twostep.logs import configure_logging
    from twostep.services import accounts
    from twostep.storage.migrate import upgrade

    configure_logging(settings.log_format)
    if not args.no_migrate:
        upgrade(settings.resolved_database_url)
    link = accounts.issue_setup_link(_context(settings))
    if link:
        banner = "=" * 72
        print(
            f"{banner}\nNo administrator yet. Open this one-time link to create the first one:\n\n"
            f"    {link}\n\n(valid for 24 hours; a new link is printed at each start until then)\n{banner}",
            flush=True,
        )
    uvicorn.run(
        "twostep.asgi:create",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers,
        proxy_headers=False,
        access_log=False,
        log_level="warning",
    )
    return 0


def cmd_user_create(settings: Settings, args: argparse.Namespace) -> int:
    from twostep.services import accounts

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    if args.password_stdin and not password:
        print("error: no password on standard input", file=sys.stderr)
        return 2
    try:
        user_id = accounts.create_user(
            _context(settings), args.email, password, admin=args.admin, roles=args.role or []
        )
    except accounts.AccountError as error:
        print(f"error: {_explain(error.code, settings)}", file=sys.stderr)
        return 1
    print(f"created user {user_id} <{args.email.strip().lower()}>")
    return 0


def _explain(code: str, settings: Settings) -> str:
    from twostep.web.messages import MESSAGES

    text = MESSAGES.get(code, code)
    try:
        return text % {"min": settings.password_min_length, "max": 128, "support": settings.support_email}
    except (KeyError, ValueError):
        return text


def cmd_user_list(settings: Settings, args: argparse.Namespace) -> int:
    from twostep.services import accounts

    users = accounts.list_users(_context(settings))
    if args.json:
        for user in users:
            print(
                json.dumps({"id": user.id, "email": user.email, "roles": user.roles, "methods": user.methods})
            )
        return 0
    if not users:
        print("no users")
    for user in users:
        print(
            f"{user.id:>6}  {user.email:<40} roles={','.join(user.roles) or '-'}  "
            f"methods={','.join(user.methods) or '-'}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="twostep", description="Self-hosted two-step verification.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server (migrates first)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--no-migrate", action="store_true")
    serve.set_defaults(handler=cmd_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(handler=cmd_migrate)

    user = commands.add_parser("user", help="manage accounts").add_subparsers(
        dest="user_command", required=True
    )
    create = user.add_parser("create", help="create an account (password read from stdin)")
    create.add_argument("email")
    create.add_argument("--password-stdin", action="store_true")
    create.add_argument("--admin", action="store_true")
    create.add_argument("--role", action="append")
    create.set_defaults(handler=cmd_user_create)
    listing = user.add_parser("list", help="list accounts")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_user_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except Exception as error:
        print(f"error: configuration: {error}", file=sys.stderr)
        return 2
    if args.command != "migrate" and args.command != "serve":
        from twostep.storage.migrate import upgrade

        upgrade(settings.resolved_database_url)
    code: int = args.handler(settings, args)
    return code


if __name__ == "__main__":
    sys.exit(main())
