"""feed.poll_interval_minutes and feed.poll_claim: the worker pool's adaptive interval and claim counter

poll_interval_minutes: the interval this feed has adapted to (NULL: the configured one until it has
been polled with poll.adaptive on). poll_claim: bumped each time a worker pool claims the feed for a
poll; a poll job carries the number it was deferred with and runs only if the row still holds it, so
a retried job and a new claim never both poll the feed.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feed") as batch:
        batch.add_column(sa.Column("poll_interval_minutes", sa.Float(), nullable=True))
        batch.add_column(sa.Column("poll_claim", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("feed") as batch:
        batch.drop_column("poll_claim")
        batch.drop_column("poll_interval_minutes")
