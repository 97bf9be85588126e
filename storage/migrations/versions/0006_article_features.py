"""article.features: what the story engine read in an article (weighted lemmas, names, numbers), so
a story can be rebuilt or re-decided without re-reading texts (which retention may have dropped).
The story index of stories placed before this revision held 4-letter name stems that the new engine
no longer asks for: those rows are dropped (their stories stay, with their articles and trees), and
the table is made again keyed by (story, term), without a surrogate id (on SQLite WITHOUT ROWID).
lsh_band likewise becomes its own lookup, keyed by (band, key, article): its rows are copied.
Together about half the index on disk.

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
    op.drop_table("story_term")
    op.create_table(
        "story_term",
        sa.Column("story_id", sa.Integer(), sa.ForeignKey("story.id"), primary_key=True),
        sa.Column("term", sa.String(40), primary_key=True),
        sa.Column("last_day", sa.Integer(), nullable=False, server_default="0"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_story_term_term", "story_term", ["term", "last_day", "story_id"])
    _rebuild_bands(keyed=True)


def _rebuild_bands(keyed: bool) -> None:
    """lsh_band as (band, key, article_id) keyed, or as 0001 made it (id, article_id, band, key); rows copied."""
    op.rename_table("lsh_band", "lsh_band_old")
    for index in ("ix_lsh_band_key", "ix_lsh_band_article_id"):
        if index in {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("lsh_band_old")}:
            op.drop_index(index, table_name="lsh_band_old")
    if keyed:
        op.create_table("lsh_band",
                        sa.Column("band", sa.Integer(), primary_key=True),
                        sa.Column("key", sa.Integer(), primary_key=True),
                        sa.Column("article_id", sa.Integer(), sa.ForeignKey("article.id"), primary_key=True),
                        sqlite_with_rowid=False)
    else:
        op.create_table("lsh_band",
                        sa.Column("id", sa.Integer(), primary_key=True),
                        sa.Column("article_id", sa.Integer(), sa.ForeignKey("article.id"), nullable=False),
                        sa.Column("band", sa.Integer(), nullable=False),
                        sa.Column("key", sa.Integer(), nullable=False))
    op.execute("INSERT INTO lsh_band (band, key, article_id) SELECT band, key, article_id FROM lsh_band_old")
    op.drop_table("lsh_band_old")
    if not keyed:
        op.create_index("ix_lsh_band_key", "lsh_band", ["band", "key"])
        op.create_index("ix_lsh_band_article_id", "lsh_band", ["article_id"])


def downgrade() -> None:
    _rebuild_bands(keyed=False)
    op.drop_table("story_term")
    op.create_table(
        "story_term",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("story_id", sa.Integer(), sa.ForeignKey("story.id"), nullable=False),
        sa.Column("term", sa.String(40), nullable=False),
        sa.Column("last_day", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_story_term_term", "story_term", ["term", "last_day", "story_id"])
    op.create_index("ix_story_term_story_id", "story_term", ["story_id"])
    with op.batch_alter_table("article") as batch:
        batch.drop_column("features")
