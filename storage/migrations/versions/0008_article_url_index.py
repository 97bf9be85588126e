"""article.url indexed: the poller asks for every feed entry whether its address (as fetched, or
canonical) is stored already, and without this index that question read the whole article table

Revision ID: 0008
Revises: 0007
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_article_url", "article", ["url"])


def downgrade() -> None:
    op.drop_index("ix_article_url", table_name="article")
