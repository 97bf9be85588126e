"""article.prepared: the story features a worker pool's poll job computed, for its placement job

The pool stores an article without a story and places it later, in another job and often another
process, under the placement lock. The poll job has already read the text (lemmas, names, numbers,
the credited outlets, denial terms); it keeps them here, unrounded (the MinHash signature goes in
article.minhash), so placement reads them instead of reading the text again while it holds the
lock. NULL on rows stored by one process (`spreadwatch run`), which places an article in the
transaction that computed its features, and on rows stored before this migration.

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("article") as batch:
        batch.add_column(sa.Column("prepared", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("article") as batch:
        batch.drop_column("prepared")
