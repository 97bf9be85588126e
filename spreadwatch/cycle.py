"""One polling cycle: every due feed is polled, new entries fetched, extracted and ingested.

The database is the state: ETag/Last-Modified, failures and the next due time live on the feed row,
so a cycle can be interrupted anywhere and the next one carries on.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import select

from crawler import CrawlError, Fetcher, FeedPoll, fetch_article, poll_feed
from crawler.draft import FeedEntry
from spreadwatch.ingest import ensure_outlet, find_article, ingest
from spreadwatch.settings import Settings
from storage import Database, Feed, Outlet, utcnow

log = logging.getLogger("spreadwatch.cycle")


@dataclass
class FeedReport:
    url: str
    outlet: str
    status: str  # ok | not-modified | error
    entries: int = 0
    new: int = 0
    matched: int = 0
    warning: str | None = None
    error: str | None = None


@dataclass
class CycleReport:
    feeds: list[FeedReport] = field(default_factory=list)
    new_article_ids: list[int] = field(default_factory=list)
    # seconds spent per stage, summed over concurrent tasks (so they can exceed wall time)
    stage_seconds: dict[str, float] = field(default_factory=lambda: {"feeds": 0.0, "pages": 0.0, "ingest": 0.0})

    @property
    def new(self) -> int:
        return len(self.new_article_ids)


Progress = Callable[[FeedReport], None]


def sync_outlets(db: Database, settings: Settings) -> None:
    """Make the outlet and feed rows match the configuration (new ones added, none deleted)."""
    with db.session() as s:
        known = set(s.scalars(select(Feed.url)))
        for cfg in settings.outlets:
            outlet = ensure_outlet(s, cfg)
            for feed in cfg.feeds:
                if feed.url not in known:
                    s.add(Feed(outlet_id=outlet.id, url=feed.url))
                    known.add(feed.url)


def _due_feeds(db: Database, settings: Settings, now: datetime, force: bool) -> list[tuple[int, str, str]]:
    enabled = {o.key for o in settings.outlets if o.enabled}
    configured = {f.url for o in settings.outlets if o.enabled for f in o.feeds}
    with db.session() as s:
        rows = s.execute(select(Feed.id, Feed.url, Outlet.key, Feed.next_poll_at).join(Outlet)).all()
    return [(fid, url, key) for fid, url, key, due in rows
            if key in enabled and url in configured and (force or due is None or due <= now)]


def backoff(failures: int, settings: Settings) -> timedelta:
    """Exponential, capped: a dead feed is retried less and less often, never in a hot loop."""
    minutes = settings.poll.interval_minutes * (2 ** min(failures, 12))
    return timedelta(minutes=min(minutes, settings.poll.max_backoff_minutes))


def _next_due(settings: Settings, now: datetime, interval: float | None) -> datetime:
    jitter = random.uniform(0, settings.poll.jitter_seconds)
    return now + timedelta(minutes=interval or settings.poll.interval_minutes, seconds=jitter)


async def poll_one(db: Database, settings: Settings, fetcher: Fetcher, feed_id: int, url: str,
                   outlet_key: str, stages: dict[str, float] | None = None) -> tuple[FeedReport, list[int]]:
    """Poll one feed, ingest its new entries, record the feed's state. Never raises for a bad feed."""
    report = FeedReport(url=url, outlet=outlet_key, status="ok")
    with db.session() as s:
        feed = s.get_one(Feed, feed_id)
        etag, modified = feed.etag, feed.last_modified
    stages = stages if stages is not None else {"feeds": 0.0, "pages": 0.0, "ingest": 0.0}
    t0 = time.perf_counter()
    try:
        poll = await poll_feed(fetcher, url, etag=etag, last_modified=modified)
    except CrawlError as e:
        report.status, report.error = "error", str(e)
        _record_failure(db, settings, feed_id, outlet_key, str(e), getattr(e, "status", None))
        return report, []
    finally:
        stages["feeds"] += time.perf_counter() - t0
    new_ids = await _ingest_entries(db, settings, fetcher, outlet_key, poll, report, stages)
    _record_success(db, settings, feed_id, outlet_key, poll)
    return report, new_ids


