"""Storage: SQLAlchemy models, the engine and session, Alembic migrations, queries."""

from storage.db import Database, DatabaseUnavailable, make_engine, upgrade
from storage.models import (
    Alert,
    Article,
    Base,
    Delivery,
    Feed,
    Link,
    LshBand,
    Outlet,
    Story,
    StoryTerm,
    WatchMatch,
    utcnow,
)

__all__ = [
    "Alert", "Article", "Base", "Database", "DatabaseUnavailable", "Delivery", "Feed", "Link", "LshBand", "Outlet",
    "Story", "StoryTerm", "WatchMatch", "make_engine", "upgrade", "utcnow",
]
