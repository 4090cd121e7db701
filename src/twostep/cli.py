"""The `twostep` command: serve, migrate, and manage users and API keys."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from twostep.settings import Settings, load_settings, startup_warnings  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from twostep.services.core.context import RequestInfo


def _context(settings: Settings):  # type: ignore[no-untyped-def]
    from twostep.services.rollout import policy
    from twostep.services.wiring import build_context

    ctx = build_context(settings)
    policy.apply(ctx)  # password rules an administrator saved at /admin/policy
    _check_secret_key(ctx)
    return ctx


def _check_secret_key(ctx: Any) -> None:
    """Refuse a secret key that does not open the stored secrets (services.secret_keys)."""
    from twostep.services.operations import secret_keys

    secret_keys.check(ctx)


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from twostep.storage.migrate import database_state, upgrade

    if database_state(settings.resolved_database_url) != "ready":
        print(f"created a new database: {_where(settings.resolved_database_url)}", file=sys.stderr)
    upgrade(settings.resolved_database_url)
    print(f"database is up to date: {_where(settings.resolved_database_url)}", file=sys.stderr)
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from twostep.logs import configure_logging, uvicorn_log_config
    from twostep.services.core import accounts
    from twostep.storage.migrate import upgrade

    configure_logging(settings.log_format)
    host, port = args.host or settings.host, args.port or settings.port
    settings = _served_base_url(settings, host, port)
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
    from twostep.storage import backup as backups

    # Held while serving (shared): `twostep restore` refuses to overwrite the database meanwhile.
    serving = backups.serving(settings.resolved_database_url)
    serving.__enter__()
    print(f"twostep is listening on http://{_display_host(host)}:{port}  (Ctrl+C stops it)", flush=True)
    config: dict[str, Any] = dict(
        app="twostep.asgi:create",
        factory=True,
        host=host,
        port=port,
        proxy_headers=False,
        access_log=False,
        log_level="warning",
        log_config=uvicorn_log_config(settings.log_format),
    )
    if args.workers > 1:
        from twostep.workers import Supervisor

        _prepare_multiprocess_metrics()
        Supervisor(config, host, port, args.workers).run()
        return 0
    uvicorn.run(**config)
    return 0


def _display_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - naming the wildcard, not binding to it
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _served_base_url(settings: Settings, host: str, port: int) -> Settings:
    """Without TWOSTEP_BASE_URL the external address is the one actually served (setup link, mails,
    PDF); the worker processes read it from the environment. A configured one that names a loopback
    address on another port than the one served is almost certainly a mistake: say so."""
    import os
    from urllib.parse import urlsplit

    if "base_url" not in settings.model_fields_set:
        served = f"http://{_display_host(host)}:{port}"
        os.environ["TWOSTEP_BASE_URL"] = served
        return settings.model_copy(update={"base_url": served})
    configured = urlsplit(settings.base_url)
    configured_port = configured.port or (443 if configured.scheme == "https" else 80)
    if configured.hostname in ("127.0.0.1", "localhost", "::1") and configured_port != port:
        logging.getLogger("twostep").warning(
            "TWOSTEP_BASE_URL is %s but twostep serves port %s: links in the setup link, mails and the PDF "
            "will point to the wrong address", settings.base_url, port
        )
    return settings


def _prepare_multiprocess_metrics() -> None:
    """Worker processes share /metrics through files in PROMETHEUS_MULTIPROC_DIR, emptied at each start."""
    import os
    import tempfile
    from pathlib import Path

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="twostep-metrics-")
    Path(directory).mkdir(parents=True, exist_ok=True)
    for stale in Path(directory).glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory


def cmd_user_create(settings: Settings, args: argparse.Namespace) -> int:
    from twostep.services.core import accounts

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    if args.password_stdin and not password:
        print("error: no password on standard input", file=sys.stderr)
        return 2
    try:
        from twostep.services.admin import roles

        user_id = accounts.create_user(
            _context(settings),
            args.email,
            password,
            admin=args.admin,
            roles=roles.parse(args.role or []),
            request=_cli_request(),
        )
    except roles.RoleError as error:
        print(f"error: --role: not a role name: {error.names} (use a-z, 0-9, '.', '_', '-')", file=sys.stderr)
        return 2
    except accounts.AccountError as error:
        print(f"error: {_explain(error.code, settings)}", file=sys.stderr)
        return 1
    print(f"created user {user_id} <{args.email.strip().lower()}>")
    return 0


def _explain(code: str, settings: Settings) -> str:
    from twostep.web.core.messages import MESSAGES

    text = MESSAGES.get(code, code)
    try:
        return text % {"min": settings.password_min_length, "max": 128, "support": settings.support_email}
    except (KeyError, ValueError):
        return text


def cmd_user_list(settings: Settings, args: argparse.Namespace) -> int:
    from twostep.services.core import accounts

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


def cmd_apikey_create(settings: Settings, args: argparse.Namespace) -> int:
    from twostep.services.api import apikeys

    try:
        created = apikeys.create(_context(settings), args.name)
    except apikeys.ApiKeyError as error:
        print(f"error: {_explain(error.code, settings)}", file=sys.stderr)
        return 1
    print(
        f"created API key {created.info.id} ({created.info.name}); copy it now, it is not shown again:",
        file=sys.stderr,
    )
    print(created.key)
    return 0


def cmd_apikey_list(settings: Settings, args: argparse.Namespace) -> int:
    from twostep.services.api import apikeys

    keys = apikeys.list_keys(_context(settings))
    if args.json:
        for key in keys:
            print(
                json.dumps(
                    {
                        "id": key.id,
                        "name": key.name,
                        "prefix": key.prefix,
                        "created_at": key.created_at.isoformat(),
                        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
                        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
                    }
                )
            )
        return 0
    if not keys:
        print("no API keys")
    for key in keys:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        print(f"{key.id:>4}  ts_{key.prefix}_…  {key.name:<30} {state:<24} last used {used}")
    return 0


def cmd_apikey_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from twostep.services.api import apikeys

    try:
        info = apikeys.revoke(_context(settings), args.key)
    except apikeys.ApiKeyError:
        print(f"error: no API key with id or prefix {args.key!r}", file=sys.stderr)
        return 1
    print(f"revoked API key {info.id} (ts_{info.prefix}_…, {info.name})")
    return 0


def _cli_request() -> RequestInfo:
    """Who acts from the command line, for the audit log: the operating-system user."""
    import getpass
    import uuid

    from twostep.services.core.context import RequestInfo

    try:
        who = getpass.getuser()
    except Exception:
        who = "unknown"
    return RequestInfo(ip="", user_agent=f"twostep-cli ({who})", request_id=uuid.uuid4().hex)


def _admin_error(code: str) -> str:
    from twostep.web.admin.admin import MESSAGES

    return MESSAGES.get(code, code)


def _user_action(settings: Settings, args: argparse.Namespace) -> int:
    """reset-2fa, delete, unlock, sign-out, grant-admin, revoke-admin: one user, by email."""
    from twostep.services.admin import admin

    ctx = _context(settings)
    user_id = admin.find_user_id(ctx, args.email)
    if user_id is None:
        print(f"error: no user with the email address {args.email!r}", file=sys.stderr)
        return 1
    request = _cli_request()
    action = args.user_command
    try:
        if action == "reset-2fa":
            email = admin.reset_2fa(ctx, admin.CLI, user_id, args.reason, request)
            print(f"reset two-step verification for {email}; a new method is set up at the next sign-in")
        elif action == "delete":
            confirm = args.email
            if not args.yes:
                # Interactive: type the address. Scripted (no terminal): a piped line must match;
                # no input at all keeps DESIGN.md's plain `twostep user delete EMAIL` working.
                if sys.stdin.isatty():
                    print(f"Type the email address to delete {args.email}: ", end="", file=sys.stderr, flush=True)
                typed = sys.stdin.readline().strip() if sys.stdin and not sys.stdin.closed else ""
                confirm = typed or (args.email if not sys.stdin.isatty() else "")
            email = admin.delete_user(ctx, admin.CLI, user_id, confirm, request)
            print(f"deleted {email}")
        elif action == "unlock":
            admin.unlock(ctx, admin.CLI, user_id, request)
            print(f"unlocked {args.email}")
        elif action == "sign-out":
            ended = admin.sign_out_everywhere(ctx, admin.CLI, user_id, request)
            print(f"ended {ended} session(s) of {args.email} and forgot their remembered devices")
        else:
            grant = action == "grant-admin"
            changed = admin.set_admin(ctx, admin.CLI, user_id, grant, request)
            state = "is now an administrator" if grant else "is no longer an administrator"
            print(f"{args.email} {state}" if changed else f"{args.email}: nothing changed")
    except admin.AdminError as error:
        print(f"error: {_admin_error(error.code)}", file=sys.stderr)
        return 1
    return 0


def cmd_audit_export(settings: Settings, args: argparse.Namespace) -> int:
    import os
    import tempfile
    from datetime import date
    from pathlib import Path

    from twostep.services.admin import admin

    dates: dict[str, date | None] = {"since": None, "until": None}
    for name in dates:
        raw = getattr(args, name)
        if raw:
            try:
                dates[name] = date.fromisoformat(raw)
            except ValueError:
                print(f"error: --{name} must be a date like 2026-03-01, not {raw!r}", file=sys.stderr)
                return 2
    filters = admin.AuditFilter(
        event=args.event or "",
        user=args.user or "",
        outcome=args.outcome or "",
        since=dates["since"],
        until=dates["until"],
    )
    to_file = bool(args.output) and args.output != "-"
    if to_file and not Path(args.output).parent.is_dir():
        print(f"error: --output {args.output}: no such directory; nothing was written", file=sys.stderr)
        return 1
    ctx = _context(settings)
    fmt: admin.ExportFormat = "csv" if args.format == "csv" else "jsonl"
    admin.record_export(ctx, admin.CLI, fmt, filters, _cli_request())
    lines = admin.export_events(ctx, filters, fmt)
    if not to_file:
        for line in lines:
            sys.stdout.write(line)
        return 0
    target = Path(args.output)
    # Written next to the target and renamed at the end, so a failed export leaves no half file.
    temporary = ""
    try:
        fd, temporary = tempfile.mkstemp(dir=target.parent if str(target.parent) else ".", prefix=".audit-")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            for line in lines:
                handle.write(line)
        os.replace(temporary, target)
    except OSError as error:
        print(f"error: --output {target}: {_os_problem(error)}; nothing was written", file=sys.stderr)
        return 1
    finally:
        if temporary and Path(temporary).exists():
            Path(temporary).unlink()
    print(f"wrote {target}", file=sys.stderr)
    return 0


def _os_problem(error: OSError) -> str:
    """An OSError in words, without the traceback: "no such directory", "permission denied"…"""
    if error.errno == errno.ENOENT:
        return "no such file or directory"
    if error.errno == errno.EISDIR:
        return "is a directory"
    return (error.strerror or str(error)).lower()


def cmd_user_import(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0: every row imported; 1: some rows refused (the others are in); 2: nothing written."""
    from pathlib import Path

    from twostep.services.admin import importer

    if args.batch_size < 1:
        print("error: --batch-size must be at least 1", file=sys.stderr)
        return 2
    progress = None if args.quiet else importer.TextProgress(sys.stderr)
    try:
        report = importer.import_users(
            _context(settings),
            Path(args.file),
            dry_run=args.dry_run,
            batch_size=args.batch_size,
            progress=progress,
            request=_cli_request(),
        )
    except importer.ImportFileError as error:
        print(f"error: {args.file}: {error}; nothing was imported", file=sys.stderr)
        return 2
    print(importer.report_json(report) if args.json else report.as_text())
    return 1 if report.refused else 0


