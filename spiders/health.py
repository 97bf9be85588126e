"""Per-outlet health seen by the spiders, written to the outlet rows: a 403, a redirect loop or a page
that needs JavaScript shows in `spreadwatch outlets`, it is not swallowed."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from spiders.report import CrawlReport, OutletCrawl
from storage import Database, Outlet, utcnow


class Health:
    """Collects successes and errors per outlet during one crawl, into the crawl's report."""

    def __init__(self, report: CrawlReport) -> None:
        self.report = report
        self.oks: dict[str, int] = defaultdict(int)

    def ok(self, outlet: str) -> None:
        self.oks[outlet] += 1

    def error(self, outlet: str, message: str) -> None:
        self._outlet(outlet).errors.append(message)

    def stored(self, outlet: str) -> None:
        self._outlet(outlet).ingested += 1

    def known(self, outlet: str) -> None:
        self._outlet(outlet).known += 1

    def save(self, db: Database) -> None:
        """Write last success, last error and the failure count to the outlet rows."""
        errors = {k: o.errors for k, o in self.report.outlets.items() if o.errors}
        record_health(db, {k for k, n in self.oks.items() if n}, errors)

    def _outlet(self, key: str) -> OutletCrawl:
        return self.report.outlets.setdefault(key, OutletCrawl())


def record_health(db: Database, oks: set[str], errors: dict[str, list[str]]) -> None:
    """A success resets the failure count; every error counts, and the last one is kept to show."""
    now = utcnow()
    with db.session() as s:
        for outlet in s.scalars(select(Outlet).where(Outlet.key.in_(oks | set(errors)))):
            if outlet.key in oks:
                outlet.last_ok_at, outlet.failures = now, 0
            errs = errors.get(outlet.key)
            if errs:
                outlet.last_error, outlet.last_error_at = errs[-1][:2000], now
                outlet.failures += len(errs)
