"""digest: one message per digest channel and interval; delivery.digest_id says which one carries it

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("period_end", storage.models.UTCDateTime(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("claimed_until", storage.models.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", storage.models.UTCDateTime(), nullable=True),
        sa.UniqueConstraint("channel", "period_end"),
    )
    op.create_index("ix_digest_state", "digest", ["state"])
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("digest_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_delivery_digest_id", "digest", ["digest_id"], ["id"])
        batch.create_index("ix_delivery_digest_id", ["digest_id"])


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_index("ix_delivery_digest_id")
        batch.drop_constraint("fk_delivery_digest_id", type_="foreignkey")
        batch.drop_column("digest_id")
    op.drop_index("ix_digest_state", table_name="digest")
    op.drop_table("digest")
