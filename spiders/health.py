"""Per-outlet health seen by the spiders, written to the outlet rows at the end of a crawl:
a 403 or a JavaScript-only page shows in `spreadwatch outlets`, it is not swallowed."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

from storage import Outlet, utcnow


class Health:
    def __init__(self) -> None:
        self.oks: dict[str, int] = defaultdict(int)
        self.errors: dict[str, list[str]] = defaultdict(list)

    def ok(self, outlet: str) -> None:
        self.oks[outlet] += 1

    def error(self, outlet: str, message: str) -> None:
        self.errors[outlet].append(message)

    def save(self, db: Any, report: Any) -> None:
        now = utcnow()
        with db.session() as s:
            for outlet in s.scalars(select(Outlet).where(Outlet.key.in_(set(self.oks) | set(self.errors)))):
                if self.oks.get(outlet.key):
                    outlet.last_ok_at, outlet.failures = now, 0
                errs = self.errors.get(outlet.key)
                if errs:
                    outlet.last_error, outlet.last_error_at = errs[-1][:2000], now
                    outlet.failures += len(errs)
                    if outlet.key in report.outlets:
                        report.outlets[outlet.key].errors.extend(errs)
