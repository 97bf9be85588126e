"""Storage: SQLAlchemy models, the engine and session, Alembic migrations, queries."""

from storage.db import Database, DatabaseUnavailable, make_engine, upgrade
from storage.models import (
    Alert,
    Article,
    Base,
    Correction,
    Delivery,
    Feed,
    Link,
    LshBand,
    Outlet,
    Story,
    StoryMute,
    StoryTerm,
    WatchMatch,
    utcnow,
)

__all__ = [
    "Alert", "Article", "Base", "Correction", "Database", "DatabaseUnavailable", "Delivery", "Feed", "Link", "LshBand", "Outlet",
    "Story", "StoryMute", "StoryTerm", "WatchMatch", "make_engine", "upgrade", "utcnow",
]
