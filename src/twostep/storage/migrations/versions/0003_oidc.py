"""OpenID Connect provider: clients, signing keys (sealed), pending requests, codes, tokens

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "oidc_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret_digest", sa.String(length=64), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("redirect_uris", sa.Text(), nullable=False),
        sa.Column("post_logout_uris", sa.Text(), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("auth_method", sa.String(length=32), nullable=False),
        sa.Column("claims_in_userinfo_only", sa.Boolean(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("secret_rotated_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_clients")),
        sa.UniqueConstraint("client_id", name=op.f("uq_oidc_clients_client_id")),
    )
    op.create_table(
        "oidc_signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("private_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("public_jwk", sa.Text(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("retired_at", WHEN, nullable=True),
        sa.Column("publish_until", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_oidc_signing_keys")),
    )
    op.create_table(
        "oidc_pending_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_pending_requests")),
    )
    op.create_index(op.f("ix_oidc_pending_requests_expires_at"), "oidc_pending_requests", ["expires_at"])
    op.create_table(
        "oidc_codes",
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scope", sa.String(length=500), nullable=False),
        sa.Column("nonce", sa.String(length=500), nullable=True),
        sa.Column("code_challenge", sa.String(length=200), nullable=True),
        sa.Column("code_challenge_method", sa.String(length=16), nullable=True),
        sa.Column("auth_time", sa.BigInteger(), nullable=False),
        sa.Column("amr", sa.String(length=200), nullable=False),
        sa.Column("acr", sa.String(length=200), nullable=False),
        sa.Column("email_verified", sa.Boolean(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("used_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_oidc_codes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("code_digest", name=op.f("pk_oidc_codes")),
    )
    op.create_index(op.f("ix_oidc_codes_user_id"), "oidc_codes", ["user_id"])
    op.create_index(op.f("ix_oidc_codes_expires_at"), "oidc_codes", ["expires_at"])
    op.create_table(
        "oidc_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=500), nullable=False),
        sa.Column("access_digest", sa.String(length=64), nullable=False),
        sa.Column("refresh_digest", sa.String(length=64), nullable=True),
        sa.Column("issued_at", WHEN, nullable=False),
        sa.Column("access_expires_at", WHEN, nullable=False),
        sa.Column("refresh_expires_at", WHEN, nullable=True),
        sa.Column("refresh_used_at", WHEN, nullable=True),
        sa.Column("revoked_at", WHEN, nullable=True),
        sa.Column("auth_time", sa.BigInteger(), nullable=False),
        sa.Column("amr", sa.String(length=200), nullable=False),
        sa.Column("acr", sa.String(length=200), nullable=False),
        sa.Column("email_verified", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_oidc_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_tokens")),
        sa.UniqueConstraint("access_digest", name=op.f("uq_oidc_tokens_access_digest")),
        sa.UniqueConstraint("refresh_digest", name=op.f("uq_oidc_tokens_refresh_digest")),
    )
    op.create_index("ix_oidc_tokens_family", "oidc_tokens", ["family"])
    op.create_index(op.f("ix_oidc_tokens_user_id"), "oidc_tokens", ["user_id"])
    op.create_index(op.f("ix_oidc_tokens_refresh_expires_at"), "oidc_tokens", ["refresh_expires_at"])
    op.create_table(
        "oidc_verified_emails",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("verified_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_oidc_verified_emails_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_oidc_verified_emails")),
    )


def downgrade() -> None:
    op.drop_table("oidc_verified_emails")
    op.drop_index(op.f("ix_oidc_tokens_refresh_expires_at"), table_name="oidc_tokens")
    op.drop_index(op.f("ix_oidc_tokens_user_id"), table_name="oidc_tokens")
    op.drop_index("ix_oidc_tokens_family", table_name="oidc_tokens")
    op.drop_table("oidc_tokens")
    op.drop_index(op.f("ix_oidc_codes_expires_at"), table_name="oidc_codes")
    op.drop_index(op.f("ix_oidc_codes_user_id"), table_name="oidc_codes")
    op.drop_table("oidc_codes")
    op.drop_index(op.f("ix_oidc_pending_requests_expires_at"), table_name="oidc_pending_requests")
    op.drop_table("oidc_pending_requests")
    op.drop_table("oidc_signing_keys")
    op.drop_table("oidc_clients")
