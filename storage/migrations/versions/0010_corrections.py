"""the analyst's desk: corrections of stories, muted stories, acknowledged alerts

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "correction",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("story_id", sa.Integer(), sa.ForeignKey("story.id"), nullable=True),
        sa.Column("other_story_id", sa.Integer(), sa.ForeignKey("story.id"), nullable=True),
        sa.Column("article_id", sa.Integer(), sa.ForeignKey("article.id"), nullable=True),
        sa.Column("together", sa.JSON(), nullable=False),
        sa.Column("rest", sa.JSON(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("who", sa.String(200), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("undone_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("undone_by", sa.String(200), nullable=True),
    )
    op.create_index("ix_correction_story_id", "correction", ["story_id"])
    op.create_index("ix_correction_article_id", "correction", ["article_id"])
    op.create_table(
        "story_mute",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("story_id", sa.Integer(), sa.ForeignKey("story.id"), nullable=False),
        sa.Column("until", storage.models.UTCDateTime(), nullable=True),
        sa.Column("upto", sa.Integer(), nullable=True),
        sa.Column("who", sa.String(200), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("lifted_at", storage.models.UTCDateTime(), nullable=True),
    )
    op.create_index("ix_story_mute_story_id", "story_mute", ["story_id"])
    op.add_column("alert", sa.Column("acknowledged_at", storage.models.UTCDateTime(), nullable=True))
    op.add_column("alert", sa.Column("acknowledged_by", sa.String(200), nullable=True))


def downgrade() -> None:
    # not a batch (copy and move) on SQLite: deliveries refer to alert rows, and dropping the old
    # table under them fails the foreign key check; SQLite drops a plain column in place (3.35+)
    for column in ("acknowledged_by", "acknowledged_at"):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE alert DROP COLUMN {column}")
        else:
            op.drop_column("alert", column)
    op.drop_index("ix_story_mute_story_id", table_name="story_mute")
    op.drop_table("story_mute")
    op.drop_index("ix_correction_article_id", table_name="correction")
    op.drop_index("ix_correction_story_id", table_name="correction")
    op.drop_table("correction")
