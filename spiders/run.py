"""Running the spiders: each crawl in a child process of its own.

Twisted's reactor cannot be restarted in a process, and the daemon crawls again and again, so every
crawl runs a CrawlerProcess in a fresh child (multiprocessing, spawn) that sends its report back.
The parent (CLI or daemon) never loads Twisted. The child stops itself at a soft time limit and
saves what it saw; a child that is still there at the hard limit is killed, and the parent writes
that on the outlets. Articles already stored stay stored either way: each is its own transaction.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import queue as queues
import threading
import time
from pathlib import Path
from typing import Any

from spiders.health import record_health
from spiders.rendering import RENDER_PAGES
from spiders.report import CrawlReport, OutletCrawl
from spiders.shared import SharedCrawl
from spreadwatch.ingest import ensure_outlet
from spreadwatch.settings import OutletConfig, Settings
from storage import Database

POLL_SECONDS = 0.5  # how often the parent looks at a crawl that has not reported yet


def crawlable(settings: Settings, keys: list[str] | None = None) -> tuple[list[OutletConfig], list[str]]:
    """The enabled outlets with sitemaps, listings or JSON endpoints (all, or these keys), and why any
    requested key is left out."""
    if keys is None:
        return [o for o in settings.outlets if o.enabled and _has_spider(o)], []
    outlets, problems = [], []
    for key in dict.fromkeys(keys):
        try:
            o = settings.outlet(key)
        except KeyError:
            problems.append(f"{key}: no such outlet in the config")
            continue
        if not o.enabled:
            problems.append(f"{key}: disabled in the config" + (f" ({o.notes})" if o.notes else ""))
        elif not _has_spider(o):
            problems.append(f"{key}: no sitemaps, listings or json_endpoints to crawl (it has feeds only)")
        else:
            outlets.append(o)
    return outlets, problems


def run_crawl(settings: Settings, outlet_keys: list[str] | None = None, *, page_limit: int = 200,
              cache_dir: Path | None = None, timeout: float = 600, stop: threading.Event | None = None,
              render_pages: int = RENDER_PAGES, shared: SharedCrawl | None = None) -> CrawlReport:
    """Crawl these outlets (default: every crawlable one) in a child process; never hangs past `timeout`.

    Setting `stop` (from another thread, e.g. a daemon shutting down) kills the crawl at once.
    `render_pages` bounds the pages rendered in the browser (outlets with `render:`). `shared`: this
    process is one part of a crawl spread over several (spiders/shared.py), its queue in Redis.
    """
    outlets, problems = crawlable(settings, outlet_keys)
    stop = stop or threading.Event()
    report = (_run_child(settings, outlets, (page_limit, render_pages), cache_dir, timeout, stop, shared) if outlets
              else CrawlReport())
    if problems:
        report.error = "; ".join([*([report.error] if report.error else []), *problems])
    return report


def _has_spider(o: OutletConfig) -> bool:
    return bool(o.sitemaps or o.listings or o.json_endpoints)


def _run_child(settings: Settings, outlets: list[OutletConfig], limits: tuple[int, int], cache_dir: Path | None,
               timeout: float, stop: threading.Event, shared: SharedCrawl | None = None) -> CrawlReport:
    from spiders.process import crawl_child

    ctx = mp.get_context("spawn")
    reports = ctx.Queue()
    # the child closes the spider itself a little before the hard limit, so it can still save health
    soft = timeout - min(60.0, timeout * 0.4)
    page_limit, render_pages = limits
    args = (settings.model_dump(mode="json"), [o.key for o in outlets], page_limit,
            str(cache_dir.resolve()) if cache_dir else None, soft, reports, render_pages,
            dataclasses.asdict(shared) if shared else None)
    proc = ctx.Process(target=crawl_child, args=args, name="spreadwatch-crawl", daemon=True)
    proc.start()
    got = _await_report(proc, reports, timeout, stop)
    _end(proc, wait=5 if isinstance(got, CrawlReport) else 0)
    if isinstance(got, CrawlReport) and got.error is None:
        return got
    # killed, dead, stopped, or an exception in the child: say so on the outlets too
    return _failed(settings, outlets, got.error if isinstance(got, CrawlReport) else got)


def _await_report(proc: Any, reports: Any, timeout: float, stop: threading.Event) -> CrawlReport | str:
    """The child's report, or why there is none (time limit, death, stop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return reports.get(timeout=POLL_SECONDS)  # type: ignore[no-any-return]
        except queues.Empty:
            pass
        if stop.is_set():
            return "stopped: spreadwatch is shutting down"
        if not proc.is_alive():
            try:  # it may have reported just before exiting
                return reports.get(timeout=POLL_SECONDS)  # type: ignore[no-any-return]
            except queues.Empty:
                return f"the crawl process died (exit code {proc.exitcode}) without a report"
    return f"no report within the {timeout:.0f}s time limit: the crawl process was killed"


def _end(proc: Any, *, wait: float) -> None:
    """Let a child that reported exit on its own (up to `wait` seconds), else kill it."""
    if wait:
        proc.join(timeout=wait)
    if proc.is_alive():
        proc.kill()
        proc.join(timeout=5)


def _failed(settings: Settings, outlets: list[OutletConfig], reason: str) -> CrawlReport:
    """The report of a crawl that did not finish; the reason is also written on each of its outlets."""
    message = f"crawl failed: {reason}; articles stored before that are kept"
    report = CrawlReport(outlets={o.key: OutletCrawl(errors=[message]) for o in outlets}, error=reason)
    try:
        db = Database(settings.database_url)
        with db.session() as s:  # the child may have died before it created them
            for o in outlets:
                ensure_outlet(s, o)
        record_health(db, set(), {o.key: [message] for o in outlets})
        db.dispose()
    except Exception as e:  # the database may be what failed; the report still says what happened
        report.error = f"{reason} (and it could not be recorded on the outlets: {e.__class__.__name__}: {e})"
    return report
