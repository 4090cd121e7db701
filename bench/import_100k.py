"""Measure `twostep user import` on 100,000 rows (docs/benchmarks.md reports the numbers).

    .venv/bin/python bench/import_100k.py [--rows 100000] [--database-url URL] [--keep FILE]

Writes a CSV like a real migration: every row has roles, a legacy username, a TOTP secret (random,
160 bits) and a password hash, alternating Argon2id, Argon2i, bcrypt, Django PBKDF2 and scrypt
(a pool of real hashes, reused: the import never hashes, it only checks the format). Then runs the
command as a subprocess against a fresh database, twice: the first run creates everything, the
second (a re-run) matches every row and changes nothing.
"""

from __future__ import annotations

import argparse
import base64
import csv
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bcrypt
from argon2 import PasswordHasher, Type
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
PBKDF2 = "pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo="
SCRYPT = (
    "scrypt$16384$seasalt$8$1$Qj3+9PPyRjSJIebHnG81TMjsqtaIGxNQG/aEB/NYafTJ7tibgfYz71m0ldQESkXFRkdVCBhhY8mx7rQwite/Pw=="
)


def hash_pool(size: int = 40) -> list[str]:
    pool: list[str] = []
    argon_id = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)
    argon_i = PasswordHasher(time_cost=2, memory_cost=8192, parallelism=1, type=Type.I)
    for n in range(size):
        password = f"imported password {n}"
        pool.append(argon_id.hash(password))
        pool.append(argon_i.hash(password))
        pool.append(bcrypt.hashpw(password.encode(), bcrypt.gensalt(10)).decode())
    return [*pool, PBKDF2, SCRYPT]


def write_csv(path: Path, rows: int) -> None:
    pool = hash_pool()
    roles = ["", "staff", "sensitive-data", "staff;finance"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "roles", "language", "username", "password_hash", "totp_secret"])
        for n in range(rows):
            secret = base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")
            writer.writerow(
                [
                    f"user{n:06d}@example.com",
                    f"User {n}",
                    roles[n % 4],
                    "nl" if n % 3 else "en",
                    f"KIN{n:06d}",
                    pool[n % len(pool)],
                    secret,
                ]
            )


def fresh_database(url: str | None, tmp: Path) -> str:
    if not url:
        return f"sqlite:///{tmp / 'bench.db'}"
    admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "twostep_import_bench" WITH (FORCE)'))
        conn.execute(text('CREATE DATABASE "twostep_import_bench"'))
    admin.dispose()
    return url.rsplit("/", 1)[0] + "/twostep_import_bench"


def run(database_url: str, data_dir: Path, csv_path: Path) -> float:
    env = dict(os.environ, TWOSTEP_DATABASE_URL=database_url, TWOSTEP_DATA_DIR=str(data_dir))
    started = time.monotonic()
    result = subprocess.run(
        [str(ROOT / ".venv/bin/twostep"), "user", "import", str(csv_path), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.monotonic() - started
    print(result.stdout.splitlines()[0] if result.stdout else result.stderr, file=sys.stderr)
    print("\n".join(result.stdout.splitlines()[1:3]), file=sys.stderr)
    if result.returncode != 0:
        sys.exit(f"import failed ({result.returncode}): {result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default="", help="PostgreSQL server URL; empty: SQLite")
    parser.add_argument("--keep", type=Path, help="reuse or keep the generated CSV here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        csv_path = args.keep or tmp / "users.csv"
        if not csv_path.exists():
            started = time.monotonic()
            write_csv(csv_path, args.rows)
            print(f"wrote {args.rows:,} rows in {time.monotonic() - started:.1f} s", file=sys.stderr)
        url = fresh_database(args.database_url, tmp)
        database = "PostgreSQL" if args.database_url else "SQLite"
        first = run(url, tmp / "data", csv_path)
        second = run(url, tmp / "data", csv_path)
        print(
            f"{database}: first import {first:.1f} s ({args.rows / first:,.0f} rows/s), "
            f"re-run {second:.1f} s ({args.rows / second:,.0f} rows/s), wall clock including start-up"
        )


if __name__ == "__main__":
    main()
