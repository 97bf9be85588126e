"""article.features: what the story engine read in an article (weighted lemmas, names, numbers), so
a story can be rebuilt or re-decided without re-reading texts (which retention may have dropped).
The story index of stories placed before this revision held 4-letter name stems that the new engine
no longer asks for: those rows are dropped (their stories stay, with their articles and trees).

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("article") as batch:
        batch.add_column(sa.Column("features", sa.JSON(), nullable=True))
    op.execute("DELETE FROM story_term")


def downgrade() -> None:
    with op.batch_alter_table("article") as batch:
        batch.drop_column("features")
