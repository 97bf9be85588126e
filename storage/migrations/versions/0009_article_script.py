"""article.script: the script an article is written in (Latn, Cyrl), beside its detected language

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # rows stored before have no script recorded: '' (unknown), as for a text without letters
    with op.batch_alter_table("article") as batch:
        batch.add_column(sa.Column("script", sa.String(length=4), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("article") as batch:
        batch.drop_column("script")
