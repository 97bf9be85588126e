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

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, text, update

from spreadwatch.settings import Settings
from storage import Article, Database, utcnow

VACUUM_FREE_SHARE = 0.25
log = logging.getLogger("spreadwatch.housekeeping")


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


# ------------------------------------------------------------------ planner statistics as placement grows

# the tables placement reads on every article and grows as it goes
PLACEMENT_TABLES = ("article", "story", "story_term", "lsh_band")


class PlannerStatistics:
    """Keeps PostgreSQL's planner statistics of placement's tables current where the server does not.

    Placement's candidate queries (the story index, the LSH bands) are planned from the tables'
    statistics. PostgreSQL's autovacuum ANALYZEs a table once 50 rows + 10 % of it have changed; a
    server run with `autovacuum = off` never does, and goes on planning them for the empty tables of
    the first migration. Measured on this machine's PostgreSQL (autovacuum off), 5,000 articles of
    the generated newsroom placed in publication order: 15.5 placements/s, falling from 27/s to
    10/s as the tables grew; with this keeper, 26.6/s and flat (14 ANALYZEs), the same stories.

    `placed(n)` is told how many articles this process placed; on PostgreSQL with autovacuum off it
    ANALYZEs the tables once `threshold` + `scale` x the stories counted at the last ANALYZE have
    been placed since: autovacuum's own rule for the story table (every placement writes a story
    row), a little less often (200 + 20 % instead of 50 + 10 %: each worker of a pool counts its
    own). With autovacuum on, or on SQLite (housekeeping ANALYZEs it daily, and its planner leans
    on indexes, not row counts), it does nothing. ANALYZE samples the
    tables and takes a lock that neither reads nor writes wait for: the placement lock is not held.
    """

    def __init__(self, db: Database, threshold: int = 200, scale: float = 0.2) -> None:
        self.db, self.threshold, self.scale = db, threshold, scale
        self.active: bool | None = None  # decided at the first count
        self.since = 0  # articles placed since the last ANALYZE
        self.rows = 0.0  # stories in the table at the last ANALYZE
        self.runs = 0
        self.lock = threading.Lock()

    def placed(self, n: int) -> bool:
        """Count `n` placements; True if this call ran ANALYZE."""
        if n <= 0:
            return False
        with self.lock:
            if self.active is None:
                self.active = self._server_leaves_it()
            if not self.active:
                return False
            self.since += n
            if self.since < self.threshold + self.scale * self.rows:
                return False
            self.since = 0
            with self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(text("ANALYZE " + ", ".join(PLACEMENT_TABLES)))
                self.rows = float(c.execute(text(
                    "SELECT reltuples FROM pg_class WHERE oid = 'story'::regclass")).scalar() or 0)
            self.runs += 1
            if self.runs == 1:
                log.warning("this PostgreSQL server runs with autovacuum off: spreadwatch ANALYZEs the "
                            "placement tables itself as articles are placed (dead rows are left to a "
                            "VACUUM you schedule)", extra={"tables": list(PLACEMENT_TABLES)})
            return True

    def _server_leaves_it(self) -> bool:
        if self.db.engine.dialect.name != "postgresql":
            return False
        with self.db.engine.connect() as c:
            return str(c.execute(text("SHOW autovacuum")).scalar()).lower() in ("off", "false", "0")


_keepers: dict[int, tuple[Database, PlannerStatistics]] = {}
_keepers_lock = threading.Lock()


def planner_statistics(db: Database) -> PlannerStatistics:
    """The one keeper of this Database object in this process."""
    with _keepers_lock:
        hit = _keepers.get(id(db))
        if hit is None or hit[0] is not db:
            hit = _keepers[id(db)] = (db, PlannerStatistics(db))
        return hit[1]