def cmd_user_set_roles(settings: Settings, args: argparse.Namespace) -> int:
    from twostep.services.admin import roles
    from twostep.services.core import accounts

    try:
        before, after = roles.set_roles(_context(settings), args.email, args.role or [], request=_cli_request())
    except roles.RoleError as error:
        reason = {
            "role_invalid": f"not a role name: {error.names} (use a-z, 0-9, '.', '_', '-')",
            "last_admin": "this is the last administrator; make someone else an administrator first",
        }.get(error.code, error.code)
        print(f"error: {reason}", file=sys.stderr)
        return 1
    except accounts.AccountError:
        print(f"error: no account with the email address {args.email}", file=sys.stderr)
        return 1
    print(f"{args.email.strip().lower()}: roles {', '.join(before) or '-'} -> {', '.join(after) or '-'}")
    return 0


# --- keys, backups, housekeeping (docs/operations.md (the secret key)) -----------------------------------------


def _write_private(path: Any, text: str) -> None:
    """Write a key file 0600, atomically (a new file renamed over the old one)."""
    import os

    temporary = path.with_name(f".{path.name}.new")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def cmd_rotate_secret_key(settings: Settings, args: argparse.Namespace) -> int:
    import secrets as random_tokens

    from pydantic import SecretStr

    from twostep.services.operations import secret_keys

    current = settings.secret_key.get_secret_value() if settings.secret_key else ""
    key_file = settings.secret_key_file
    from_file = key_file.exists() and key_file.read_text().strip() == current
    if not args.reseal_only:
        if not from_file:
            print(
                "error: the secret key comes from TWOSTEP_SECRET_KEY (or the configuration file), which twostep "
                "can't rewrite: put a new key there, add the old one in front of TWOSTEP_PREVIOUS_SECRET_KEYS, "
                "restart every server, then run `twostep rotate-secret-key --reseal-only`",
                file=sys.stderr,
            )
            return 2
        _context(settings)  # the self-test: never rotate away from a key that doesn't open the data
        previous = [current] + [key.decode() for key in settings.previous_secret_keys_bytes if key.decode() != current]
        new_key = random_tokens.token_urlsafe(48)
        # The old key is kept first, then the new one takes its place: a crash in between loses nothing.
        _write_private(settings.previous_keys_file, "\n".join(previous) + "\n")
        _write_private(key_file, new_key)
        settings = settings.model_copy(
            update={"secret_key": SecretStr(new_key), "previous_secret_keys": SecretStr(",".join(previous))}
        )
        print(f"new secret key in {key_file}; the previous one is kept in {settings.previous_keys_file}",
              file=sys.stderr)
    if args.no_reseal:
        print("restart every server now, then run `twostep rotate-secret-key --reseal-only`", file=sys.stderr)
        return 0
    report = secret_keys.reseal(_context(settings))
    print(
        f"re-sealed {report.resealed} secret(s) with the current key ({report.already_current} already were); "
        "restart every server now so that it uses the new key",
        file=sys.stderr,
    )
    return 0


