"""story_term: inverted index of stories' characteristic names and numbers

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "story_term",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("story_id", sa.Integer(), sa.ForeignKey("story.id"), nullable=False),
        sa.Column("term", sa.String(40), nullable=False),
    )
    op.create_index("ix_story_term_term", "story_term", ["term", "story_id"])
    op.create_index("ix_story_term_story_id", "story_term", ["story_id"])


def downgrade() -> None:
    op.drop_table("story_term")
