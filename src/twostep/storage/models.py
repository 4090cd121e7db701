"""Tables. Secrets never appear in clear: seeds and addresses are sealed, codes and tokens digested."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: DateTime(timezone=True)}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str | None] = mapped_column(String(8))
    legacy_username: Mapped[str | None] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime | None]
    last_sign_in_at: Mapped[datetime | None]
    sign_in_count: Mapped[int] = mapped_column(Integer, default=0)
    last_method: Mapped[str | None] = mapped_column(String(16))
    must_enroll: Mapped[bool] = mapped_column(Boolean, default=False)
    # Rollout (services.policy): when the 2FA requirement first met this user, and how many
    # sign-ins they have made since without enrolling ("Later").
    grace_started_at: Mapped[datetime | None]
    grace_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    # Import (services.importer): the stored hash came from another system and was never used here.
    password_imported: Mapped[bool] = mapped_column(Boolean, default=False)
    imported_at: Mapped[datetime | None]
    # Invitations (services.admin.users): when an administrator last invited the account, and until
    # when that invitation's set-password code works. Accepted once the account has a password.
    invited_at: Mapped[datetime | None]
    invitation_expires_at: Mapped[datetime | None]


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (Index("ix_user_roles_role", "role"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(64), primary_key=True)


class Factor(Base):
    """A second-step method. Unconfirmed rows are enrollments in progress (expire after 10 min)."""

    __tablename__ = "factors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    target_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    target_digest: Mapped[str | None] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)
    # An enrollment in progress belongs to the session that started it (its id), never to the user:
    # another browser signed in with the same password must never see or confirm it.
    pending_session: Mapped[str | None] = mapped_column(String(64))
    # Set after too many consecutive wrong codes (NIST SP 800-63B-4): unusable until recovery.
    disabled_at: Mapped[datetime | None]


class PasskeyCredential(Base):
    """The WebAuthn half of a passkey method (its ``factors`` row holds the name, the dates and the
    disabled flag, as for every method): the public key and what the authenticator said about itself.
    Nothing here is secret; the private key never leaves the authenticator."""

    __tablename__ = "passkey_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    factor_id: Mapped[int] = mapped_column(ForeignKey("factors.id", ondelete="CASCADE"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # base64url of the raw id (at most 1023 bytes: 1364 characters)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE_Key
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[str] = mapped_column(String(200), default="")  # comma-separated hints
    aaguid: Mapped[str] = mapped_column(String(36), default="")
    backup_eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    user_handle: Mapped[str] = mapped_column(String(128), default="")  # base64url, opaque, per account
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]


class PasskeyChallenge(Base):
    """A WebAuthn challenge waiting for its answer: bound to one browser session (``bound_to``) and
    one purpose, valid five minutes, deleted by the one answer that uses it (a compare-and-set
    ``DELETE``: of concurrent answers exactly one finds the row)."""

    __tablename__ = "passkey_challenges"
    __table_args__ = (Index("ix_passkey_challenges_bound_to", "bound_to", "purpose"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    challenge: Mapped[str] = mapped_column(String(128), unique=True)  # base64url
    bound_to: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class OneTimeCode(Base):
    __tablename__ = "one_time_codes"
    __table_args__ = (Index("ix_one_time_codes_user_purpose", "user_id", "purpose"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    factor_id: Mapped[int | None] = mapped_column(ForeignKey("factors.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(32))
    code_digest: Mapped[str] = mapped_column(String(64))
    bound_to: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    wrong_tries: Mapped[int] = mapped_column(Integer, default=0)


class WebSession(Base):
    """Server-side session; the cookie carries a random token whose digest is the key here."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    code_attempts: Mapped[int] = mapped_column(Integer, default=0)
    method: Mapped[str | None] = mapped_column(String(16))
    password_at: Mapped[datetime | None]
    second_step_at: Mapped[datetime | None]
    via_remembered_device: Mapped[bool] = mapped_column(Boolean, default=False)
    must_replace_method: Mapped[bool] = mapped_column(Boolean, default=False)
    # When this session proved the sign-in mailbox (an emailed code), or was exempt from proving it
    # (the one-time setup link): needed before binding the first method of an account with none.
    mailbox_proven_at: Mapped[datetime | None]
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    data: Mapped[str] = mapped_column(Text, default="{}")


