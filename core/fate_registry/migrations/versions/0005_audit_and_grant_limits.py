"""The decision audit trail (its records and the chain's head), and grants' limits: a time
window (not_before, expires_at), a number of jobs (max_uses) and the jobs counted.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

GENESIS = "0" * 64  # the hash before the first record of a chain


def upgrade() -> None:
    op.create_table(
        "fr_audit",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("decided_at", sa.BigInteger, nullable=False),
        sa.Column("decision_id", sa.String(40), nullable=False),
        sa.Column("capability", sa.String(32), nullable=False),
        sa.Column("src_party", sa.String(64), nullable=True),
        sa.Column("dest_party", sa.String(64), nullable=True),
        sa.Column("src_role", sa.String(16), nullable=True),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("job_id", sa.String(128), nullable=True),
        sa.Column("components", sa.Text, nullable=True),
        sa.Column("datasets", sa.Text, nullable=True),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("code", sa.Integer, nullable=False),
        sa.Column("plugin", sa.String(255), nullable=True),
        sa.Column("cached", sa.Boolean, nullable=False),
        sa.Column("latency_us", sa.BigInteger, nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_fr_audit_decided_at", "fr_audit", ["decided_at"])
    op.create_index("ix_fr_audit_src_party", "fr_audit", ["src_party", "decided_at"])
    op.create_index("ix_fr_audit_dest_party", "fr_audit", ["dest_party", "decided_at"])
    op.create_index("ix_fr_audit_job_id", "fr_audit", ["job_id"])
    head = op.create_table(
        "fr_audit_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("first_seq", sa.BigInteger, nullable=False),
        sa.Column("anchor_hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(
        head,
        [{"id": 1, "last_seq": 0, "last_hash": GENESIS, "first_seq": 1, "anchor_hash": GENESIS}],
    )

    with op.batch_alter_table("fr_grant") as batch:  # SQLite cannot add columns otherwise
        batch.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("max_uses", sa.Integer, nullable=True))
        batch.add_column(sa.Column("uses", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "fr_grant_use",
        sa.Column("party_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("value", sa.String(255), primary_key=True),
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("job_id", sa.String(128), primary_key=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("fr_grant_use")
    with op.batch_alter_table("fr_grant") as batch:
        for column in ("uses", "max_uses", "expires_at", "not_before"):
            batch.drop_column(column)
    op.drop_table("fr_audit_head")
    for index in ("job_id", "dest_party", "src_party", "decided_at"):
        op.drop_index(f"ix_fr_audit_{index}", table_name="fr_audit")
    op.drop_table("fr_audit")