def cmd_purge(settings: Settings, args: argparse.Namespace) -> int:
    from twostep.services.operations import purge

    removed = purge.purge(_context(settings), batch_size=args.batch_size)
    print(json.dumps(removed) if args.json else ", ".join(f"{name}: {count}" for name, count in removed.items()))
    return 0


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from twostep.storage import backup as backups

    try:
        backups.backup(settings.resolved_database_url, Path(args.file))
    except backups.BackupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.file}. Keep the secret key with it ({settings.secret_key_file} and "
        f"{settings.previous_keys_file}, or TWOSTEP_SECRET_KEY): without it the backup's "
        "authenticator secrets and API keys are useless. Store them apart from each other, both safely.",
        file=sys.stderr,
    )
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from twostep.services.operations import secret_keys
    from twostep.services.wiring import build_context
    from twostep.storage import backup as backups
    from twostep.storage.database import Database
    from twostep.storage.migrate import upgrade

    url = settings.resolved_database_url
    source = Path(args.file)
    try:
        if backups.sqlite_path(url) is None:
            raise backups.BackupError("twostep restore restores SQLite databases only; for PostgreSQL use pg_restore")
        revision = backups.validate(source)
        with backups.server_stopped(url, force=args.force):
            database = backups.sqlite_path(url)
            assert database is not None
            staged = database.with_name(f".{database.name}.restoring")
            backups.copy_database(source, staged)
            try:
                upgrade(f"sqlite:///{staged}")
                staged_db = Database(f"sqlite:///{staged}")
                try:
                    secret_keys.check(build_context(settings, database=staged_db), record=False)
                finally:
                    staged_db.dispose()
                backups.restore_file(staged, url)
            finally:
                for suffix in ("", "-wal", "-shm", ".writelock"):
                    Path(f"{staged}{suffix}").unlink(missing_ok=True)
    except backups.BackupError as error:
        print(f"error: {error}; nothing was changed", file=sys.stderr)
        return 2
    except secret_keys.SecretKeyMismatch as error:
        print(f"error: not restored: {error}", file=sys.stderr)
        return 2
    print(f"restored {source} (revision {revision}) into {database}", file=sys.stderr)
    return 0