class RememberedDevice(Base):
    __tablename__ = "remembered_devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    browser: Mapped[str] = mapped_column(String(200), default="")


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class Throttle(Base):
    """Consecutive failures per key (see domain.throttle); survives sign-ins and new codes."""

    __tablename__ = "throttles"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class RateCounter(Base):
    """Fixed-window counters for sends and requests (per user, address, IP, API key)."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # BigInteger: cooldown rows (window_start 0) keep an epoch second here (services.rate_limits).
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class AuditEvent(Base):
    """Append-only; user ids are kept as plain numbers so events outlive deleted accounts."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_user", "user_id"),
        Index("ix_audit_events_event_at", "event", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime]
    event: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), default="success")
    user_id: Mapped[int | None] = mapped_column(Integer)
    user_email: Mapped[str] = mapped_column(String(320), default="")
    actor_id: Mapped[int | None] = mapped_column(Integer)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class SetupToken(Base):
    __tablename__ = "setup_tokens"

    token_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("key_digest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    key_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class PolicySetting(Base):
    """A policy value an administrator saved at /admin/policy; it overrides the configuration file."""

    __tablename__ = "policy_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]
    updated_by: Mapped[int | None] = mapped_column(Integer)


class BrandingImage(Base):
    """An image an administrator uploaded at /admin/appearance (today only ``name="logo"``), kept in
    the database so that every instance serves the same one. Checked by ``domain.logo`` first."""

    __tablename__ = "branding_images"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    digest: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]
    updated_by: Mapped[int | None] = mapped_column(Integer)


class QueuedInvitation(Base):
    """One person of an "Invite users" list (``batch``), and where their invitation stands:
    ``queued`` → ``sending`` → ``sent`` or ``failed`` (services.admin.invitation_queue sends them
    after the answer; no code is kept here: it is made when the mail leaves); ``existing`` and
    ``refused`` (with ``reason``) were never to be sent, and are kept so the batch's page can say so."""

    __tablename__ = "invitation_queue"
    __table_args__ = (Index("ix_invitation_queue_state_claimed_at", "state", "claimed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch: Mapped[str] = mapped_column(String(32), index=True)
    email: Mapped[str] = mapped_column(String(320))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# --- OpenID Connect provider (services.oidc) -------------------------------------------------------


class OidcClient(Base):
    """An application that signs its users in through twostep. The secret is kept as a digest only."""

    __tablename__ = "oidc_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_digest: Mapped[str | None] = mapped_column(String(64))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    # JSON lists; redirect URIs are compared exactly (no prefix, no wildcard).
    redirect_uris: Mapped[str] = mapped_column(Text, default="[]")
    post_logout_uris: Mapped[str] = mapped_column(Text, default="[]")
    scopes: Mapped[str] = mapped_column(String(500), default="openid profile email groups offline_access")
    # Empty: client_secret_basic and client_secret_post both accepted; else the one pinned method.
    auth_method: Mapped[str] = mapped_column(String(32), default="")
    claims_in_userinfo_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    secret_rotated_at: Mapped[datetime | None]


class OidcSigningKey(Base):
    """An ID-token signing key; the private half sealed at rest. Retired keys stay published in the
    JWKS until ``publish_until`` (the last token signed with them has expired)."""

    __tablename__ = "oidc_signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    private_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
    publish_until: Mapped[datetime | None]


class OidcPendingRequest(Base):
    """An authorization request waiting for its user to sign in (``/oauth2/authorize/resume``)."""

    __tablename__ = "oidc_pending_requests"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    query: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class OidcAuthorizationCode(Base):
    """A code (digest) with what it grants; consumed by one compare-and-set on ``used_at``."""

    __tablename__ = "oidc_codes"

    code_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(500))
    nonce: Mapped[str | None] = mapped_column(String(500))
    code_challenge: Mapped[str | None] = mapped_column(String(200))
    code_challenge_method: Mapped[str | None] = mapped_column(String(16))
    auth_time: Mapped[int] = mapped_column(BigInteger)
    amr: Mapped[str] = mapped_column(String(200))
    acr: Mapped[str] = mapped_column(String(200))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class OidcToken(Base):
    """An access token and its refresh token (digests). One ``family`` per authorization code: a
    reused code or refresh token revokes the whole family."""

    __tablename__ = "oidc_tokens"
    __table_args__ = (Index("ix_oidc_tokens_family", "family"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    family: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(500))
    access_digest: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime]
    access_expires_at: Mapped[datetime]
    refresh_expires_at: Mapped[datetime | None] = mapped_column(index=True)
    # Set when this refresh token was exchanged for a new one; presenting it again is a reuse.
    refresh_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    auth_time: Mapped[int] = mapped_column(BigInteger)
    amr: Mapped[str] = mapped_column(String(200))
    acr: Mapped[str] = mapped_column(String(200))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)


class OidcVerifiedEmail(Base):
    """The sign-in address a user proved by an emailed code (valid while it is still their address)."""

    __tablename__ = "oidc_verified_emails"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    verified_at: Mapped[datetime]
