"""Servers, services and the revision counter.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fr_server",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("protocol", sa.String(5), nullable=False),
        sa.Column("ca_bundle", sa.String(1024), nullable=True),
        sa.Column("client_cert", sa.String(1024), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "fr_service",
        sa.Column("server_name", sa.String(64), sa.ForeignKey("fr_server.name"), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("uri", sa.String(2048), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("protocol", sa.String(5), nullable=True),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    revision_table = op.create_table(
        "fr_revision",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(revision_table, [{"id": 1, "value": 0}])


def downgrade() -> None:
    op.drop_table("fr_service")
    op.drop_table("fr_server")
    op.drop_table("fr_revision")