def _add_key_and_backup_commands(commands: Any) -> None:
    rotate = commands.add_parser(
        "rotate-secret-key", help="new secret key; re-seal stored secrets (the old key is kept for old digests)"
    )
    rotate.add_argument("--reseal-only", action="store_true",
                        help="only re-seal with the current key (after changing TWOSTEP_SECRET_KEY yourself)")
    rotate.add_argument("--no-reseal", action="store_true",
                        help="only write the new key (restart the servers, then run again with --reseal-only)")
    rotate.set_defaults(handler=cmd_rotate_secret_key)
    purge = commands.add_parser("purge", help="delete expired sessions, codes, devices and counters now")
    purge.add_argument("--batch-size", type=int, default=500, help="rows deleted per transaction (default 500)")
    purge.add_argument("--json", action="store_true", help="print what was deleted as JSON")
    purge.set_defaults(handler=cmd_purge)
    backup = commands.add_parser("backup", help="copy the SQLite database to FILE, consistently, while serving")
    backup.add_argument("file", help="where to write the copy (a new file; mode 0600)")
    backup.set_defaults(handler=cmd_backup)
    restore = commands.add_parser("restore", help="replace the SQLite database with a backup (server stopped)")
    restore.add_argument("file", help="a file made by `twostep backup`")
    restore.add_argument("--force", action="store_true", help="even while a server runs (restart it right after)")
    restore.set_defaults(handler=cmd_restore)


