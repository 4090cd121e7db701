"""``twostep user import FILE``: bring an existing user base in, in transactional batches.

* CSV with a header row, or JSON lines; columns in domain.user_import (a contract).
* The whole file is read once before anything is written: an unreadable file, a bad header or
  broken encoding stops the run with nothing written.
* Rows are checked one by one; a refused row is reported with its reason and skipped.
* Batches of ``BATCH_SIZE`` rows, one transaction each: a crash loses at most the current batch,
  and a re-run continues, because rows are matched by email and updated in place (no duplicates).
  When the database refuses a batch because of one row (a value it can't store, a constraint),
  the batch is written again row by row: the guilty rows are refused with their line number, the
  others go in. Only a lost connection stops the run.
* Cost stays linear in the number of rows (bench/import_scale.py, docs/benchmarks.md): the
  per-batch look-ups are set-based (``= ANY(array)`` on PostgreSQL, one parameter, so the unique
  index serves them whatever the statement cache holds), and on PostgreSQL the tables are
  ANALYZEd whenever they have doubled, so no plan made for an empty table outlives its data.
* Nothing slow happens per row: password hashes are stored as they are (checked, then replaced by
  Argon2id, at the user's first sign-in); authenticator secrets are sealed like at enrollment.

Re-runs never take away what users did here: a password set or used here is kept, an authenticator
set up here is kept, roles are only added (remove them at /admin/roles or with ``user set-roles``).
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import InstrumentedAttribute, Session

from twostep.domain.factors import FactorKind
from twostep.domain.sealing import SealError
from twostep.domain.user_import import COLUMNS, ImportRow, RowRefused, parse_row
from twostep.i18n import LANGUAGES
from twostep.services.core import admin_role, audit
from twostep.services.core.context import Context, RequestInfo
from twostep.storage.database import in_values
from twostep.storage.models import Factor, User, UserRole

BATCH_SIZE = 1000
IMPORT = admin_role.Grantor(None, "", "import")
Progress = Callable[[int, int], None]


class ImportFileError(ValueError):
    """The file as a whole can't be imported; nothing was written."""


@dataclass(frozen=True)
class Refusal:
    line: int
    email: str
    reason: str


@dataclass
class ImportReport:
    path: str
    file_format: str
    dry_run: bool
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    authenticators: int = 0
    kept_passwords: int = 0
    kept_authenticators: int = 0
    refused: list[Refusal] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged

    def as_text(self) -> str:
        verb = "would be" if self.dry_run else "were"
        lines = [
            f"{self.rows} rows read from {self.path} ({self.file_format}) in {self.seconds:.1f} s"
            + (f", {self.rows / self.seconds:,.0f} rows/s" if self.seconds > 0 else ""),
            f"  {self.created} accounts {verb} created, {self.updated} updated, {self.unchanged} unchanged",
            f"  {self.authenticators} authenticator apps {verb} brought along",
        ]
        if self.kept_passwords:
            lines.append(f"  {self.kept_passwords} accounts keep the password they set or used here")
        if self.kept_authenticators:
            lines.append(f"  {self.kept_authenticators} accounts keep the authenticator they set up here")
        lines.append(f"  {len(self.refused)} rows refused")
        for refusal in self.refused:
            lines.append(f"line {refusal.line}: {refusal.email or '-'}: {refusal.reason}")
        for line, note in self.notes:
            lines.append(f"line {line}: note: {note}")
        if self.dry_run:
            lines.append("dry run: nothing was written")
        return "\n".join(lines)


# --- reading the file ---------------------------------------------------------------------------


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    with path.open("r", encoding="utf-8-sig", errors="replace") as handle:
        head = handle.read(4096).lstrip()
    return "jsonl" if head.startswith("{") else "csv"


def _csv_rows(handle: TextIO) -> Iterator[tuple[int, dict[str, Any] | str]]:
    reader = csv.reader(handle)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("the file is empty") from None
    names = [column.strip().lower() for column in header]
    unknown = sorted({n for n in names if n not in COLUMNS})
    if unknown:
        raise ImportFileError(f"unknown column(s) {', '.join(unknown)}; the columns are: {', '.join(COLUMNS)}")
    if "email" not in names:
        raise ImportFileError("the header row has no email column")
    if len(set(names)) != len(names):
        raise ImportFileError("a column appears twice in the header row")
    for values in reader:
        if not any(value.strip() for value in values):
            continue
        if len(values) > len(names):
            yield reader.line_num, f"{len(values)} fields but the header names {len(names)} columns"
            continue
        yield reader.line_num, dict(zip(names, values, strict=False))


def _jsonl_rows(handle: TextIO) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for number, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            yield number, f"not valid JSON ({error.msg})"
            continue
        if not isinstance(value, dict):
            yield number, "not a JSON object"
            continue
        yield number, value


