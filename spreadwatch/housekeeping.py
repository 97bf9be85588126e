"""Housekeeping: old article text is dropped after `poll.retention_days` (titles, hashes, signatures,
links and stories stay, so propagation history survives), and the database's statistics are kept
fresh (ANALYZE; on SQLite also PRAGMA optimize, and an incremental VACUUM of freed pages)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text, update

from spreadwatch.settings import Settings
from storage import Article, Database, utcnow


@dataclass
class HousekeepingReport:
    texts_dropped: int = 0
    analyzed: bool = False


def housekeep(db: Database, settings: Settings, now: datetime | None = None) -> HousekeepingReport:
    report = HousekeepingReport()
    days = settings.poll.retention_days
    if days:
        cutoff = (now or utcnow()) - timedelta(days=days)
        with db.session() as s:
            res = s.execute(update(Article).where(Article.first_seen_at < cutoff, Article.text != "")
                            .values(text="", extraction_note="text dropped after the retention period"))
            report.texts_dropped = res.rowcount or 0
    with db.engine.connect() as c:
        if c.dialect.name == "sqlite":
            c.exec_driver_sql("PRAGMA optimize")
            c.exec_driver_sql("ANALYZE")
        else:
            c.execute(text("ANALYZE"))
        c.commit()
    report.analyzed = True
    return report
