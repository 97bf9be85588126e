"""Housekeeping: old article text is dropped after `poll.retention_days` (titles, hashes, signatures,
links and stories stay, so propagation history survives), the planner's statistics are refreshed,
and space is given back where it is due.

SQLite: ANALYZE and PRAGMA optimize every run; VACUUM only when at least `VACUUM_FREE_SHARE` of the
file is free pages (dropped text leaves them; SQLite does not shrink the file by itself). VACUUM
holds the write lock while it copies the database, which is why it waits until it pays off.
PostgreSQL: autovacuum reclaims space on its own; after a run that dropped text we VACUUM ANALYZE
the article table at once instead of leaving the dead rows to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, text, update

from spreadwatch.settings import Settings
from storage import Article, Database, utcnow

VACUUM_FREE_SHARE = 0.25


@dataclass
class HousekeepingReport:
    texts_dropped: int = 0
    analyzed: bool = False
    vacuumed: bool = False
    free_share: float = 0.0  # SQLite: the share of the file that was free pages before


def housekeep(db: Database, settings: Settings, now: datetime | None = None) -> HousekeepingReport:
    """Apply retention, refresh statistics, vacuum where due."""
    report = HousekeepingReport(texts_dropped=drop_old_text(db, settings, now or utcnow()))
    if db.engine.dialect.name == "sqlite":
        _tidy_sqlite(db, report)
    else:
        _tidy_postgresql(db, report)
    return report


def drop_old_text(db: Database, settings: Settings, now: datetime) -> int:
    """Empty the text of articles first seen before the retention period; returns how many."""
    days = settings.poll.retention_days
    if not days:
        return 0
    cutoff = now - timedelta(days=days)
    with db.session() as s:
        res = s.execute(update(Article).where(Article.first_seen_at < cutoff, Article.text != "")
                        .values(text="", extraction_note="text dropped after the retention period"))
        return int(getattr(res, "rowcount", 0) or 0)


def _tidy_sqlite(db: Database, report: HousekeepingReport) -> None:
    with db.engine.connect() as c:
        c.exec_driver_sql("ANALYZE")
        c.exec_driver_sql("PRAGMA optimize")
        c.commit()
        report.analyzed = True
        report.free_share = free_share(c)
    if report.free_share >= VACUUM_FREE_SHARE:
        _vacuum_sqlite(db)
        report.vacuumed = True


def _vacuum_sqlite(db: Database) -> None:
    # VACUUM cannot run inside a transaction: an AUTOCOMMIT connection begins none
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("VACUUM")


def free_share(c: Connection) -> float:
    """The share of a SQLite file that is free pages."""
    pages = c.exec_driver_sql("PRAGMA page_count").scalar() or 0
    free = c.exec_driver_sql("PRAGMA freelist_count").scalar() or 0
    return free / pages if pages else 0.0


def _tidy_postgresql(db: Database, report: HousekeepingReport) -> None:
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        if report.texts_dropped:
            c.execute(text("VACUUM (ANALYZE) article"))
            report.vacuumed = True
        c.execute(text("ANALYZE"))
    report.analyzed = True
