"""Health checks: a service's optional HTTP check, the last result of every check, and the
lease that elects one prober per database.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fr_service") as batch:  # SQLite cannot add columns otherwise
        batch.add_column(sa.Column("check_method", sa.String(8), nullable=True))
        batch.add_column(sa.Column("check_path", sa.String(2048), nullable=True))
        batch.add_column(sa.Column("check_status", sa.Integer, nullable=True))
        batch.add_column(sa.Column("check_timeout", sa.Float, nullable=True))
    op.create_table(
        "fr_check",
        sa.Column("server_name", sa.String(64), primary_key=True),
        sa.Column("service_name", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("output", sa.String(512), nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "fr_lease",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("fr_lease")
    op.drop_table("fr_check")
    with op.batch_alter_table("fr_service") as batch:
        for column in ("check_timeout", "check_status", "check_path", "check_method"):
            batch.drop_column(column)
