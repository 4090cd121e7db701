"""Settings: environment and TOML file, the generated secret key, https consequences."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from twostep.settings import load_settings


def test_secret_key_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_settings(data_dir=tmp_path)
    second = load_settings(data_dir=tmp_path)
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert first.secret_key_bytes == second.secret_key_bytes and len(first.secret_key_bytes) >= 48


def test_environment_variables_configure_the_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWOSTEP_SERVICE_NAME", "Kinto")
    monkeypatch.setenv("TWOSTEP_REMEMBER_DEVICE_DAYS", "0")
    monkeypatch.setenv("TWOSTEP_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.service_name == "Kinto" and settings.remember_device_days == 0
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'twostep.db'}"


def test_toml_file_named_by_twostep_config_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "twostep.toml"
    config.write_text('service_name = "Cozone"\nsupport_email = "2fa@example.com"\n')
    monkeypatch.setenv("TWOSTEP_CONFIG", str(config))
    settings = load_settings(data_dir=tmp_path)
    assert settings.service_name == "Cozone" and settings.support_email == "2fa@example.com"


def test_environment_wins_over_the_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "twostep.toml"
    config.write_text('service_name = "FromFile"\n')
    monkeypatch.setenv("TWOSTEP_CONFIG", str(config))
    monkeypatch.setenv("TWOSTEP_SERVICE_NAME", "FromEnv")
    assert load_settings(data_dir=tmp_path).service_name == "FromEnv"


def test_short_secret_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        load_settings(data_dir=tmp_path, secret_key="too-short")


def test_https_base_url_turns_on_secure_cookies(tmp_path: Path) -> None:
    assert load_settings(data_dir=tmp_path, base_url="https://2fa.example.com/").uses_https
    assert not load_settings(data_dir=tmp_path).uses_https
