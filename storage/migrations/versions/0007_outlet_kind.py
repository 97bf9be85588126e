"""outlet.kind: 'media' or 'official' (a government, military mission or international body), copied
from the config like the outlet's name, so a story's history can mark official statements and the
alert rules can tell an official denial from a newsroom's

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outlet") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="media"))


def downgrade() -> None:
    with op.batch_alter_table("outlet") as batch:
        batch.drop_column("kind")