# --- OpenID Connect clients and signing keys (issue 16) ---------------------------------------------


def _print_oidc_client(info: Any) -> None:
    print(f"client_id:        {info.client_id}")
    print(f"name:             {info.name}")
    print(f"type:             {'public (PKCE, no secret)' if info.public else 'confidential'}")
    both = "client_secret_basic or client_secret_post"
    print(f"auth method:      {'none (PKCE)' if info.public else info.auth_method or both}")
    print(f"scopes:           {' '.join(info.scopes)}")
    for uri in info.redirect_uris:
        print(f"redirect URI:     {uri}")
    for uri in info.post_logout_uris:
        print(f"post-logout URI:  {uri}")


def cmd_oidc_client_create(settings: Settings, args: argparse.Namespace) -> int:
    from twostep.services.oidc import clients

    try:
        created = clients.create(
            _context(settings),
            args.name,
            args.redirect_uri,
            post_logout_uris=args.post_logout_uri,
            public=args.public,
            scopes=args.scope,
            auth_method=args.auth_method or "",
            request=_cli_request(),
        )
    except clients.ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    _print_oidc_client(created.info)
    if created.secret is not None:
        print("client secret (copy it now, it is not shown again):", file=sys.stderr)
        print(f"client_secret:    {created.secret}")
    return 0


