"""Site keys, permission grants and the nonce store of the built-in local plugins.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fr_site_key",
        sa.Column("party_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("storage", sa.String(16), nullable=False),
        sa.Column("material", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "fr_grant",
        sa.Column("party_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("value", sa.String(255), primary_key=True),
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("effect", sa.String(5), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "fr_nonce",
        sa.Column("scope", sa.String(80), primary_key=True),
        sa.Column("nonce", sa.String(128), primary_key=True),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_fr_nonce_expires_at", "fr_nonce", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_fr_nonce_expires_at", table_name="fr_nonce")
    op.drop_table("fr_nonce")
    op.drop_table("fr_grant")
    op.drop_table("fr_site_key")
