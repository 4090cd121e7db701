"""The secret key refuses to be weak or exposed; the data directory, the SQLite database (and its WAL
and shared-memory files) and the key files are private to the service's user."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from twostep.domain.sealing import Digester, Sealer, SealError
from twostep.settings import KeyFileError, load_settings
from twostep.storage.database import Database
from twostep.storage.migrate import upgrade

KEY = "k" * 40


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def no_environment_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("TWOSTEP_")]:
        monkeypatch.delenv(name)


@pytest.mark.parametrize("content", ["", "\n", "short-key", "x" * 31])
def test_an_empty_or_short_key_file_is_refused(tmp_path: Path, content: str) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "secret_key").write_text(content)
    (data / "secret_key").chmod(0o600)
    with pytest.raises(KeyFileError, match=r"secret_key holds .*restore the right key"):
        load_settings(data_dir=data)


def test_a_short_secret_key_variable_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWOSTEP_SECRET_KEY", "x" * 31)
    with pytest.raises(KeyFileError, match="at least 32 characters"):
        load_settings(data_dir=tmp_path / "data")
    monkeypatch.setenv("TWOSTEP_SECRET_KEY", " " * 40)
    with pytest.raises(KeyFileError, match="at least 32 characters"):
        load_settings(data_dir=tmp_path / "data")
    monkeypatch.setenv("TWOSTEP_SECRET_KEY", "x" * 32)
    assert load_settings(data_dir=tmp_path / "data").secret_key_bytes == b"x" * 32


@pytest.mark.parametrize("loose", [0o640, 0o604, 0o620, 0o602, 0o644, 0o666])
@pytest.mark.parametrize("name", ["secret_key", "secret_key.previous"])
def test_a_key_file_readable_or_writable_by_others_is_refused_with_the_fix(
    tmp_path: Path, loose: int, name: str
) -> None:
    data = tmp_path / "data"
    load_settings(data_dir=data)  # generates secret_key
    path = data / name
    if name != "secret_key":
        path.write_text(KEY + "\n")
    path.chmod(loose)
    with pytest.raises(KeyFileError) as refused:
        load_settings(data_dir=data)
    message = str(refused.value)
    assert str(path) in message and f"chmod 600 {path}" in message and "\n" not in message


def test_the_cli_names_the_key_file_problem_on_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from twostep import cli

    data = tmp_path / "data"
    load_settings(data_dir=data)
    (data / "secret_key").chmod(0o644)
    monkeypatch.setenv("TWOSTEP_DATA_DIR", str(data))
    assert cli.main(["user", "list"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "chmod 600" in err and str(data / "secret_key") in err


def test_a_generated_key_is_long_and_private(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    assert len(settings.secret_key_bytes) >= 32
    assert mode(tmp_path / "data" / "secret_key") == 0o600
    assert mode(tmp_path / "data") == 0o700


def test_a_loose_existing_data_directory_is_tightened(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    load_settings(data_dir=data)
    assert mode(data) == 0o700
    assert "tightened" in caplog.text


def test_the_sqlite_database_and_its_wal_and_shm_files_are_private(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    upgrade(settings.resolved_database_url)
    database = Database(settings.resolved_database_url)
    try:
        with database.transaction() as db:  # a write: the WAL and shared-memory files now exist
            db.execute(text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
            db.execute(text("INSERT INTO probe VALUES (1)"))
        files = [tmp_path / "data" / name for name in ("twostep.db", "twostep.db-wal", "twostep.db-shm")]
        assert all(path.exists() for path in files)
        assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}
    finally:
        database.dispose()


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    upgrade(settings.resolved_database_url)
    for name in ("twostep.db", "twostep.db-wal", "twostep.db-shm"):
        path = tmp_path / "data" / name
        path.touch()
        path.chmod(0o644)
    Database(settings.resolved_database_url).dispose()
    assert {mode(tmp_path / "data" / n) for n in ("twostep.db", "twostep.db-wal", "twostep.db-shm")} == {0o600}


def test_a_sealed_value_names_its_key_and_old_format_values_still_open() -> None:
    old, new = b"o" * 40, b"n" * 40
    sealer = Sealer(new, [old])
    sealed = sealer.seal("seed", "user:1:totp")
    assert sealed[:1] == b"\x02" and sealer.is_current(sealed)
    assert Sealer(new).open(sealed, "user:1:totp") == "seed"
    with pytest.raises(SealError, match="not in the keyring"):
        Sealer(old).open(sealed, "user:1:totp")
    # format 1 (before key ids): opens with whichever key of the ring sealed it
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from twostep.domain.sealing import derive_key

    nonce = os.urandom(12)
    v1 = b"\x01" + nonce + AESGCM(derive_key(old, "twostep/seal/v1")).encrypt(nonce, b"seed", b"user:1:totp")
    assert sealer.open(v1, "user:1:totp") == "seed" and not sealer.is_current(v1)
    with pytest.raises(SealError):
        Sealer(new).open(v1, "user:1:totp")
    # a previous key's sealed value opens with the ring that still holds it
    assert sealer.open(Sealer(old).seal("seed", "user:1:totp"), "user:1:totp") == "seed"


def test_digests_match_under_previous_keys_but_new_ones_use_the_current_key() -> None:
    old, new = b"o" * 40, b"n" * 40
    ring = Digester(new, [old])
    stored = Digester(old).digest("token", "session")
    assert ring.matches("token", stored, "session") and not Digester(new).matches("token", stored, "session")
    assert ring.digest("token", "session") == Digester(new).digest("token", "session")
    assert ring.candidates("token", "session") == [Digester(new).digest("token", "session"), stored]
