"""`twostep user import`: CSV and JSON lines, dry run, refused rows with reasons, safe re-runs in
transactional batches, and imported users signing in (legacy hashes, authenticator apps)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from argon2 import PasswordHasher, Type
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.support import PASSWORD, alerts, code_for, login_password, make_user, submit_code
from twostep import cli
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.services.admin import importer
from twostep.services.core import accounts
from twostep.services.core.context import Context
from twostep.storage.models import AuditEvent, Factor, User, UserRole

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # 160 bits
OTHER_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
DJANGO_PBKDF2 = "pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo="
DJANGO_SCRYPT = (
    "scrypt$16384$seasalt$8$1$Qj3+9PPyRjSJIebHnG81TMjsqtaIGxNQG/aEB/NYafTJ7tibgfYz71m0ldQESkXFRkdVCBhhY8mx7rQwite/Pw=="
)
ROOT = Path(__file__).resolve().parents[2]


def write_csv(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    names = columns or ["email", "name", "roles", "language", "username", "password_hash", "totp_secret", "totp_uri"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def counts(ctx: Context) -> tuple[int, int, int]:
    with ctx.db.transaction() as db:
        return (
            int(db.scalar(select(func.count()).select_from(User)) or 0),
            int(db.scalar(select(func.count()).select_from(Factor)) or 0),
            int(db.scalar(select(func.count()).select_from(UserRole)) or 0),
        )


def user(ctx: Context, email: str) -> User:
    with ctx.db.transaction() as db:
        found = db.scalar(select(User).where(User.email == email))
        assert found is not None, email
        return found


def bcrypt_hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


# --- formats ------------------------------------------------------------------------------------


def test_csv_import_creates_accounts_with_roles_language_and_legacy_username(ctx: Context, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "users.csv",
        [
            {
                "email": " Ada@Example.com ",
                "name": "Ada Lovelace",
                "roles": "sensitive-data; Finance",
                "language": "nl-BE",
                "username": "KIN001",
                "password_hash": bcrypt_hash("old password"),
                "totp_secret": SECRET,
            },
            {"email": "bob@example.com", "name": "Bob", "language": "de"},
        ],
    )
    report = importer.import_users(ctx, path)
    assert (report.rows, report.created, report.updated, report.authenticators, report.refused) == (2, 2, 0, 1, [])
    assert report.notes == [(3, "language 'de' is not offered; the browser's language will be used")]
    ada = user(ctx, "ada@example.com")
    assert (ada.name, ada.language, ada.legacy_username, ada.password_imported) == (
        "Ada Lovelace",
        "nl",
        "KIN001",
        True,
    )
    assert ada.password_hash is not None and ada.password_hash.startswith("$2b$")
    with ctx.db.transaction() as db:
        assert accounts.roles_of(db, ada.id) == ["finance", "sensitive-data"]
        factor = db.scalar(select(Factor).where(Factor.user_id == ada.id))
        assert factor is not None and factor.kind == "totp" and factor.confirmed_at is not None
        assert SECRET.encode() not in (factor.secret_sealed or b"")  # encrypted at rest
        assert ctx.sealer.open(factor.secret_sealed or b"", f"user:{ada.id}:totp") == SECRET
        assert db.scalar(select(AuditEvent).where(AuditEvent.event == "user_import")) is not None
    bob = user(ctx, "bob@example.com")
    assert bob.password_hash is None and bob.language is None


def test_json_lines_import_accepts_the_same_keys_and_role_lists(ctx: Context, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "users.jsonl",
        [
            {
                "email": "ada@example.com",
                "roles": ["staff", "sensitive-data"],
                "username": "KIN001",
                "totp_uri": f"otpauth://totp/OldCo:ada%40example.com?secret={SECRET}&issuer=OldCo&digits=6&period=30",
            },
            {"email": "bob@example.com", "roles": "staff;finance", "password_hash": DJANGO_PBKDF2, "name": None},
        ],
    )
    report = importer.import_users(ctx, path)
    assert (report.file_format, report.created, report.authenticators, report.refused) == ("jsonl", 2, 1, [])
    ada, bob = user(ctx, "ada@example.com"), user(ctx, "bob@example.com")
    with ctx.db.transaction() as db:
        assert accounts.roles_of(db, ada.id) == ["sensitive-data", "staff"]
        assert accounts.roles_of(db, bob.id) == ["finance", "staff"]
        label = db.scalar(select(Factor.label))
    assert label == "OldCo"


def test_dry_run_checks_everything_and_writes_nothing(ctx: Context, tmp_path: Path) -> None:
    make_user(ctx, "existing@example.com")
    before = counts(ctx)
    path = write_csv(
        tmp_path / "users.csv",
        [
            {"email": "ada@example.com", "roles": "staff", "totp_secret": SECRET},
            {"email": "existing@example.com", "name": "New name"},
            {"email": "not an email"},
        ],
    )
    report = importer.import_users(ctx, path, dry_run=True)
    assert (report.created, report.updated, report.authenticators, len(report.refused)) == (1, 1, 1, 1)
    assert "dry run: nothing was written" in report.as_text()
    assert counts(ctx) == before
    assert user(ctx, "existing@example.com").name == ""
    with ctx.db.transaction() as db:
        assert db.scalar(select(AuditEvent).where(AuditEvent.event == "user_import")) is None


# --- refused rows -------------------------------------------------------------------------------


def test_refused_rows_are_reported_with_their_reasons_and_the_rest_imported(ctx: Context, tmp_path: Path) -> None:
    rows = [
        {"email": "ada@example.com", "username": "KIN001"},
        {"email": "bob@@example.com"},
        {"email": "", "name": "No address"},
        {"email": "ADA@example.com"},
        {"email": "carl@example.com", "password_hash": "5f4dcc3b5aa765d61d8327deb882cf99"},
        {"email": "dora@example.com", "totp_uri": f"otpauth://totp/X:dora?secret={SECRET}&algorithm=SHA256"},
        {"email": "eve@example.com", "totp_uri": f"otpauth://totp/X:eve?secret={SECRET}&digits=8"},
        {"email": "fay@example.com", "totp_uri": f"otpauth://totp/X:fay?secret={SECRET}&period=60"},
        {"email": "gus@example.com", "totp_uri": f"otpauth://hotp/X:gus?secret={SECRET}&counter=1"},
        {"email": "hal@example.com", "totp_secret": "JBSWY3DPEHPK3PXP"},
        {"email": "ida@example.com", "totp_secret": "not-base32!"},
        {"email": "jon@example.com", "totp_secret": SECRET, "totp_uri": f"otpauth://totp/X:jon?secret={OTHER_SECRET}"},
        {"email": "kim@example.com", "roles": "staff;Access All Areas"},
        {"email": "lea@example.com", "username": "KIN001"},
        {"email": "max@example.com"},
    ]
    report = importer.import_users(ctx, write_csv(tmp_path / "users.csv", rows))
    reasons = {r.line: r.reason for r in report.refused}
    assert reasons == {
        3: "email: 'bob@@example.com' is not a valid email address",
        4: "email: missing",
        5: "duplicate: the same email as line 2",
        6: "password_hash: unknown format (accepted: bcrypt, Argon2, Django PBKDF2-SHA256, Django bcrypt, scrypt)",
        7: "totp_uri: algorithm SHA256 is not supported (only SHA1, 6 digits, 30 seconds)",
        8: "totp_uri: 8 digits are not supported (only SHA1, 6 digits, 30 seconds)",
        9: "totp_uri: a period of 60 seconds is not supported (only SHA1, 6 digits, 30 seconds)",
        10: "totp_uri: counter-based (hotp) authenticators are not supported, only totp",
        11: "totp_secret: the secret has 80 bits, at least 128 are needed (RFC 4226); the user must set up the app "
        "again",
        12: "totp_secret: not base32 (letters A-Z and digits 2-7)",
        13: "totp_secret and totp_uri name different secrets",
        14: "roles: not a role name: 'Access All Areas'",
        15: "duplicate: the same username as line 2",
    }
    assert (report.created, report.rows) == (2, 15)
    assert counts(ctx)[0] == 2
    text = report.as_text()
    assert "line 6: carl@example.com: password_hash: unknown format" in text and "13 rows refused" in text


def test_a_username_owned_by_another_account_is_refused(ctx: Context, tmp_path: Path) -> None:
    importer.import_users(ctx, write_csv(tmp_path / "a.csv", [{"email": "ada@example.com", "username": "KIN001"}]))
    report = importer.import_users(
        ctx, write_csv(tmp_path / "b.csv", [{"email": "bob@example.com", "username": "KIN001"}])
    )
    assert [(r.email, r.reason) for r in report.refused] == [
        ("bob@example.com", "username: already used by another account")
    ]


def test_json_lines_problems_are_refused_per_line(ctx: Context, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "users.jsonl",
        [
            {"email": "ada@example.com"},
            "{not json",
            "[1, 2]",
            {"email": "bob@example.com", "password": "plain text!"},
            {"email": "carl@example.com", "roles": {"a": 1}},
        ],
    )
    report = importer.import_users(ctx, path)
    assert [(r.line, r.reason) for r in report.refused] == [
        (2, "not valid JSON (Expecting property name enclosed in double quotes)"),
        (3, "not a JSON object"),
        (4, "unknown column(s): password"),
        (5, "roles: expected text"),
    ]
    assert report.created == 1


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"email,name,password\nada@example.com,Ada,secret\n", "unknown column(s) password"),
        (b"name,roles\nAda,staff\n", "the header row has no email column"),
        (b"email,email\nada@example.com,b@example.com\n", "a column appears twice"),
        (b"email,name\nada@example.com,Ada\nbob@example.com,B\xe9b\n", "not UTF-8"),
        (b"", "the file is empty"),
    ],
    ids=["unknown-column", "no-email", "twice", "latin-1", "empty"],
)
def test_a_file_that_cant_be_read_writes_nothing(ctx: Context, tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "users.csv"
    path.write_bytes(content)
    with pytest.raises(importer.ImportFileError) as raised:
        importer.import_users(ctx, path)
    assert problem in str(raised.value)
    assert counts(ctx) == (0, 0, 0)


# --- re-runs and batches ------------------------------------------------------------------------


def test_re_run_updates_in_place_without_duplicates(ctx: Context, tmp_path: Path) -> None:
    first = [
        {
            "email": "ada@example.com",
            "name": "Ada",
            "roles": "staff",
            "username": "KIN001",
            "password_hash": DJANGO_PBKDF2,
            "totp_secret": SECRET,
        }
    ]
    importer.import_users(ctx, write_csv(tmp_path / "1.csv", first))
    again = importer.import_users(ctx, write_csv(tmp_path / "2.csv", first))
    assert (again.created, again.updated, again.unchanged, again.authenticators) == (0, 0, 1, 0)
    second = [
        {
            "email": "ada@example.com",
            "name": "Ada L.",
            "roles": "finance",
            "username": "KIN001",
            "language": "sv",
            "password_hash": DJANGO_SCRYPT,
            "totp_secret": SECRET,
        }
    ]
    report = importer.import_users(ctx, write_csv(tmp_path / "3.csv", second))
    assert (report.created, report.updated, report.unchanged) == (0, 1, 0)
    ada = user(ctx, "ada@example.com")
    assert (ada.name, ada.language, ada.password_hash) == ("Ada L.", "sv", DJANGO_SCRYPT)
    with ctx.db.transaction() as db:
        assert accounts.roles_of(db, ada.id) == ["finance", "staff"]  # roles are only added
    assert counts(ctx) == (1, 1, 2)


def test_re_run_keeps_what_the_user_did_here(
    client: TestClient, ctx: Context, clock: FrozenClock, tmp_path: Path
) -> None:
    rows = [{"email": "ada@example.com", "password_hash": bcrypt_hash("old password"), "totp_secret": SECRET}]
    importer.import_users(ctx, write_csv(tmp_path / "1.csv", rows))
    login_password(client, "ada@example.com", "old password")
    assert submit_code(client, code_for(SECRET, clock)).headers["location"] == "/account"
    upgraded = user(ctx, "ada@example.com").password_hash
    with ctx.db.transaction() as db:  # the user replaced the authenticator here
        factor = db.scalar(select(Factor))
        assert factor is not None
        factor.secret_sealed = ctx.sealer.seal(OTHER_SECRET, f"user:{factor.user_id}:totp")
    report = importer.import_users(ctx, write_csv(tmp_path / "2.csv", rows))
    assert (report.kept_passwords, report.kept_authenticators, report.updated) == (1, 1, 0)
    assert user(ctx, "ada@example.com").password_hash == upgraded
    assert counts(ctx)[1] == 1


def test_batches_commit_one_by_one_and_a_re_run_finishes_an_interrupted_import(
    ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [{"email": f"user{n}@example.com", "roles": "staff", "totp_secret": SECRET} for n in range(5)]
    path = write_csv(tmp_path / "users.csv", rows)
    real = importer._apply_batch
    calls = {"n": 0}

    def crash_on_second_batch(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        result = real(*args, **kwargs)
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        return result

    monkeypatch.setattr(importer, "_apply_batch", crash_on_second_batch)
    with pytest.raises(RuntimeError):
        importer.import_users(ctx, path, batch_size=2)
    assert counts(ctx) == (2, 2, 2)  # the first batch committed, the second rolled back whole
    monkeypatch.setattr(importer, "_apply_batch", real)
    progress: list[tuple[int, int]] = []
    report = importer.import_users(ctx, path, batch_size=2, progress=lambda done, total: progress.append((done, total)))
    assert (report.created, report.unchanged) == (3, 2)
    assert counts(ctx) == (5, 5, 5)
    assert progress == [(2, 5), (4, 5), (5, 5)]


# --- imported users sign in ---------------------------------------------------------------------


def test_imported_authenticator_works_at_sign_in(
    client: TestClient, ctx: Context, clock: FrozenClock, tmp_path: Path
) -> None:
    uri = f"otpauth://totp/OldCo:ada@example.com?secret={SECRET}&issuer=OldCo&algorithm=SHA1"
    importer.import_users(
        ctx,
        write_csv(
            tmp_path / "users.csv",
            [{"email": "ada@example.com", "password_hash": bcrypt_hash(PASSWORD), "totp_uri": uri}],
        ),
    )
    response = login_password(client, "ada@example.com")
    assert response.headers["location"] == "/login/code"
    code = totp.code_at_step(SECRET, totp.step_at(clock.now()))
    assert submit_code(client, code).headers["location"] == "/account"
    assert client.get("/account").status_code == 200


@pytest.mark.parametrize(
    ("stored", "password"),
    [
        (bcrypt_hash("correct horse battery"), "correct horse battery"),
        ("$2y$" + bcrypt_hash("php password")[4:], "php password"),
        (DJANGO_PBKDF2, "lètmein"),
        (DJANGO_SCRYPT, "lètmein"),
        (PasswordHasher(time_cost=1, memory_cost=1024, type=Type.I).hash("argon2i pw"), "argon2i pw"),
        ("argon2" + PasswordHasher(time_cost=1, memory_cost=1024, type=Type.ID).hash("django argon"), "django argon"),
    ],
    ids=["bcrypt", "bcrypt-2y", "django-pbkdf2", "django-scrypt", "argon2i", "django-argon2id"],
)
def test_imported_hash_signs_in_once_and_is_replaced_by_argon2id(
    client: TestClient, ctx: Context, tmp_path: Path, stored: str, password: str
) -> None:
    importer.import_users(ctx, write_csv(tmp_path / "u.csv", [{"email": "ada@example.com", "password_hash": stored}]))
    assert login_password(client, "ada@example.com", password + "x").status_code == 401
    assert user(ctx, "ada@example.com").password_hash == stored
    response = login_password(client, "ada@example.com", password, mailbox=False)
    assert response.status_code == 303 and response.headers["location"] == "/enroll"
    ada = user(ctx, "ada@example.com")
    assert ada.password_hash is not None and ada.password_hash.startswith("$argon2id$")
    assert not ctx.hashing.needs_rehash(ada.password_hash)  # Argon2id at the configured costs
    assert not ada.password_imported
    assert ctx.hashing.verify(ada.password_hash, password)
    with ctx.db.transaction() as db:
        assert db.scalar(select(AuditEvent).where(AuditEvent.event == "authn_password_rehashed")) is not None
    client.cookies.clear()
    assert login_password(client, "ada@example.com", password, mailbox=False).headers["location"] == "/enroll"


def test_account_without_a_usable_hash_cannot_sign_in_and_is_pointed_to_the_reset(
    client: TestClient, ctx: Context, tmp_path: Path
) -> None:
    importer.import_users(ctx, write_csv(tmp_path / "u.csv", [{"email": "ada@example.com", "username": "KIN001"}]))
    for attempt in ["", "KIN001", "password", PASSWORD]:
        response = login_password(client, "ada@example.com", attempt)
        assert response.status_code == 401, attempt
        assert alerts(response.text) == ["The email address or password is not correct."]
        assert '<a href="/password/forgot">Forgot your password?</a>' in response.text


def test_legacy_username_gets_the_same_answer_whether_or_not_it_existed(
    client: TestClient, ctx: Context, tmp_path: Path
) -> None:
    importer.import_users(
        ctx,
        write_csv(
            tmp_path / "u.csv",
            [{"email": "ada@example.com", "username": "KIN001", "password_hash": bcrypt_hash("old password")}],
        ),
    )
    known = login_password(client, "KIN001", "old password")
    unknown = login_password(client, "KIN999", "old password")
    assert known.status_code == unknown.status_code == 422
    expected = "Sign in with your email address now; forgot which one? Contact help@acme.test."
    assert alerts(known.text) == alerts(unknown.text) == [expected]

    def without_token_and_typed_name(html: str) -> str:
        html = re.sub(r'name="csrf_token" value="[^"]+"', "", html)
        return html.replace("KIN001", "NAME").replace("KIN999", "NAME")

    assert without_token_and_typed_name(known.text) == without_token_and_typed_name(unknown.text)
    assert user(ctx, "ada@example.com").password_imported  # the hash was never even looked at


# --- the command --------------------------------------------------------------------------------


def run_cli(ctx: Context, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        TWOSTEP_DATABASE_URL=ctx.settings.resolved_database_url,
        TWOSTEP_DATA_DIR=str(ctx.settings.data_dir),
        TWOSTEP_SECRET_KEY=ctx.settings.secret_key_bytes.decode(),
    )
    return subprocess.run(
        [sys.executable, "-m", "twostep.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_cli_import_as_a_subprocess_dry_run_then_import(
    client: TestClient, ctx: Context, clock: FrozenClock, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "users.csv",
        [
            {
                "email": "ada@example.com",
                "roles": "staff",
                "password_hash": bcrypt_hash(PASSWORD),
                "totp_secret": SECRET,
            },
            {"email": "broken"},
        ],
    )
    dry = run_cli(ctx, "user", "import", str(path), "--dry-run")
    assert dry.returncode == 1, dry.stderr
    assert "1 accounts would be created" in dry.stdout and "line 3: broken: email:" in dry.stdout
    assert "100%" in dry.stderr and "2/2 rows" in dry.stderr
    assert counts(ctx) == (0, 0, 0)

    done = run_cli(ctx, "user", "import", str(path), "--json", "--quiet")
    assert done.returncode == 1 and done.stderr == ""
    summary = json.loads(done.stdout)
    assert (summary["created"], summary["authenticators"], summary["refused"][0]["line"]) == (1, 1, 3)
    login_password(client, "ada@example.com")
    assert submit_code(client, code_for(SECRET, clock)).headers["location"] == "/account"


def in_process_cli(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str, stdin: str = ""
) -> tuple[int, str, str]:
    """The same entry point as the installed command, without paying for a new interpreter."""
    monkeypatch.setenv("TWOSTEP_DATABASE_URL", ctx.settings.resolved_database_url)
    monkeypatch.setenv("TWOSTEP_DATA_DIR", str(ctx.settings.data_dir))
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    capsys.readouterr()
    status = cli.main(list(args))
    out = capsys.readouterr()
    return status, out.out, out.err


def test_cli_set_roles_and_create_check_role_names(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_user(ctx)
    status, out, _ = in_process_cli(
        ctx, monkeypatch, capsys, "user", "set-roles", "ada@example.com", "--role", "sensitive-data", "--role", "staff"
    )
    assert status == 0 and out.strip() == "ada@example.com: roles - -> sensitive-data, staff"
    status, _, err = in_process_cli(
        ctx, monkeypatch, capsys, "user", "set-roles", "ada@example.com", "--role", "Bad Role"
    )
    assert status == 1 and "not a role name: Bad Role" in err
    status, _, err = in_process_cli(ctx, monkeypatch, capsys, "user", "set-roles", "nobody@example.com")
    assert status == 1 and "no account with the email address nobody@example.com" in err
    status, _, err = in_process_cli(
        ctx,
        monkeypatch,
        capsys,
        "user",
        "create",
        "bob@example.com",
        "--password-stdin",
        "--role",
        "No Good",
        stdin=PASSWORD + "\n",
    )
    assert status == 2 and "--role: not a role name" in err
    status, _, _ = in_process_cli(
        ctx,
        monkeypatch,
        capsys,
        "user",
        "create",
        "bob@example.com",
        "--password-stdin",
        "--role",
        "Finance",
        stdin=PASSWORD + "\n",
    )
    assert status == 0
    with ctx.db.transaction() as db:
        assert accounts.roles_of(db, user_id_of(db, "ada@example.com")) == ["sensitive-data", "staff"]
        assert accounts.roles_of(db, user_id_of(db, "bob@example.com")) == ["finance"]


def user_id_of(db: Any, email: str) -> int:
    return int(db.scalar(select(User.id).where(User.email == email)))


def test_cli_refuses_an_unreadable_file_with_status_2(
    ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = in_process_cli(ctx, monkeypatch, capsys, "user", "import", str(tmp_path / "nope.csv"))
    assert status == 2 and "no such file" in err and "nothing was imported" in err
    path = tmp_path / "users.csv"
    path.write_text("email,password\nada@example.com,x\n", encoding="utf-8")
    status, _, err = in_process_cli(ctx, monkeypatch, capsys, "user", "import", str(path))
    assert status == 2 and "unknown column(s) password" in err
    clean = write_csv(tmp_path / "ok.csv", [{"email": "ada@example.com"}])
    status, out, _ = in_process_cli(ctx, monkeypatch, capsys, "user", "import", str(clean), "--quiet")
    assert status == 0 and "1 accounts were created" in out
    assert counts(ctx)[0] == 1


def test_re_run_keeps_a_password_reset_here(ctx: Context, tmp_path: Path) -> None:
    rows = [{"email": "ada@example.com", "password_hash": DJANGO_PBKDF2}]
    importer.import_users(ctx, write_csv(tmp_path / "1.csv", rows))
    with ctx.db.transaction() as db:  # what /password/reset does
        ada = db.scalar(select(User).where(User.email == "ada@example.com"))
        assert ada is not None
        ada.password_hash, ada.password_changed_at = ctx.hashing.hash(PASSWORD), ctx.clock.now()
    report = importer.import_users(ctx, write_csv(tmp_path / "2.csv", [{**rows[0], "password_hash": DJANGO_SCRYPT}]))
    assert report.kept_passwords == 1
    assert ctx.hashing.verify(user(ctx, "ada@example.com").password_hash, PASSWORD)