async def _ingest_entries(db: Database, settings: Settings, fetcher: Fetcher, outlet_key: str,
                          poll: FeedPoll, report: FeedReport, stages: dict[str, float]) -> list[int]:
    if poll.not_modified:
        report.status = "not-modified"
        return []
    report.warning = poll.warning
    entries = poll.entries[: settings.poll.max_entries_per_feed]
    report.entries = len(entries)
    fresh = [e for e in entries if _wanted(db, settings, e)]
    t0 = time.perf_counter()
    drafts = await asyncio.gather(*(fetch_article(fetcher, outlet_key, e) for e in fresh))
    stages["pages"] += time.perf_counter() - t0
    new_ids = []
    for draft in drafts:
        t1 = time.perf_counter()
        with db.session() as s:  # one transaction per article
            result = ingest(s, draft, settings)
        stages["ingest"] += time.perf_counter() - t1
        if result.created:
            new_ids.append(result.article_id)
            report.new += 1
            report.matched += bool(result.watches)
    return new_ids


def _wanted(db: Database, settings: Settings, entry: FeedEntry) -> bool:
    max_age = settings.poll.max_entry_age_hours
    if max_age and entry.published_at and entry.published_at < utcnow() - timedelta(hours=max_age):
        return False
    with db.session() as s:
        return find_article(s, entry.url) is None


def _record_success(db: Database, settings: Settings, feed_id: int, outlet_key: str, poll: FeedPoll) -> None:
    now = utcnow()
    with db.session() as s:
        feed = s.get_one(Feed, feed_id)
        feed.last_polled_at = feed.last_ok_at = now
        feed.last_status, feed.failures, feed.last_error = poll.status, 0, None
        if not poll.not_modified:
            feed.etag, feed.last_modified = poll.etag, poll.last_modified
            feed.last_warning = poll.warning
            feed.entries_seen = len(poll.entries)
        cfg = next((f for o in settings.outlets for f in o.feeds if f.url == feed.url), None)
        feed.next_poll_at = _next_due(settings, now, cfg.interval_minutes if cfg else None)
        outlet = s.get_one(Outlet, feed.outlet_id)
        outlet.last_ok_at = now


def _record_failure(db: Database, settings: Settings, feed_id: int, outlet_key: str, error: str,
                    status: int | None) -> None:
    now = utcnow()
    log.warning("feed failed", extra={"outlet": outlet_key, "error": error})
    with db.session() as s:
        feed = s.get_one(Feed, feed_id)
        feed.last_polled_at, feed.last_status, feed.last_error = now, status, error
        feed.failures += 1
        feed.next_poll_at = now + backoff(feed.failures, settings)
        outlet = s.get_one(Outlet, feed.outlet_id)
        outlet.last_error, outlet.last_error_at = error, now
        outlet.failures += 1


async def poll_due(db: Database, settings: Settings, *, force: bool = False,
                   progress: Progress | None = None) -> CycleReport:
    """Poll every due feed concurrently (the fetcher enforces per-host limits)."""
    report = CycleReport()
    feeds = _due_feeds(db, settings, utcnow(), force)
    async with Fetcher(settings.http) as fetcher:
        async def one(fid: int, url: str, key: str) -> None:
            fr, ids = await poll_one(db, settings, fetcher, fid, url, key, report.stage_seconds)
            report.feeds.append(fr)
            report.new_article_ids.extend(ids)
            if progress:
                progress(fr)
        await asyncio.gather(*(one(*f) for f in feeds))
    return report


def run_once(settings: Settings, *, force: bool = True, progress: Progress | None = None,
             db: Database | None = None) -> CycleReport:
    """One whole cycle from a standing start: migrate, sync config, poll, ingest."""
    db = db or Database(settings.database_url)
    sync_outlets(db, settings)
    return asyncio.run(poll_due(db, settings, force=force, progress=progress))