def cmd_oidc_client_list(settings: Settings, args: argparse.Namespace) -> int:
    from twostep.services.oidc import clients

    found = clients.list_clients(_context(settings))
    if args.json:
        for info in found:
            print(json.dumps(info.__dict__))
        return 0
    if not found:
        print("no OIDC clients")
    for info in found:
        kind = "public" if info.public else "confidential"
        print(f"{info.client_id}  {info.name:<30} {kind:<12} {' '.join(info.redirect_uris)}")
    return 0


def cmd_oidc_client_show(settings: Settings, args: argparse.Namespace) -> int:
    from twostep.services.oidc import clients

    try:
        _print_oidc_client(clients.show(_context(settings), args.client_id))
    except clients.ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def cmd_oidc_client_rotate_secret(settings: Settings, args: argparse.Namespace) -> int:
    from twostep.services.oidc import clients

    try:
        secret = clients.rotate_secret(_context(settings), args.client_id, request=_cli_request())
    except clients.ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("new client secret (the old one no longer works; copy it now, it is not shown again):", file=sys.stderr)
    print(secret)
    return 0


def cmd_oidc_client_delete(settings: Settings, args: argparse.Namespace) -> int:
    from twostep.services.oidc import clients

    try:
        clients.delete(_context(settings), args.client_id, request=_cli_request())
    except clients.ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"deleted OIDC client {args.client_id} and every token issued to it")
    return 0


def cmd_oidc_rotate_keys(settings: Settings, args: argparse.Namespace) -> int:
    from twostep.services.oidc import keys

    kid = keys.rotate(_context(settings), args.alg)
    print(f"new signing key {kid} ({args.alg}); the previous key stays in the JWKS until its ID tokens expire")
    return 0


def _add_oidc_commands(commands: Any) -> None:
    oidc = commands.add_parser("oidc", help="OpenID Connect clients and signing keys").add_subparsers(
        dest="oidc_command", required=True
    )
    client = oidc.add_parser("client", help="registered applications").add_subparsers(
        dest="client_command", required=True
    )
    create = client.add_parser("create", help="register an application; prints its id and (once) its secret")
    create.add_argument("name", help="the application's name, shown to administrators")
    create.add_argument("--redirect-uri", action="append", required=True, help="exact URI; repeat for more")
    create.add_argument("--post-logout-uri", action="append", default=[], help="exact URI; repeat for more")
    create.add_argument("--public", action="store_true", help="no secret; PKCE (S256) required")
    create.add_argument("--scope", action="append", default=[], help="allowed scopes (default: all)")
    create.add_argument("--auth-method", choices=["client_secret_basic", "client_secret_post"],
                        help="pin the token endpoint auth method (default: both accepted)")
    create.set_defaults(handler=cmd_oidc_client_create)
    listing = client.add_parser("list", help="list applications (never their secrets)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=cmd_oidc_client_list)
    for name, handler, text in (
        ("show", cmd_oidc_client_show, "show one application"),
        ("rotate-secret", cmd_oidc_client_rotate_secret, "new secret, printed once; the old one stops working"),
        ("delete", cmd_oidc_client_delete, "delete an application and its tokens"),
    ):
        action = client.add_parser(name, help=text)
        action.add_argument("client_id", help="the id printed by `oidc client create` or `list`")
        action.set_defaults(handler=handler)
    rotate = oidc.add_parser("rotate-keys", help="new ID-token signing key (the old one stays published a while)")
    rotate.add_argument(
        "--alg", choices=["RS256", "ES256"], default="RS256", help="signing algorithm (default RS256)")
    rotate.set_defaults(handler=cmd_oidc_rotate_keys)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twostep",
        description="Self-hosted two-step verification. Configuration: ./twostep.toml (or the file TWOSTEP_CONFIG "
        "names) and TWOSTEP_* environment variables, which win; the same for `serve` and every command.",
    )
    parser.add_argument(
        "--create-database",
        action="store_true",
        help="let a command other than serve/migrate create the database when there is none yet "
        "(without it, such a command refuses, so a wrong TWOSTEP_DATA_DIR can't go unnoticed)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server (migrates first)")
    serve.add_argument("--host", help="address to listen on (default TWOSTEP_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default TWOSTEP_PORT, 8000)")
    serve.add_argument("--workers", type=int, default=1,
                       help="worker processes, each with its own listening socket (default 1)")
    serve.add_argument("--no-migrate", action="store_true", help="don't apply database migrations first")
    serve.set_defaults(handler=cmd_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(handler=cmd_migrate)

    user = commands.add_parser("user", help="manage accounts").add_subparsers(
        dest="user_command", required=True
    )
    create = user.add_parser("create", help="create an account (password read from stdin)")
    create.add_argument("email", help="the sign-in address")
    create.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input (never from the command line)")
    create.add_argument("--admin", action="store_true", help="give the account the admin role")
    create.add_argument("--role", action="append", help="a role, e.g. sensitive-data; repeat for more")
    create.set_defaults(handler=cmd_user_create)
    listing = user.add_parser("list", help="list accounts")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=cmd_user_list)
    importing = user.add_parser("import", help="import accounts from CSV (header row) or JSON lines")
    importing.add_argument(
        "file", help="columns: email, name, roles, language, username, password_hash, totp_secret, totp_uri"
    )
    importing.add_argument("--dry-run", action="store_true", help="check everything, write nothing")
    importing.add_argument("--batch-size", type=int, default=1000, help="rows per transaction (default 1000)")
    importing.add_argument("--json", action="store_true", help="print the report as JSON")
    importing.add_argument("--quiet", action="store_true", help="no progress bar")
    importing.set_defaults(handler=cmd_user_import)
    set_roles = user.add_parser("set-roles", help="give an account exactly these roles (none: no --role)")
    set_roles.add_argument("email", help="the account's sign-in address")
    set_roles.add_argument("--role", action="append", help="a role, e.g. sensitive-data; repeat for more")
    set_roles.set_defaults(handler=cmd_user_set_roles)
    reset = user.add_parser("reset-2fa", help="remove all second-step methods; enroll again at next sign-in")
    reset.add_argument("email", help="the account's sign-in address")
    reset.add_argument("--reason", default="reset from the command line (no reason given)",
                       help="why (kept in the audit log)")
    reset.set_defaults(handler=_user_action)
    remove = user.add_parser("delete", help="delete an account and its data (asks to type the email)")
    remove.add_argument("email", help="the account's sign-in address")
    remove.add_argument("--yes", action="store_true", help="don't ask for confirmation")
    remove.set_defaults(handler=_user_action)
    for name, text in [
        ("unlock", "clear the throttle after too many wrong attempts"),
        ("sign-out", "end every session and forget remembered devices"),
        ("grant-admin", "give the administrator role"),
        ("revoke-admin", "take the administrator role away (never from the last one)"),
    ]:
        action = user.add_parser(name, help=text)
        action.add_argument("email", help="the account's sign-in address")
        action.set_defaults(handler=_user_action)

    audit_commands = commands.add_parser("audit", help="the audit log").add_subparsers(
        dest="audit_command", required=True
    )
    export = audit_commands.add_parser("export", help="print the audit log as JSON lines or CSV")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", help="JSON lines (default) or CSV")
    export.add_argument("--output", help="write to this file instead of standard output")
    export.add_argument("--event", help="only events whose name starts with this, e.g. authn_")
    export.add_argument("--user", help="only events about this user (part of the email, or the id)")
    export.add_argument("--outcome", choices=["success", "failure"], help="only successes or only failures")
    export.add_argument("--since", help="from this date (YYYY-MM-DD, UTC)")
    export.add_argument("--until", help="up to and including this date (YYYY-MM-DD, UTC)")
    export.set_defaults(handler=cmd_audit_export)

    apikey = commands.add_parser("apikey", help="manage API keys").add_subparsers(
        dest="apikey_command", required=True
    )
    apikey_create = apikey.add_parser("create", help="create a key and print it once")
    apikey_create.add_argument("name", help="which application uses it")
    apikey_create.set_defaults(handler=cmd_apikey_create)
    apikey_list = apikey.add_parser("list", help="list keys (never the keys themselves)")
    apikey_list.add_argument("--json", action="store_true", help="one JSON object per line")
    apikey_list.set_defaults(handler=cmd_apikey_list)
    apikey_revoke = apikey.add_parser("revoke", help="revoke a key by id or prefix")
    apikey_revoke.add_argument("key", help="the id or prefix shown by `apikey list`")
    apikey_revoke.set_defaults(handler=cmd_apikey_revoke)
    _add_key_and_backup_commands(commands)
    _add_oidc_commands(commands)
    from twostep import cli_authz  # twostep authz check (forward-auth, docs/forward-auth.md)

    cli_authz.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from twostep.services.operations.secret_keys import SecretKeyMismatch
    from twostep.storage import datadir
    from twostep.storage.database import is_unavailable, one_line

    try:
        settings = load_settings()
    except OSError as error:  # the data directory (or the secret key in it) cannot be made or read
        print(f"error: {datadir.describe(error)}", file=sys.stderr)
        return 1
    except Exception as error:
        print(f"error: configuration: {error}", file=sys.stderr)
        return 2
    problem = _data_dir_problem(settings)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    try:
        if args.command not in CREATES_ITS_DATABASE:
            problem = _database_problem(settings, create=args.create_database)
            if problem:
                print(f"error: {problem}", file=sys.stderr)
                return 2
        code: int = args.handler(settings, args)
    except SecretKeyMismatch as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a file a command writes or reads: one line, never a traceback
        where = f"{error.filename}: " if error.filename else ""
        print(f"error: {where}{_os_problem(error)}", file=sys.stderr)
        return 1
    except Exception as error:
        if not is_unavailable(error):
            raise
        url = settings.resolved_database_url
        where = f" ({url.split('///', 1)[-1]})" if url.startswith("sqlite") else ""
        print(f"error: database unavailable{where}: {one_line(error)}", file=sys.stderr)
        return 1
    return code


