"""Is `twostep user import` linear? Import N rows (``email,totp_secret``) into an empty PostgreSQL
database and print the rate of each tenth of the run (docs/benchmarks.md quotes the figures).

    .venv/bin/python bench/import_scale.py [--rows 1000000] [--server postgresql://postgres@127.0.0.1:5432]

Creates the database ``twostep_bench_import`` (dropped first, and again at the end unless ``--keep-db``),
writes the CSV to a temporary directory, and runs the importer in this process with the CLI's batch
size, timing each batch. Issue 12 item 23: before the fix the rate fell from 10,000 to 3,000 rows/s
past ~110,000 rows (a plan made for the empty table, kept by the prepared statement).
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text

from twostep.services.admin import importer

DATABASE = "twostep_bench_import"


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("email,totp_secret\n")
        chunk: list[str] = []
        for n in range(rows):
            secret = base64.b32encode(os.urandom(20)).decode().rstrip("=")
            chunk.append(f"user{n:07d}@example.com,{secret}\n")
            if len(chunk) == 10_000:
                handle.writelines(chunk)
                chunk.clear()
        handle.writelines(chunk)


def _admin_engine(server: str):  # type: ignore[no-untyped-def]
    url = server.rstrip("/").replace("postgresql://", "postgresql+psycopg://", 1) + "/postgres"
    return create_engine(url, isolation_level="AUTOCOMMIT")


def recreate_database(server: str, *, drop_only: bool = False) -> str:
    engine = _admin_engine(server)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        if not drop_only:
            conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    engine.dispose()
    return f"{server.rstrip('/')}/{DATABASE}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--server", default=os.environ.get("BENCH_PG_SERVER", "postgresql://postgres@127.0.0.1:5432"))
    parser.add_argument("--batch-size", type=int, default=importer.BATCH_SIZE)
    parser.add_argument("--keep-db", action="store_true", help="leave the database in place afterwards")
    args = parser.parse_args()

    from twostep.app import build_context
    from twostep.settings import Settings
    from twostep.storage.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        csv_path = tmp / "users.csv"
        started = time.monotonic()
        write_csv(csv_path, args.rows)
        print(f"wrote {args.rows:,} rows in {time.monotonic() - started:.1f} s", file=sys.stderr)
        url = recreate_database(args.server)
        try:
            settings = Settings(database_url=url, data_dir=tmp / "data", secret_key="bench-" + "k" * 40)
            upgrade(settings.resolved_database_url)
            ctx = build_context(settings)
            backends: set[int] = set()

            @event.listens_for(ctx.db.engine, "connect")
            def _remember_backend(dbapi_connection: Any, _record: Any) -> None:
                with dbapi_connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    backends.add(int(cursor.fetchone()[0]))

            def cpu_seconds() -> float:
                """This process plus the PostgreSQL backends serving it (/proc; same machine)."""
                total = time.process_time()
                tick = os.sysconf("SC_CLK_TCK")
                for pid in backends:
                    try:
                        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    total += (int(fields[11]) + int(fields[12])) / tick
                return total
            marks: list[tuple[int, float, float, float]] = [(0, time.monotonic(), cpu_seconds(), 0.0)]

            def progress(done: int, _total: int) -> None:
                marks.append((done, time.monotonic(), cpu_seconds(), os.getloadavg()[0]))

            run_started = time.monotonic()
            report = importer.import_users(ctx, csv_path, batch_size=args.batch_size, progress=progress)
            total_seconds = time.monotonic() - run_started
            ctx.db.dispose()
        finally:
            if not args.keep_db:
                recreate_database(args.server, drop_only=True)

    print(f"PostgreSQL, {args.rows:,} rows (email,totp_secret), batches of {args.batch_size:,}")
    print(f"created {report.created:,}, refused {len(report.refused):,}, {total_seconds:.1f} s in all, "
          f"{args.rows / total_seconds:,.0f} rows/s overall (the file scan included)")
    print("| tenth | rows | seconds | rows/s | CPU s (importer + its PostgreSQL backends) | load (1 min) |")
    print("|---|---|---|---|---|---|")
    tenth = max(1, args.rows // 10)
    start_rows, start_time, start_cpu, _ = marks[0]
    bound = tenth
    for done, at, cpu, load in marks[1:]:
        if done >= bound or done == marks[-1][0]:
            seconds = at - start_time
            rate = (done - start_rows) / seconds if seconds > 0 else 0.0
            print(
                f"| {bound // tenth} | {start_rows + 1:,}–{done:,} | {seconds:.1f} | {rate:,.0f} "
                f"| {cpu - start_cpu:.1f} | {load:.1f} |"
            )
            start_rows, start_time, start_cpu = done, at, cpu
            bound = (done // tenth + 1) * tenth
            if done >= args.rows:
                break


if __name__ == "__main__":
    main()
