"""One typed Settings object: the only reader of the environment and of the TOML file."""

from __future__ import annotations

import errno
import logging
import os
import secrets
import stat
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_CONFIG_FILE = "twostep.toml"


def config_file() -> Path | None:
    """The configuration file: the one TWOSTEP_CONFIG names, else ./twostep.toml when it exists."""
    named = os.environ.get("TWOSTEP_CONFIG")
    if named:
        return Path(named)
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the optional TOML file (same keys, lower case, no prefix), for `serve` and every CLI
    command alike; the environment overrides it."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = config_file()
        if path is None:
            return {}
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
        return {key.lower().removeprefix("twostep_"): value for key, value in data.items()}


class Settings(BaseSettings):
    """Configuration of one twostep instance; see docs/operations.md's configuration table."""

    model_config = SettingsConfigDict(env_prefix="TWOSTEP_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("./var")
    database_url: str = ""
    secret_key: SecretStr | None = None
    # Keys used before the last rotation (comma-separated, newest first): still open old sealed values
    # and still match old digests. The data dir's secret_key.previous file adds to these (docs/operations.md).
    previous_secret_keys: SecretStr | None = None
    base_url: str = "http://127.0.0.1:8000"
    service_name: str = "twostep"
    support_email: str = ""
    # Identity on every page (docs/operations.md "Looks"): a logo shown before the service name (a
    # path on this site, or an https:// URL whose origin the CSP then allows for images), and the
    # accent colour of links and buttons (#rrggbb, at least 4.5:1 against white; checked at start).
    logo_url: str = ""
    accent_color: str = ""
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
    # "on": an account's first method is bound only after an emailed code proves the sign-in mailbox,
    # so a leaked or imported password alone can never bind an attacker's authenticator.
    enroll_mailbox_check: bool = True
    redis_url: str = ""
    redis_prefix: str = "twostep:"
    log_format: Literal["text", "json"] = "text"
    default_language: Literal["en", "pl", "nl", "sv"] = "en"
    # Peers (addresses or networks) whose X-Forwarded-* headers are believed; everyone else's are ignored.
    trusted_proxies: str = "127.0.0.1/32,::1/128"
    # Forward-auth (docs/forward-auth.md): the session cookie's parent domain (empty: host only), and
    # the access rules ([[access_rules]] in the configuration file), checked at start.
    cookie_domain: str = ""
    access_rules: tuple[dict[str, Any], ...] = ()
    # How long a reverse proxy may keep an allowed forward-auth answer (X-Accel-Expires, honoured by
    # docs/forward-auth/nginx-cache.conf), never past the session's end or a step-up window's; 0: no
    # answer may be kept, every request is checked (a revocation then counts at the next request).
    forward_auth_cache_seconds: int = Field(default=0, ge=0, le=60)
    password_min_length: int = Field(default=12, ge=8, le=128)
    # Rolling out 2FA (docs/admin.md). An administrator may override these at /admin/policy.
    twofa_required: Literal["all", "roles", "optional"] = "all"
    twofa_required_roles: str = ""
    twofa_immediate_roles: str = ""
    twofa_allowed_methods: str = "passkey,totp,sms,email"
    twofa_grace_days: int = Field(default=0, ge=0, le=3650)
    twofa_grace_sign_ins: int = Field(default=0, ge=0, le=1000)
    # Passkeys (docs/operations.md#passkeys): a passkey alone may sign in (no password, no code);
    # off: passkeys are a second step only. An administrator may override it at /admin/policy.
    passkey_sign_in: bool = True
    # The WebAuthn RP ID: empty = the base URL's host; a parent domain of it to share passkeys with
    # sibling sites. Changing it later makes every registered passkey unusable.
    webauthn_rp_id: str = ""
    # AAGUIDs of the authenticator models that may be registered (comma-separated); empty = any.
    # When set, registration asks for attestation ("direct") so the authenticator states its model.
    webauthn_allowed_aaguids: str = ""
    password_require_lower: bool = False
    password_require_upper: bool = False
    password_require_digit: bool = False
    password_require_symbol: bool = False
    password_check_common: bool = True
    argon2_time_cost: int = Field(default=2, ge=2)
    argon2_memory_kib: int = Field(default=19456, ge=19456)
    argon2_parallelism: int = Field(default=1, ge=1)
    api_rate_limit_per_minute: int = Field(default=6000, ge=1)
    # Expired sessions, codes, devices and counters are deleted this often by each worker (0: never;
    # `twostep purge` does it on demand). services.purge.
    purge_interval_seconds: float = Field(default=300, ge=0)
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

    @field_validator("accent_color")
    @classmethod
    def _readable_accent(cls, value: str) -> str:
        """Refused at start with the contrast named, never a page nobody can read."""
        from twostep.domain.colours import checked_accent, hex_of

        return hex_of(checked_accent(value)) if value.strip() else ""

    @field_validator("logo_url")
    @classmethod
    def _logo_where_images_may_come_from(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return ""
        parts = urlsplit(value)
        local = value.startswith("/") and not value.startswith("//") and not parts.scheme
        remote = parts.scheme == "https" and bool(parts.hostname) and not parts.username
        if not (local or remote) or any(ch in value for ch in "\\\"' <>"):
            raise ValueError("TWOSTEP_LOGO_URL must be a path on this site (/logo.svg) or an https:// URL")
        return value

    @property
    def logo_origin(self) -> str:
        """The logo's origin when it is on another host (the CSP's img-src allows it), else ""."""
        parts = urlsplit(self.logo_url)
        return f"https://{parts.netloc}" if parts.scheme == "https" else ""

    @field_validator("access_rules", mode="before")
    @classmethod
    def _valid_access_rules(cls, value: Any) -> Any:
        """Refused at start with the rule and key named, never at the first request."""
        from twostep.domain.authz import parse_rules

        parse_rules(list(value) if isinstance(value, tuple) else value)
        return value

    @model_validator(mode="after")
    def _cookie_domain_covers_base_url(self) -> Settings:
        domain = self.cookie_domain.strip().lower().lstrip(".")
        if not domain:
            return self
        host = (urlsplit(self.base_url).hostname or "").lower()
        if not (host == domain or host.endswith("." + domain)) or "." not in domain.strip("."):
            raise ValueError(
                f"TWOSTEP_COOKIE_DOMAIN={self.cookie_domain!r} must be a parent domain of the base URL's host {host!r}"
            )
        if domain != self.cookie_domain:
            object.__setattr__(self, "cookie_domain", domain)
        return self

    @model_validator(mode="after")
    def _rp_id_covers_base_url(self) -> Settings:
        """An explicit RP ID must be the base URL's host or a parent domain of it (a browser refuses
        anything else): refused at start, never at the first passkey."""
        if self.webauthn_rp_id.strip():
            from twostep.domain.passkeys import rp_id_problem

            problem = rp_id_problem(self.base_url, self.webauthn_rp_id)
            if problem is not None:
                raise ValueError(f"TWOSTEP_WEBAUTHN_RP_ID={self.webauthn_rp_id!r}: {problem}")
        return self

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

    @property
    def previous_secret_keys_bytes(self) -> list[bytes]:
        """The keyring after the current key: previous keys, newest first."""
        if self.previous_secret_keys is None:
            return []
        return [key.strip().encode() for key in self.previous_secret_keys.get_secret_value().split(",") if key.strip()]

    @property
    def secret_key_file(self) -> Path:
        return self.data_dir / SECRET_KEY_FILE

    @property
    def previous_keys_file(self) -> Path:
        return self.data_dir / PREVIOUS_KEYS_FILE


SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name
PREVIOUS_KEYS_FILE = "secret_key.previous"
MIN_KEY_LENGTH = 32
log = logging.getLogger("twostep")


class KeyFileError(ValueError):
    """A secret key (file or variable) that must not be used: too short, or readable by others."""


def secure_data_dir(data_dir: Path) -> None:
    """Create the data directory 0700; tighten an existing looser one (its files are secrets), or warn
    when it belongs to someone else and can't be changed."""
    if not data_dir.exists():
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(data_dir.stat().st_mode)
    if mode & 0o077:
        try:
            data_dir.chmod(mode & 0o700)
            log.warning("data directory %s was mode %04o; tightened to %04o", data_dir, mode, mode & 0o700)
        except OSError as error:
            if error.errno != errno.EROFS:  # read-only: the data-directory check says so, once
                log.warning("data directory %s is mode %04o (group/others can enter); run: chmod 700 %s",
                            data_dir, mode, data_dir)


def _read_key_file(path: Path) -> str:
    """A key file must be readable by its owner only, and hold a key of at least 32 characters."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(
            f"{path} is readable or writable by group or others (mode {mode:04o}); run: chmod 600 {path}"
        )
    return path.read_text().strip()


def _read_or_create_secret_key(data_dir: Path) -> str:
    """The key is generated once, never printed, and kept readable by its owner only (0600)."""
    secure_data_dir(data_dir)
    key_file = data_dir / SECRET_KEY_FILE
    if key_file.exists():
        key = _read_key_file(key_file)
        if len(key) < MIN_KEY_LENGTH:
            raise KeyFileError(
                f"{key_file} holds {'no key' if not key else 'a key shorter than 32 characters'}; "
                "restore the right key from your backup (or, on a new install with no data, delete the file "
                "so a new key is generated)"
            )
        return key
    key = secrets.token_urlsafe(48)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def _read_previous_keys(data_dir: Path) -> list[str]:
    path = data_dir / PREVIOUS_KEYS_FILE
    if not path.exists():
        return []
    keys = [line.strip() for line in _read_key_file(path).splitlines() if line.strip()]
    if any(len(key) < MIN_KEY_LENGTH for key in keys):
        raise KeyFileError(f"{path} holds a key shorter than 32 characters; each line must be a whole previous key")
    return keys


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment (and TOML file), generating the secret key if needed."""
    settings = Settings(**overrides)
    if settings.secret_key is None:
        key = _read_or_create_secret_key(settings.data_dir)
        settings = settings.model_copy(update={"secret_key": SecretStr(key)})
    elif len(settings.secret_key.get_secret_value().strip()) < MIN_KEY_LENGTH:
        raise KeyFileError("TWOSTEP_SECRET_KEY must be at least 32 characters (e.g. `openssl rand -base64 48`)")
    previous = [key.decode() for key in settings.previous_secret_keys_bytes]
    if any(len(key) < MIN_KEY_LENGTH for key in previous):
        raise KeyFileError("every key in TWOSTEP_PREVIOUS_SECRET_KEYS must be at least 32 characters")
    from_file = _read_previous_keys(settings.data_dir) if settings.data_dir.is_dir() else []
    if from_file:
        settings = settings.model_copy(update={"previous_secret_keys": SecretStr(",".join(previous + from_file))})
    if settings.database_url == "" or settings.database_url.startswith("sqlite"):
        secure_data_dir(settings.data_dir)
    return settings


def startup_warnings(settings: Settings) -> list[str]:
    """Settings that weaken a default, said once at start so an operator can't miss them."""
    warnings = []
    if not settings.enroll_mailbox_check:
        warnings.append(
            "TWOSTEP_ENROLL_MAILBOX_CHECK is off: anyone who knows (or imported) an account's password can bind "
            "their own authenticator to an account that has no method yet"
        )
    from twostep.domain.passkeys import rp_id_problem

    problem = rp_id_problem(settings.base_url, settings.webauthn_rp_id)
    host = (urlsplit(settings.base_url).hostname or "").lower()
    if problem is not None and not host.startswith("127.") and host != "::1":  # not the development default
        warnings.append(f"passkeys are off: {problem}; set TWOSTEP_BASE_URL to the https:// address users open")
    return warnings