def _rows(path: Path, file_format: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        yield from (_jsonl_rows(handle) if file_format == "jsonl" else _csv_rows(handle))


def scan(path: Path, file_format: str) -> int:
    """Read the whole file once (encoding, CSV structure, header) and count its rows."""
    try:
        return sum(1 for _ in _rows(path, file_format))
    except FileNotFoundError:
        raise ImportFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImportFileError(f"{path}: is a directory") from None
    except PermissionError:
        raise ImportFileError(f"{path}: permission denied") from None
    except UnicodeDecodeError as error:
        raise ImportFileError(f"the file is not UTF-8 text (byte {error.start})") from None
    except csv.Error as error:
        raise ImportFileError(f"the CSV is malformed: {error}") from None


# --- writing one batch --------------------------------------------------------------------------


@dataclass
class _BatchResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    authenticators: int = 0
    kept_passwords: int = 0
    kept_authenticators: int = 0
    refused: list[Refusal] = field(default_factory=list)


def _owner(user_id: int) -> str:
    return f"user:{user_id}:totp"


def _opens_to(ctx: Context, sealed: bytes, user_id: int, secret: str) -> bool:
    try:
        return ctx.sealer.open(sealed, _owner(user_id)) == secret
    except SealError:
        return False


def _among(column: InstrumentedAttribute[Any], values: list[Any], db: Session) -> ColumnElement[bool]:
    """``column IN values``, set-based: on PostgreSQL ``column = ANY(:array)``, one array parameter.

    Measured (issue 12, item 23; bench/import_scale.py): with ``IN (…1,000 parameters…)``, which
    psycopg prepares after five runs with a plan made while ``users`` was nearly empty, rows
    90,000–150,000 of an import cost 8 times the CPU of the others (~500 rows/s). One array
    parameter is one statement text for every batch size, and ``= ANY`` on a unique index is an
    index look-up per value; ``_refresh_statistics`` keeps the plans up to date.
    """
    return in_values(db, column, values)


def _apply_batch(
    ctx: Context, db: Session, rows: list[ImportRow], *, dry_run: bool, request: RequestInfo
) -> _BatchResult:
    """Match rows to accounts by email; create the new ones, update the others in place."""
    now = ctx.clock.now()
    result = _BatchResult()
    existing = {
        row.email: row
        for row in db.execute(
            select(
                User.id,
                User.email,
                User.name,
                User.language,
                User.legacy_username,
                User.password_hash,
                User.password_imported,
                User.password_changed_at,
            ).where(_among(User.email, [r.email for r in rows], db))
        )
    }
    wanted_usernames = [r.username for r in rows if r.username]
    username_owner: dict[str, int] = {}
    if wanted_usernames:
        by_username = _among(User.legacy_username, wanted_usernames, db)
        owners = db.execute(select(User.legacy_username, User.id).where(by_username))
        username_owner = {name: user_id for name, user_id in owners if name is not None}
    accepted: list[ImportRow] = []
    for row in rows:
        owner = username_owner.get(row.username or "")
        mine = existing.get(row.email)
        if owner is not None and (mine is None or mine.id != owner):
            result.refused.append(Refusal(row.line, row.email, "username: already used by another account"))
            continue
        accepted.append(row)

    ids: dict[str, int] = {email: found.id for email, found in existing.items()}
    new_rows = [r for r in accepted if r.email not in existing]
    if new_rows and not dry_run:
        # A plain executemany (psycopg pipelines it) and one SELECT for the new ids: several times
        # faster on PostgreSQL than INSERT … RETURNING, whose huge statements psycopg parses in Python.
        db.execute(
            insert(User),
            [
                {
                    "email": r.email,
                    "name": r.name or "",
                    "language": r.language,
                    "legacy_username": r.username,
                    "password_hash": r.password_hash,
                    "password_imported": r.password_hash is not None,
                    "created_at": now,
                    "imported_at": now,
                    "sign_in_count": 0,
                    "must_enroll": False,
                    "grace_sign_ins": 0,
                }
                for r in new_rows
            ],
        )
        fresh = db.execute(select(User.id, User.email).where(_among(User.email, [r.email for r in new_rows], db)))
        ids.update({email: user_id for user_id, email in fresh})
    result.created = len(new_rows)

    changes: list[dict[str, Any]] = []
    changed_ids: set[int] = set()
    for row in accepted:
        found = existing.get(row.email)
        if found is None:
            continue
        values: dict[str, Any] = {}
        if row.name is not None and row.name != found.name:
            values["name"] = row.name
        if row.language is not None and row.language != found.language:
            values["language"] = row.language
        if row.username is not None and row.username != found.legacy_username:
            values["legacy_username"] = row.username
        if row.password_hash is not None and row.password_hash != found.password_hash:
            untouched = found.password_hash is None or (found.password_imported and found.password_changed_at is None)
            if untouched:
                values["password_hash"] = row.password_hash
                values["password_imported"] = True
            else:
                result.kept_passwords += 1
        if values:
            changes.append({"id": found.id, "imported_at": now, **values})
            changed_ids.add(found.id)
    if changes and not dry_run:
        db.execute(update(User), changes)  # ORM bulk UPDATE by primary key, grouped by the columns set

    known_ids = [ids[r.email] for r in accepted if r.email in ids]
    held: dict[int, set[str]] = {}
    have_totp: dict[int, list[bytes]] = {}
    if known_ids:
        roles_held = select(UserRole.user_id, UserRole.role).where(_among(UserRole.user_id, known_ids, db))
        for holder, role in db.execute(roles_held):
            held.setdefault(holder, set()).add(role)
        for holder, sealed in db.execute(
            select(Factor.user_id, Factor.secret_sealed).where(
                _among(Factor.user_id, known_ids, db),
                Factor.kind == FactorKind.TOTP.value,
                Factor.confirmed_at.is_not(None),
            )
        ):
            have_totp.setdefault(holder, []).append(sealed or b"")

    new_roles: list[dict[str, Any]] = []
    new_factors: list[dict[str, Any]] = []
    for row in accepted:
        user_id = ids.get(row.email)
        is_new = row.email not in existing
        missing_roles = sorted(set(row.roles) - held.get(user_id, set())) if user_id is not None else list(row.roles)
        if missing_roles and user_id is not None:
            new_roles.extend({"user_id": user_id, "role": role} for role in missing_roles)
        if missing_roles and not is_new and user_id is not None:
            changed_ids.add(user_id)
        if row.totp_secret is not None:
            sealed_here = have_totp.get(user_id, []) if user_id is not None else []
            if not sealed_here:
                result.authenticators += 1
                if user_id is not None:
                    new_factors.append(
                        {
                            "user_id": user_id,
                            "kind": FactorKind.TOTP.value,
                            "secret_sealed": ctx.sealer.seal(row.totp_secret, _owner(user_id)),
                            "label": row.totp_label,
                            "created_at": now,
                            "confirmed_at": now,
                        }
                    )
                    if not is_new:
                        changed_ids.add(user_id)
            elif not any(_opens_to(ctx, sealed, user_id or 0, row.totp_secret) for sealed in sealed_here):
                result.kept_authenticators += 1
    if not dry_run:
        if new_roles:
            db.execute(insert(UserRole), new_roles)
        for granted in [r["user_id"] for r in new_roles if r["role"] == admin_role.ADMIN]:
            # The same event and notice as every other way to the admin role (services.admin_role).
            grantee = db.get(User, granted)
            if grantee is not None:
                admin_role.record_change(ctx, db, grantee, granted=True, grantor=IMPORT, request=request)
        if new_factors:
            db.execute(insert(Factor), new_factors)
        missing_stamp = [uid for uid in changed_ids if uid not in {c["id"] for c in changes}]
        if missing_stamp:
            db.execute(update(User).where(_among(User.id, missing_stamp, db)).values(imported_at=now))
    existing_accepted = [r for r in accepted if r.email in existing]
    result.updated = sum(1 for r in existing_accepted if existing[r.email].id in changed_ids)
    result.unchanged = len(existing_accepted) - result.updated
    return result


def _database_refusal(error: DBAPIError) -> str:
    """Why the database refused a row, without its values (a message may quote them)."""
    original = error.orig
    sqlstate = getattr(original, "sqlstate", None)
    kind = type(original).__name__ if original is not None else type(error).__name__
    return f"the database refused the row ({kind}" + (f", SQLSTATE {sqlstate})" if sqlstate else ")")


def _connection_lost(error: DBAPIError) -> bool:
    return isinstance(error, OperationalError | InterfaceError) or error.connection_invalidated


def _write_batch(ctx: Context, rows: list[ImportRow], *, dry_run: bool, request: RequestInfo) -> _BatchResult:
    """One transaction for the batch; if the database refuses it, one transaction per row, so a
    row it can't store is refused on its own (with its line) and the rest of the batch goes in."""
    retry_whole = True  # after a unique violation: someone created one of these accounts meanwhile
    while True:
        try:
            with ctx.db.transaction() as db:
                return _apply_batch(ctx, db, rows, dry_run=dry_run, request=request)
        except DBAPIError as error:
            if _connection_lost(error):
                raise
            if not (retry_whole and isinstance(error, IntegrityError) and len(rows) > 1):
                break
            retry_whole = False
    total = _BatchResult()
    for row in rows:
        try:
            with ctx.db.transaction() as db:
                one = _apply_batch(ctx, db, [row], dry_run=dry_run, request=request)
        except DBAPIError as error:
            if _connection_lost(error):
                raise
            total.refused.append(Refusal(row.line, row.email, _database_refusal(error)))
            continue
        total.created += one.created
        total.updated += one.updated
        total.unchanged += one.unchanged
        total.authenticators += one.authenticators
        total.kept_passwords += one.kept_passwords
        total.kept_authenticators += one.kept_authenticators
        total.refused.extend(one.refused)
    return total


def _refresh_statistics(ctx: Context) -> None:
    """PostgreSQL: ANALYZE the tables the import fills (each time they have doubled, so a few
    times per run, a bounded sample each), so plans are made for the table's real size."""
    ctx.db.refresh_statistics(["users", "user_roles", "factors"])


# --- the run ------------------------------------------------------------------------------------


def import_users(
    ctx: Context,
    path: Path,
    *,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    request: RequestInfo | None = None,
) -> ImportReport:
    """Import (or with ``dry_run``, only check) the file; ImportFileError if it can't be read at all."""
    started = time.monotonic()
    who = request or RequestInfo()
    file_format = detect_format(path) if path.is_file() else "csv"
    total = scan(path, file_format)
    report = ImportReport(path=str(path), file_format=file_format, dry_run=dry_run)
    seen: dict[str, int] = {}
    seen_usernames: dict[str, int] = {}
    batch: list[ImportRow] = []

    analyzed_at = 0  # accounts written when the tables were last ANALYZEd (PostgreSQL)

    def flush() -> None:
        nonlocal analyzed_at
        if not batch:
            return
        outcome = _write_batch(ctx, batch, dry_run=dry_run, request=who)
        report.created += outcome.created
        report.updated += outcome.updated
        report.unchanged += outcome.unchanged
        report.authenticators += outcome.authenticators
        report.kept_passwords += outcome.kept_passwords
        report.kept_authenticators += outcome.kept_authenticators
        report.refused.extend(outcome.refused)
        batch.clear()
        written = report.created + report.updated
        if not dry_run and written >= 2 * max(analyzed_at, batch_size // 2):
            _refresh_statistics(ctx)
            analyzed_at = written

    for line, raw in _rows(path, file_format):
        report.rows += 1
        email_hint = str(raw.get("email", "")).strip()[:80] if isinstance(raw, dict) else ""
        if isinstance(raw, str):
            report.refused.append(Refusal(line, email_hint, raw))
        else:
            try:
                row = parse_row(raw, line, LANGUAGES)
            except RowRefused as refusal:
                report.refused.append(Refusal(line, email_hint, str(refusal)))
            else:
                if row.email in seen:
                    report.refused.append(
                        Refusal(line, row.email, f"duplicate: the same email as line {seen[row.email]}")
                    )
                elif row.username and row.username in seen_usernames:
                    report.refused.append(
                        Refusal(line, row.email, f"duplicate: the same username as line {seen_usernames[row.username]}")
                    )
                else:
                    seen[row.email] = line
                    if row.username:
                        seen_usernames[row.username] = line
                    report.notes.extend((line, note) for note in row.notes)
                    batch.append(row)
        if len(batch) >= batch_size:
            flush()
            if progress:
                progress(report.rows, total)
    flush()
    if progress:
        progress(report.rows, total)
    report.refused.sort(key=lambda r: r.line)
    report.seconds = time.monotonic() - started
    if not dry_run:
        with ctx.db.transaction() as db:
            audit.record(
                ctx,
                db,
                "user_import",
                request=who,
                file=path.name,
                rows=report.rows,
                created=report.created,
                updated=report.updated,
                refused=len(report.refused),
            )
    return report


class TextProgress:
    """A plain progress bar on a terminal (redrawn in place), or a line per tenth when redirected."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.started = time.monotonic()
        self.tty = stream.isatty()
        self.last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        elapsed = max(time.monotonic() - self.started, 1e-6)
        filled = int(fraction * self.width)
        text = (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {fraction:4.0%} {done:,}/{total:,} rows "
            f"{done / elapsed:,.0f} rows/s"
        )
        if self.tty:
            self.stream.write("\r" + text + ("\n" if done >= total else ""))
        elif int(fraction * 10) != self.last_tenth or done >= total:
            self.last_tenth = int(fraction * 10)
            self.stream.write(text + "\n")
        self.stream.flush()


def report_json(report: ImportReport) -> str:
    buffer = io.StringIO()
    json.dump(
        {
            "rows": report.rows,
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "authenticators": report.authenticators,
            "dry_run": report.dry_run,
            "refused": [{"line": r.line, "email": r.email, "reason": r.reason} for r in report.refused],
        },
        buffer,
    )
    return buffer.getvalue()
