"""One typed Settings object: the only reader of the environment and of the TOML file."""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the optional TOML file named by TWOSTEP_CONFIG (same keys, lower case, no prefix)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("TWOSTEP_CONFIG")
        if not path:
            return {}
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
        return {key.lower().removeprefix("twostep_"): value for key, value in data.items()}


class Settings(BaseSettings):
    """Configuration of one twostep instance; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="TWOSTEP_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("./var")
    database_url: str = ""
    secret_key: SecretStr | None = None
    base_url: str = "http://127.0.0.1:8000"
    service_name: str = "twostep"
    support_email: str = ""
    smtp_url: SecretStr | None = None
    smtp_timeout_seconds: float = 10.0
    mail_from: str = "twostep@localhost"
    sms_webhook_url: str = ""
    sms_webhook_token: SecretStr | None = None
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr | None = None
    twilio_from: str = ""
    twilio_base_url: str = "https://api.twilio.com"
    sms_gateways: str = ""
    sms_enabled: bool = True
    # With no SMS gateway configured, SMS is off unless this is set: codes are then written to the
    # log instead of sent (development only; app.build_context warns at start-up).
    sms_log_only: bool = False
    sms_allowed_countries: str = ""
    default_country: str = ""
    remember_device_days: int = Field(default=14, ge=0, le=365)
    redis_url: str = ""
    redis_prefix: str = "twostep:"
    log_format: Literal["text", "json"] = "text"
    default_language: Literal["en", "pl", "nl", "sv"] = "en"
    trusted_proxies: str = ""
    password_min_length: int = Field(default=12, ge=8, le=128)
    # Rolling out 2FA (docs/rollout.md). An administrator may override these at /admin/policy.
    twofa_required: Literal["all", "roles", "optional"] = "all"
    twofa_required_roles: str = ""
    twofa_immediate_roles: str = ""
    twofa_allowed_methods: str = "totp,sms,email"
    twofa_grace_days: int = Field(default=0, ge=0, le=3650)
    twofa_grace_sign_ins: int = Field(default=0, ge=0, le=1000)
    password_require_lower: bool = False
    password_require_upper: bool = False
    password_require_digit: bool = False
    password_require_symbol: bool = False
    password_check_common: bool = True
    argon2_time_cost: int = Field(default=2, ge=2)
    argon2_memory_kib: int = Field(default=19456, ge=19456)
    argon2_parallelism: int = Field(default=1, ge=1)
    api_rate_limit_per_minute: int = Field(default=6000, ge=1)
    # When set, GET /metrics wants "Authorization: Bearer <token>" (Prometheus: authorization.credentials);
    # when empty, only local clients may scrape (web.metrics.scrape_allowed).
    metrics_token: SecretStr | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlFileSource(settings_cls))

    @field_validator("twofa_required_roles", "twofa_immediate_roles", "twofa_allowed_methods", mode="before")
    @classmethod
    def _list_as_text(cls, value: Any) -> Any:
        """The TOML file may give a list (["a", "b"]); the environment gives "a,b"."""
        return ",".join(str(item) for item in value) if isinstance(value, list | tuple) else value

    @field_validator("base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def uses_https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'twostep.db'}"

    @property
    def secret_key_bytes(self) -> bytes:
        if self.secret_key is None:
            raise RuntimeError("secret key not resolved; build settings with load_settings()")
        return self.secret_key.get_secret_value().encode()


def _read_or_create_secret_key(data_dir: Path) -> str:
    """The key is generated once, never printed, and kept readable by its owner only (0600)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    key_file = data_dir / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    key = secrets.token_urlsafe(48)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment (and TOML file), generating the secret key if needed."""
    settings = Settings(**overrides)
    if settings.secret_key is None:
        key = _read_or_create_secret_key(settings.data_dir)
        settings = settings.model_copy(update={"secret_key": SecretStr(key)})
    elif len(settings.secret_key.get_secret_value()) < 32:
        raise ValueError("TWOSTEP_SECRET_KEY must be at least 32 characters")
    if settings.database_url == "" or settings.database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings
