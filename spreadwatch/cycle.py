"""One polling cycle: every due feed is polled, new entries fetched, extracted and ingested.

The database is the state: ETag/Last-Modified, failures and the next due time live on the feed row,
so a cycle can be interrupted anywhere and the next one carries on. Most polls answer 304, so their
bookkeeping is kept cheap: the due feeds' state is read in one query, and 304 results are written in
batches (one UPDATE statement per batch) instead of a transaction per feed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crawler import CrawlError, Fetcher, FeedPoll, fetch_article, poll_feed
from crawler.draft import ArticleDraft, FeedEntry
from crawler.urls import canonicalize
from spreadwatch.housekeeping import planner_statistics
from spreadwatch.ingest import ensure_outlet, find_article, ingest, prepare
from spreadwatch.settings import Settings
from storage import Article, Database, Feed, Outlet, utcnow

log = logging.getLogger("spreadwatch.cycle")

STAGES = ("feeds", "pages", "ingest")
KNOWN_QUERY_AT = 100  # from this many entries, stored ones are found in batched queries


class PublicationOrder:
    """The cycle's new articles stored in publication order across its feeds, not feed by feed.

    A story is placed as if its articles arrived in publication order: one that arrives after later
    ones re-decides them (spreadwatch/placement.py), which on a cold start, where every feed brings
    two days of articles at once, is most of the work. So the feeds of a cycle hand their fetched
    articles in here instead of storing them, and they are stored earliest published first, with a
    low watermark: a feed that has read its entries and is fetching their pages says when the
    earliest of them was published (`expect`), and an article is stored once no feed still fetching
    can bring an earlier one (it is older than every such feed's earliest entry), or once it has
    waited `window` seconds (then it and everything published before it go). A feed whose own
    document has not come back yet is not waited for, so a hanging feed holds up nobody.

    One consumer stores the articles one by one, as the feeds did, and each feed gets its own
    results back before it records its state, so a cycle stopped by its deadline loses nothing: a
    feed whose articles were not all stored keeps no validators and is read whole next time. An
    undated article counts as published when its feed was read.
    """

    def __init__(self, window: float) -> None:
        self.window = window
        self._expected: dict[int, float] = {}  # feed -> its earliest entry still being fetched
        self._pending: list[tuple[float, int, float, Callable[[], Any], asyncio.Future[Any]]] = []
        self._seq = 0
        self._wake = asyncio.Event()
        self._consumer: asyncio.Task[None] | None = None

    def expect(self, feed_id: int, entries: list[FeedEntry]) -> None:
        """This feed is fetching the pages of these entries: nothing published after the earliest
        of them is stored before they are handed in (or the window runs out)."""
        now = time.time()
        self._expected[feed_id] = min((e.published_at.timestamp() if e.published_at else now for e in entries),
                                      default=now)

    def leave(self, feed_id: int) -> None:
        """This feed hands nothing more in (done, not modified, or failed)."""
        if self._expected.pop(feed_id, None) is not None:
            self._wake.set()

    async def store(self, feed_id: int, drafts: list[ArticleDraft], store: Callable[[ArticleDraft], Any]) -> list[Any]:
        """Store these drafts in the cycle's order; their results (or the first error) in the feed's
        publication order."""
        loop = asyncio.get_running_loop()
        futures = []
        now = time.time()
        for d in publication_order(drafts):
            key = d.published_at.timestamp() if d.published_at else now
            fut: asyncio.Future[Any] = loop.create_future()
            self._seq += 1
            self._pending.append((key, self._seq, now, functools.partial(store, d), fut))
            futures.append(fut)
        self.leave(feed_id)
        self._wake.set()
        if self._consumer is None:
            self._consumer = asyncio.ensure_future(self._consume())
        results = await asyncio.gather(*futures, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return results

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.cancel()
        for *_, fut in self._pending:
            fut.cancel()

    def _due(self) -> tuple[list[tuple[float, int, float, Callable[[], Any], asyncio.Future[Any]]], float]:
        """The pending articles that may be stored now, earliest first, and how long until more may."""
        if not self._expected:
            return sorted(self._pending), 0.0
        mark = min(self._expected.values())
        oldest = min(self._pending, key=lambda p: p[2])
        if time.time() >= oldest[2] + self.window:
            mark = max(mark, oldest[0] + 1e-6)  # it and everything published before it
        due = sorted(p for p in self._pending if p[0] < mark)
        return due, max(0.0, oldest[2] + self.window - time.time())

    async def _consume(self) -> None:
        while True:
            self._wake.clear()
            if not self._pending:
                await self._wake.wait()
                continue
            due, wait = self._due()
            if not due:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
                except TimeoutError:
                    pass
                continue
            for item in due:
                self._pending.remove(item)
                *_, run, fut = item
                if fut.cancelled():
                    continue
                try:
                    fut.set_result(run())
                except Exception as e:  # the feed that handed it in reports it
                    fut.set_exception(e)
                await asyncio.sleep(0)  # the fetches still running get their turn between articles


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
    feed_id: int = 0
    seconds: float = 0.0


@dataclass
class CycleReport:
    feeds: list[FeedReport] = field(default_factory=list)
    new_article_ids: list[int] = field(default_factory=list)
    # seconds spent per stage, summed over concurrent tasks (so they can exceed wall time)
    stage_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    @property
    def new(self) -> int:
        return len(self.new_article_ids)


@dataclass(frozen=True)
class FeedState:
    """What one poll needs from a feed row; read for all due feeds in one query."""

    id: int
    outlet_id: int
    outlet: str
    url: str
    etag: str | None
    last_modified: str | None
    interval_minutes: float


Progress = Callable[[FeedReport], None]
Observe = Callable[[str, float], None]  # (stage, seconds) for one unit of work


class Stages:
    """Times units of work: summed per stage for the report, each one passed on to `observe`."""

    def __init__(self, totals: dict[str, float] | None = None, observe: Observe | None = None) -> None:
        self.totals = totals if totals is not None else dict.fromkeys(STAGES, 0.0)
        self.observe = observe

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - t0
            self.totals[stage] = self.totals.get(stage, 0.0) + seconds
            if self.observe:
                self.observe(stage, seconds)


class NotModifiedBatch:
    """304 answers waiting to be recorded, written together: one UPDATE per batch.

    A feed whose 304 is not yet written still looks due in the database; the daemon keeps it in
    its in-flight set until `on_written` reports it, so it is not polled twice.
    """

    def __init__(self, db: Database, size: int = 500,
                 on_written: Callable[[list[int]], None] | None = None) -> None:
        self.db = db
        self.size = size
        self.on_written = on_written
        self._rows: list[dict[str, object]] = []
        self._outlets: set[int] = set()

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, feed: FeedState, polled_at: datetime, next_at: datetime) -> None:
        self._rows.append({"id": feed.id, "last_polled_at": polled_at, "last_ok_at": polled_at,
                           "last_status": 304, "failures": 0, "last_error": None, "next_poll_at": next_at})
        self._outlets.add(feed.outlet_id)
        if len(self._rows) >= self.size:
            self.flush()

    def flush(self) -> None:
        """Write every waiting 304 in one transaction (a no-op when none is waiting)."""
        if not self._rows:
            return
        rows, outlets = self._rows, self._outlets
        self._rows, self._outlets = [], set()
        with self.db.session() as s:
            s.execute(update(Feed), rows)  # executemany: one statement, one row per feed
            _mark_outlets_ok(s, outlets, utcnow())
        if self.on_written:
            self.on_written([int(r["id"]) for r in rows])  # type: ignore[call-overload]


def _mark_outlets_ok(s: Session, outlet_ids: Collection[int], now: datetime) -> None:
    s.execute(update(Outlet).where(Outlet.id.in_(outlet_ids)).values(last_ok_at=now))
    # an outlet's failure count restarts once none of its feeds is failing
    failing = exists().where(Feed.outlet_id == Outlet.id, Feed.failures > 0)
    s.execute(update(Outlet).where(Outlet.id.in_(outlet_ids), Outlet.failures > 0, ~failing).values(failures=0))


def sync_outlets(db: Database, settings: Settings) -> None:
    """Make the outlet and feed rows match the configuration (new ones added, none deleted)."""
    with db.session() as s:
        known = set(s.scalars(select(Feed.url)))
        for cfg in settings.outlets:
            outlet = ensure_outlet(s, cfg)
            for feed in cfg.feeds:
                if feed.url not in known:
                    _add_feed(s, outlet.id, feed.url)
                    known.add(feed.url)


def _add_feed(s: Session, outlet_id: int, url: str) -> None:
    """A feed row, unless another process (a second daemon starting) adds the same one meanwhile."""
    try:
        with s.begin_nested():
            s.add(Feed(outlet_id=outlet_id, url=url))
            s.flush()
    except IntegrityError:
        pass  # it is there now: theirs


def due_feeds(db: Database, settings: Settings, now: datetime, *, force: bool = False,
              exclude: Collection[int] = ()) -> list[FeedState]:
    """The enabled, configured feeds whose time has come, with what a poll needs: one query."""
    intervals = {f.url: f.interval_minutes or settings.poll.interval_minutes
                 for o in settings.outlets if o.enabled for f in o.feeds}
    enabled = {o.key for o in settings.outlets if o.enabled}
    q = select(Feed.id, Feed.outlet_id, Outlet.key, Feed.url, Feed.etag, Feed.last_modified).join(Outlet)
    if not force:
        q = q.where(or_(Feed.next_poll_at.is_(None), Feed.next_poll_at <= now))
    with db.session(read_only=True) as s:
        rows = s.execute(q).all()
    return [FeedState(fid, oid, key, url, etag, modified, intervals[url])
            for fid, oid, key, url, etag, modified in rows
            if key in enabled and url in intervals and fid not in exclude]


def backoff(failures: int, settings: Settings, interval_minutes: float | None = None) -> timedelta:
    """Exponential, capped: a dead feed is retried less and less often, never in a hot loop."""
    base = interval_minutes or settings.poll.interval_minutes
    minutes = base * (2 ** min(failures, 12))
    return timedelta(minutes=min(minutes, settings.poll.max_backoff_minutes))


def _jitter(settings: Settings) -> timedelta:
    # spreads feeds that became due together (a restart, an outage) over the jitter window
    return timedelta(seconds=random.uniform(0, settings.poll.jitter_seconds))


def _next_due(settings: Settings, now: datetime, feed: FeedState) -> datetime:
    return now + timedelta(minutes=feed.interval_minutes) + _jitter(settings)


async def poll_one(db: Database, settings: Settings, fetcher: Fetcher, feed: FeedState, *,
                   batch: NotModifiedBatch | None = None, stages: Stages | None = None,
                   ingest_in_thread: bool = False, order: PublicationOrder | None = None,
                   defer_placement: Callable[[Session], Any] | None = None) -> tuple[FeedReport, list[int]]:
    """Poll one feed, ingest its new entries, record the feed's state. Never raises for a bad feed.
    `ingest_in_thread`: each article's transaction runs in a thread, so waiting for the placement
    lock never stalls the event loop (a pool worker's heartbeat runs in it). `order`: the cycle's
    PublicationOrder, which stores the new entries among the other feeds' (else in the feed's own
    publication order, at once). `defer_placement`: the articles are stored without a story, and
    this is called in each new article's transaction (the pool defers its placement job there)."""
    report = FeedReport(url=feed.url, outlet=feed.outlet, status="ok", feed_id=feed.id)
    stages = stages or Stages()
    t0 = time.perf_counter()
    try:
        return report, await _poll(db, settings, fetcher, feed, report, batch, stages, ingest_in_thread, order,
                                   defer_placement)
    except CrawlError as e:
        _fail(db, settings, feed, report, str(e), getattr(e, "status", None))
    except Exception as e:  # a bug or a database error here must not take the other feeds down
        log.exception("feed poll crashed", extra={"outlet": feed.outlet, "feed": feed.url})
        _fail(db, settings, feed, report, f"internal error: {e.__class__.__name__}: {e}", None)
    finally:
        report.seconds = time.perf_counter() - t0
        if order is not None:
            order.leave(feed.id)
    return report, []


async def _poll(db: Database, settings: Settings, fetcher: Fetcher, feed: FeedState, report: FeedReport,
                batch: NotModifiedBatch | None, stages: Stages, in_thread: bool = False,
                order: PublicationOrder | None = None, defer_placement: Callable[[Session], Any] | None = None
                ) -> list[int]:
    with stages.timed("feeds"):
        poll = await poll_feed(fetcher, feed.url, etag=feed.etag, last_modified=feed.last_modified)
    if poll.not_modified:  # poll_one's finally tells the cycle's order this feed brings nothing
        report.status = "not-modified"
        _record_not_modified(db, settings, feed, batch)
        return []
    new_ids = await _ingest_entries(db, settings, fetcher, feed.outlet, poll, report, stages, in_thread,
                                    order, feed.id, defer_placement)
    _record_success(db, settings, feed, poll)
    return new_ids


def _fail(db: Database, settings: Settings, feed: FeedState, report: FeedReport, error: str,
          status: int | None) -> None:
    report.status, report.error = "error", error
    try:
        _record_failure(db, settings, feed, error, status)
    except Exception:  # the database itself is failing: the next cycle polls this feed again
        log.exception("could not record a feed failure", extra={"outlet": feed.outlet, "feed": feed.url})


async def _ingest_entries(db: Database, settings: Settings, fetcher: Fetcher, outlet_key: str,
                          poll: FeedPoll, report: FeedReport, stages: Stages, in_thread: bool = False,
                          order: PublicationOrder | None = None, feed_id: int = 0,
                          defer_placement: Callable[[Session], Any] | None = None) -> list[int]:
    report.entries = len(poll.entries)
    fresh = _wanted(db, settings, poll.entries)
    chosen, held = newest_first(fresh, settings.poll.max_entries_per_feed)
    if held:
        # the feed's validators are not kept (see _record_success), so the next poll reads it whole
        # and takes the next newest: nothing is skipped without being counted
        poll.held_back = held
        note = (f"{len(fresh)} new entries, more than max_entries_per_feed ({len(chosen)}): the newest "
                f"{len(chosen)} are stored now, {held} left for the next polls")
        poll.warning = f"{poll.warning}; {note}" if poll.warning else note
    report.warning = poll.warning
    if order is not None:
        order.expect(feed_id, chosen)
    names = _site_names(settings, outlet_key)
    drafts = await asyncio.gather(*(_fetch_page(fetcher, outlet_key, e, stages, names) for e in chosen))
    new_ids = []

    statistics = planner_statistics(db)

    def store(draft: ArticleDraft) -> Any:
        prepared = prepare(draft, settings)  # the text's work, before the transaction takes the write lock
        with stages.timed("ingest"), db.session(purpose="ingest") as s:  # one transaction per article
            result = ingest(s, draft, settings, prepared=prepared, place=defer_placement is None)
            if defer_placement is not None and result.created:
                defer_placement(s)  # commits with the article, or not at all
        if defer_placement is None and result.created:
            statistics.placed(1)
        return result

    if order is not None:
        results = await order.store(feed_id, list(drafts), store)
    else:
        results = []
        for draft in publication_order(drafts):
            results.append(await asyncio.to_thread(store, draft) if in_thread else store(draft))
    for result in results:
        if result.created:
            new_ids.append(result.article_id)
            report.new += 1
            report.matched += bool(result.watches)
    return new_ids


def newest_first(entries: list[FeedEntry], limit: int) -> tuple[list[FeedEntry], int]:
    """At most `limit` entries, the newest by their date (feeds are not always newest first:
    some list the oldest first), then undated ones in feed order; and how many were left out."""
    dated = sorted((e for e in entries if e.published_at), key=lambda e: e.published_at, reverse=True)  # type: ignore[arg-type, return-value]
    ordered = dated + [e for e in entries if not e.published_at]
    return ordered[:limit], max(0, len(ordered) - limit)


def publication_order(drafts: list[ArticleDraft]) -> list[ArticleDraft]:
    """Oldest first. Feeds list the newest first; stored in publication order, a story mostly grows
    at its end, where placing an article costs one edge instead of recomputing the later ones.
    Entries without a date keep the feed's order reversed, after the dated ones."""
    dated = sorted((d for d in drafts if d.published_at), key=lambda d: d.published_at)  # type: ignore[arg-type, return-value]
    return dated + [d for d in reversed(drafts) if not d.published_at]


async def _fetch_page(fetcher: Fetcher, outlet_key: str, entry: FeedEntry, stages: Stages,
                      site_names: list[str]) -> ArticleDraft:
    with stages.timed("pages"):
        return await fetch_article(fetcher, outlet_key, entry, site_names=site_names)


def _site_names(settings: Settings, outlet_key: str) -> list[str]:
    try:
        return settings.outlet(outlet_key).site_names
    except KeyError:
        return []


def _wanted(db: Database, settings: Settings, entries: list[FeedEntry]) -> list[FeedEntry]:
    """Entries not stored yet and not older than `poll.max_entry_age_hours`."""
    max_age = settings.poll.max_entry_age_hours
    oldest = utcnow() - timedelta(hours=max_age) if max_age else None
    recent = [e for e in entries if not (oldest and e.published_at and e.published_at < oldest)]
    if len(recent) > KNOWN_QUERY_AT:
        known = _known_urls(db, [e.url for e in recent])
        return [e for e in recent if e.url not in known and canonicalize(e.url) not in known]
    with db.session(read_only=True) as s:
        return [e for e in recent if find_article(s, e.url) is None]


def _known_urls(db: Database, urls: list[str]) -> set[str]:
    """The addresses among `urls` (as given or canonical) already stored: a few queries of 500
    instead of one per entry, for the feed of thousands of items."""
    wanted = list(dict.fromkeys(urls + [canonicalize(u) for u in urls]))
    known: set[str] = set()
    with db.session(read_only=True) as s:
        for i in range(0, len(wanted), 500):
            part = wanted[i:i + 500]
            rows = s.execute(select(Article.canonical_url, Article.url).where(
                or_(Article.canonical_url.in_(part), Article.url.in_(part))))
            for canonical, url in rows:
                known.update((canonical, url))
    return known


def _record_not_modified(db: Database, settings: Settings, feed: FeedState, batch: NotModifiedBatch | None) -> None:
    now = utcnow()
    if batch is not None:
        batch.add(feed, now, _next_due(settings, now, feed))
        return
    single = NotModifiedBatch(db)
    single.add(feed, now, _next_due(settings, now, feed))
    single.flush()


def _record_success(db: Database, settings: Settings, feed: FeedState, poll: FeedPoll) -> None:
    now = utcnow()
    with db.session() as s:
        s.execute(update(Feed).where(Feed.id == feed.id).values(
            last_polled_at=now, last_ok_at=now, last_status=poll.status, failures=0, last_error=None,
            etag=None if poll.held_back else poll.etag,
            last_modified=None if poll.held_back else poll.last_modified, last_warning=poll.warning,
            entries_seen=len(poll.entries), next_poll_at=_next_due(settings, now, feed)))
        _mark_outlets_ok(s, [feed.outlet_id], now)


def _record_failure(db: Database, settings: Settings, feed: FeedState, error: str, status: int | None) -> None:
    now = utcnow()
    with db.session() as s:
        row = s.get_one(Feed, feed.id)
        row.last_polled_at, row.last_status, row.last_error = now, status, error
        row.failures += 1
        wait = backoff(row.failures, settings, feed.interval_minutes)
        row.next_poll_at = now + wait + _jitter(settings)
        outlet = s.get_one(Outlet, feed.outlet_id)
        outlet.last_error, outlet.last_error_at = error, now
        outlet.failures += 1
        failures = row.failures
    log.warning("feed failed", extra={"outlet": feed.outlet, "feed": feed.url, "error": error,
                                      "failures": failures, "retry_in_seconds": round(wait.total_seconds())})


async def poll_feeds(db: Database, settings: Settings, fetcher: Fetcher, feeds: list[FeedState], *,
                     progress: Progress | None = None, observe: Observe | None = None,
                     batch: NotModifiedBatch | None = None) -> CycleReport:
    """Poll these feeds concurrently (the fetcher enforces global and per-host limits), within the
    cycle's deadline: a feed not done by then is stopped and recorded as failed, so one slow
    server never holds the cycle longer than `poll.cycle_deadline_seconds`."""
    report = CycleReport()
    stages = Stages(report.stage_seconds, observe)
    own_batch = batch is None
    batch = batch if batch is not None else NotModifiedBatch(db)
    done: set[int] = set()

    window = settings.poll.order_window_seconds
    order = PublicationOrder(window) if window > 0 and len(feeds) > 1 else None

    async def one(feed: FeedState) -> None:
        fr, ids = await poll_one(db, settings, fetcher, feed, batch=batch, stages=stages, order=order)
        done.add(feed.id)
        report.feeds.append(fr)
        report.new_article_ids.extend(ids)
        if progress:
            progress(fr)

    deadline = settings.poll.cycle_deadline_seconds
    try:
        async with asyncio.timeout(deadline):
            await asyncio.gather(*(one(f) for f in feeds))
    except TimeoutError:
        for feed in feeds:
            if feed.id not in done:
                _cut_at_deadline(db, settings, feed, deadline, report, progress)
    finally:
        if order is not None:
            order.close()
        if own_batch:  # also when cancelled: the 304s already seen are worth keeping
            batch.flush()
    return report


def _cut_at_deadline(db: Database, settings: Settings, feed: FeedState, deadline: float, report: CycleReport,
                     progress: Progress | None) -> None:
    """A feed stopped by the cycle's deadline: a failure on its row (articles already stored stay)."""
    fr = FeedReport(url=feed.url, outlet=feed.outlet, status="error", feed_id=feed.id)
    _fail(db, settings, feed, fr, f"not finished within the poll cycle's deadline ({deadline:g} s): "
                                  "stopped, to be polled again later", None)
    report.feeds.append(fr)
    if progress:
        progress(fr)


async def poll_due(db: Database, settings: Settings, *, force: bool = False,
                   progress: Progress | None = None, observe: Observe | None = None) -> CycleReport:
    """Poll every due feed once, concurrently."""
    feeds = due_feeds(db, settings, utcnow(), force=force)
    async with Fetcher(settings.http) as fetcher:
        return await poll_feeds(db, settings, fetcher, feeds, progress=progress, observe=observe)


def run_once(settings: Settings, *, force: bool = True, progress: Progress | None = None,
             db: Database | None = None) -> CycleReport:
    """One whole cycle from a standing start: migrate, sync config, poll, ingest."""
    db = db or Database(settings.database_url)
    sync_outlets(db, settings)
    return asyncio.run(poll_due(db, settings, force=force, progress=progress))
