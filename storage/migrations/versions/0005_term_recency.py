"""story_term.last_day: the term index finds recently seen stories without reading old ones;
story.merged_into_id indexed (following merged stories read the whole table); on PostgreSQL the
story -> origin article foreign key that 0001 left out (SQLite cannot add one to a table in place)

Revision ID: 0005
Revises: 0004
"""
from datetime import timezone

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

EPOCH_DAY = 86400


def upgrade() -> None:
    with op.batch_alter_table("story_term") as batch:
        batch.add_column(sa.Column("last_day", sa.Integer(), nullable=False, server_default="0"))
        batch.drop_index("ix_story_term_term")
        batch.create_index("ix_story_term_term", ["term", "last_day", "story_id"])
    _fill_last_day()
    with op.batch_alter_table("story") as batch:
        batch.create_index("ix_story_merged_into_id", ["merged_into_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key("fk_story_origin_article_id", "story", "article", ["origin_article_id"], ["id"])


def _fill_last_day() -> None:
    """Each story's terms get the day its last article appeared (days since 1970, UTC)."""
    conn = op.get_bind()
    story = sa.table("story", sa.column("id", sa.Integer), sa.column("last_seen_at", sa.DateTime))
    term = sa.table("story_term", sa.column("story_id", sa.Integer), sa.column("last_day", sa.Integer))
    rows = conn.execute(sa.select(story.c.id, story.c.last_seen_at)
                        .where(story.c.id.in_(sa.select(term.c.story_id)))).all()
    updates = [{"sid": sid, "day": int(seen.replace(tzinfo=timezone.utc).timestamp() // EPOCH_DAY)}
               for sid, seen in rows if seen is not None]
    if updates:
        conn.execute(term.update().where(term.c.story_id == sa.bindparam("sid")).values(last_day=sa.bindparam("day")),
                     updates)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("fk_story_origin_article_id", "story", type_="foreignkey")
    with op.batch_alter_table("story") as batch:
        batch.drop_index("ix_story_merged_into_id")
    with op.batch_alter_table("story_term") as batch:
        batch.drop_index("ix_story_term_term")
        batch.create_index("ix_story_term_term", ["term", "story_id"])
        batch.drop_column("last_day")