#: Commands that create (or replace) the database themselves; every other one needs it to exist.
CREATES_ITS_DATABASE = frozenset({"migrate", "serve", "restore"})


def _where(url: str) -> str:
    """The database as a person recognises it: the SQLite file's absolute path, or the URL without password."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from twostep.storage.database import normalize_url

    if url.startswith("sqlite"):
        return str(Path(url.split("///", 1)[-1]).resolve())
    return make_url(normalize_url(url)).render_as_string(hide_password=True)


def _database_problem(settings: Settings, *, create: bool) -> str | None:
    """A command run from the wrong directory (or without the server's TWOSTEP_DATA_DIR) must not quietly
    work on a new, empty database: it is refused, unless --create-database says that is the intent."""
    from twostep.storage.migrate import database_state, upgrade

    url = settings.resolved_database_url
    state = database_state(url)
    if state != "ready" and not create:
        return (
            f"no twostep database at {_where(url)} (is this the server's TWOSTEP_DATA_DIR / TWOSTEP_DATABASE_URL, "
            "or its twostep.toml?); run `twostep migrate` to create it, or add --create-database"
        )
    if state != "ready":
        print(f"created a new database: {_where(url)}", file=sys.stderr)
    upgrade(url)
    return None


def _data_dir_problem(settings: Settings) -> str | None:
    """The data directory (and the SQLite database's own, when that lies elsewhere), checked before
    any command runs. Not checked when nothing is kept there (PostgreSQL and a configured key)."""
    from pathlib import Path

    from twostep.storage import datadir

    url = settings.resolved_database_url
    checks: dict[Path, list[Path]] = {}
    if url.startswith("sqlite") and url.split("///", 1)[-1] not in ("", ":memory:"):
        database = Path(url.split("///", 1)[-1])
        checks.setdefault(database.parent, []).append(database)
    if (settings.data_dir / "secret_key").exists() or url.startswith("sqlite"):
        checks.setdefault(settings.data_dir, [])
    for directory, files in checks.items():
        problem = datadir.problem(directory, files)
        if problem:
            return problem
    return None


if __name__ == "__main__":
    sys.exit(main())
