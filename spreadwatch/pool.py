"""The worker pool: `spreadwatch worker` processes on any number of machines share one PostgreSQL
database through procrastinate, a task queue that lives in that same database.

Jobs (procrastinate tasks, all on the one queue "spreadwatch"):
- schedule (periodic, every `pool.tick_seconds`; procrastinate defers a periodic job once per
  period however many workers run): rescues the jobs of workers whose heartbeat stopped, then
  claims the due feeds (``FOR UPDATE SKIP LOCKED``; each claim bumps feed.poll_claim and holds the
  feed for a lease) and defers one poll job per feed *in the same transaction*, so a claim without
  its job, or a job without its claim, is never committed.
- poll(feed_id, claim): runs only if the feed still carries that claim (a compare-and-set that bumps
  it), so no job runs twice on one claim; a poll cut short by a dead worker is made good by the
  lease: the feed falls due again when it ends and `schedule` claims it anew. Polling is the daemon's (spreadwatch/cycle.py): the feed, its new
  pages, extraction, and per article one transaction for storage, story placement and alert rules.
  Placement takes a transaction-scoped advisory lock (storage/stories_repo.lock_stories), so the
  pool places one article at a time, as one process does: the `place` job places the waiting
  articles earliest published first, `pool.place_batch` of them per transaction and lock grant.
- send (queueing lock "send": at most one waiting): the alert outbox (alerts/outbox.py), whose
  claims and Message-IDs make a delivery go out once; deferred after new articles and periodically.
- housekeeping (periodic, daily).

Politeness: every worker's Fetcher takes its turns from the pool's Redis (crawler/hostgate.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from spreadwatch.cycle import FeedState, poll_one, sync_outlets
from spreadwatch.settings import Settings
from storage import Database, utcnow

log = logging.getLogger("spreadwatch.pool")

QUEUE = "spreadwatch"
SCHEMA_LOCK = 0x5357_5052_4F43  # "SWPROC": two workers starting on a fresh database take turns
SEND_LOCK = "send"
PLACE_LOCK = "place"  # the placement job's queueing lock: one waiting at most, for the whole pool


class NotPostgres(Exception):
    """The pool needs PostgreSQL: SQLite has one writer and no SKIP LOCKED."""


def require_postgres(url: str) -> None:
    if make_url(url).get_backend_name() != "postgresql":
        raise NotPostgres("spreadwatch worker needs a PostgreSQL database_url (the pool shares it); "
                          "on SQLite, `spreadwatch run` is the one process that does everything")


def conninfo(url: str) -> str:
    """The libpq address procrastinate's psycopg pool connects with."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def lease(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.pool.lease_seconds or settings.poll.cycle_deadline_seconds + 60)


# ------------------------------------------------------------------ schema


def apply_schema(db: Database) -> bool:
    """procrastinate's tables and functions, once (under an advisory lock); True if applied now."""
    from procrastinate.schema import SchemaManager

    with db.engine.begin() as c:
        c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
        if c.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None:
            return False
        raw = c.connection.driver_connection  # psycopg itself: the schema has '%' that are no placeholders
        with raw.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(SchemaManager.get_schema())
    return True


# ------------------------------------------------------------------ deferring inside a transaction


def defer_in(s: Session, task: str, args: dict[str, Any], *, queueing_lock: str | None = None,
             lock: str | None = None, priority: int = 0) -> bool:
    """Defer a job in the caller's transaction: it exists exactly when the transaction commits.
    False if a job with this queueing lock is already waiting."""
    q = text("SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, :priority, :lock, :qlock, "
             "CAST(:args AS jsonb), NULL)::procrastinate_job_to_defer_v1])")
    params = {"queue": QUEUE, "task": task, "priority": priority, "lock": lock, "qlock": queueing_lock,
              "args": json.dumps(args)}
    if queueing_lock is None:
        s.execute(q, params)
        return True
    from sqlalchemy.exc import IntegrityError

    try:
        with s.begin_nested():
            s.execute(q, params)
    except IntegrityError:  # the unique index on waiting jobs' queueing locks: one is waiting already
        return False
    return True


def defer_placement(s: Session) -> bool:
    """The placement job, in the caller's transaction (one waiting at most: it places every article
    waiting when it runs)."""
    return defer_in(s, "spreadwatch.place", {}, queueing_lock=PLACE_LOCK, priority=8)


POLL_TASKS = ("spreadwatch.poll_batch", "spreadwatch.poll", "spreadwatch.crawl_part")  # the jobs that store articles


def polls_running(s: Session) -> bool:
    """Whether a job that stores articles is waiting or running anywhere in the pool."""
    return s.execute(text("SELECT 1 FROM procrastinate_jobs WHERE status IN ('todo', 'doing') "
                          "AND task_name = ANY(:tasks) LIMIT 1"), {"tasks": list(POLL_TASKS)}).first() is not None


def claim_due(db: Database, settings: Settings, now: datetime | None = None, slots: int = 8) -> int:
    """Claim the due, enabled feeds and defer their poll jobs, one `poll_batch` job per
    `pool.poll_batch` feeds, in one transaction; how many feeds. `slots`: the jobs a worker runs at
    once (the claiming worker's --concurrency, taken as every worker's)."""
    now = now or utcnow()
    enabled = [o.key for o in settings.outlets if o.enabled]
    configured = [f.url for o in settings.outlets if o.enabled for f in o.feeds]
    if not enabled:
        return 0
    size = settings.pool.poll_batch
    with db.session(purpose="claim") as s:
        rows = s.execute(text(
            "UPDATE feed SET poll_claim = poll_claim + 1, next_poll_at = :until "
            "WHERE id IN (SELECT f.id FROM feed f JOIN outlet o ON o.id = f.outlet_id "
            "  WHERE (f.next_poll_at IS NULL OR f.next_poll_at <= :now) AND o.key = ANY(:keys) "
            "  AND f.url = ANY(:urls) ORDER BY f.next_poll_at NULLS FIRST, f.id LIMIT :n "
            "  FOR UPDATE OF f SKIP LOCKED) "
            "RETURNING id, poll_claim"),
            {"until": now + lease(settings), "now": now, "keys": enabled, "urls": configured,
             "n": settings.pool.claim_batch}).all()
        claims = sorted((int(fid), int(claim)) for fid, claim in rows)
        if claims:
            # a few due feeds (a newsroom's 30, each with pages to fetch and extract) are shared out:
            # a worker takes as many jobs as it has free slots at once, so a batch job of many feeds
            # would leave the other workers idle. At least two jobs per slot of every live worker,
            # at most pool.poll_batch feeds each (a tick's 2,000 claimed feeds for one worker of 32
            # slots: 31 to a job); the jobs beyond the slots wait for whichever worker is free first
            workers = s.execute(text(
                "SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > now() - make_interval(secs => :s)"),
                {"s": settings.pool.stalled_seconds}).scalar() or 1
            size = max(1, min(size, len(claims) // (2 * max(1, slots) * int(workers))))
        for i in range(0, len(claims), size):
            defer_in(s, "spreadwatch.poll_batch", {"feeds": [list(c) for c in claims[i:i + size]]})
    return len(rows)


_INTERVALS: dict[int, tuple[Settings, dict[str, float]]] = {}


def _intervals(settings: Settings) -> dict[str, float]:
    """Each configured feed's interval by its URL, built once per settings (a pool of 10,000 feeds
    spent milliseconds per poll job rebuilding it)."""
    hit = _INTERVALS.get(id(settings))
    if hit is None or hit[0] is not settings:
        hit = _INTERVALS[id(settings)] = (settings, {f.url: f.interval_minutes or settings.poll.interval_minutes
                                                     for o in settings.outlets if o.enabled for f in o.feeds})
    return hit[1]


_TAKE_CLAIMS = text(
    # the rows locked in id order first (two runs of one batch, a retry beside a delayed original,
    # never deadlock), then each claim bumped only where the feed still carries it: a compare-and-set
    # per feed, in one statement
    "WITH wanted AS (SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:claims AS bigint[])) AS w(id, claim)), "
    "locked AS (SELECT f.id FROM feed f JOIN wanted w ON w.id = f.id AND f.poll_claim = w.claim "
    "  ORDER BY f.id FOR UPDATE OF f) "
    "UPDATE feed SET poll_claim = feed.poll_claim + 1, next_poll_at = :until "
    "FROM outlet, locked WHERE feed.id = locked.id AND outlet.id = feed.outlet_id "
    "RETURNING feed.id, feed.outlet_id, outlet.key, feed.url, feed.etag, feed.last_modified, "
    "feed.poll_interval_minutes")


def take_claims(db: Database, settings: Settings, claims: list[tuple[int, int]]) -> list[FeedState]:
    """The states of the feeds that still carry their claims, each claim bumped, in one UPDATE: this
    run owns those feeds for a lease. Any second run of the same job (a retry after its worker died,
    or after a heartbeat that a busy machine delayed) finds the claims moved and polls nothing: a
    feed whose poll was cut short is claimed again by `schedule` when its lease runs out."""
    if not claims:
        return []
    intervals = _intervals(settings)
    with db.session(purpose="claim") as s:
        rows = s.execute(_TAKE_CLAIMS, {"until": utcnow() + lease(settings), "ids": [int(f) for f, _ in claims],
                                        "claims": [int(c) for _, c in claims]}).all()
    out = []
    for row in sorted(rows, key=lambda r: r.id):
        if row.url not in intervals:
            continue  # no longer configured (or disabled): left alone
        interval = intervals[row.url]
        if settings.pool.adaptive and row.poll_interval_minutes:
            interval = row.poll_interval_minutes
        out.append(FeedState(row.id, row.outlet_id, row.key, row.url, row.etag, row.last_modified, interval))
    return out


def take_claim(db: Database, settings: Settings, feed_id: int, claim: int) -> FeedState | None:
    """One feed's take_claims: its state if it still carries `claim` (bumped), else None."""
    taken = take_claims(db, settings, [(feed_id, claim)])
    return taken[0] if taken else None


def adapt_interval(settings: Settings, current: float, new_items: int) -> float:
    """A feed with new items is polled twice as often, a quiet one a quarter less often, within the
    pool's bounds (Miniflux and Media Cloud adapt the same way, to how often a feed has news)."""
    p = settings.pool
    nxt = current / 2 if new_items else current * 1.25
    return min(max(nxt, p.min_interval_minutes), p.max_interval_minutes)


def record_interval(db: Database, settings: Settings, feed: FeedState, new_items: int, failed: bool) -> None:
    """Store the feed's adapted interval and move its next poll to it (a failure keeps the backoff)."""
    if not settings.pool.adaptive or failed:
        return
    interval = adapt_interval(settings, feed.interval_minutes, new_items)
    with db.session(purpose="interval") as s:
        s.execute(text("UPDATE feed SET poll_interval_minutes = :m, next_poll_at = last_polled_at + "
                       "make_interval(secs => :secs) WHERE id = :id AND last_polled_at IS NOT NULL"),
                  {"m": interval, "secs": interval * 60, "id": feed.id})


# ------------------------------------------------------------------ the worker


@dataclass
class WorkerState:
    """What this worker process has done, for its /healthz and `spreadwatch workers`."""

    name: str
    started_at: datetime = field(default_factory=utcnow)
    jobs_done: int = 0
    jobs_failed: int = 0
    polls: int = 0
    crawls: int = 0  # crawl parts done
    placements: int = 0  # articles placed by this worker's placement jobs
    running: dict[int, str] = field(default_factory=dict)  # procrastinate job id -> task
    last_job_at: datetime | None = None


class Pool:
    """One worker's procrastinate app, with the resources its jobs share (database, fetcher, gate)."""

    def __init__(self, settings: Settings, *, name: str | None = None) -> None:
        import procrastinate

        require_postgres(settings.database_url)
        self.settings = settings
        self.db = Database(settings.database_url)
        apply_schema(self.db)
        self.state = WorkerState(name or f"{socket.gethostname()}-{os.getpid()}")
        self.fetcher: Any = None
        self.gate: Any = None
        # 304s are written in batches, as the daemon writes them (NotModifiedBatch), flushed every
        # second: a feed whose 304 is not yet written keeps its claim's lease, so it cannot be polled
        # again before (a worker killed meanwhile leaves it to be polled when the lease ends). With
        # adaptive intervals each poll's time is needed at once, so each is written by itself.
        self.not_modified: Any = None
        # one placement loop per worker: a `place` job that finds this worker's loop running leaves
        # its articles to it (`place_again` makes the loop look once more) instead of blocking a
        # job slot, a thread and a connection on the placement lock
        self.placing = self.place_again = False
        self.concurrency = 8  # jobs at once: run() sets --concurrency
        self.feed_slots = asyncio.Semaphore(8)  # feeds polled at once by this worker: run() sets --concurrency
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(
            conninfo=conninfo(settings.database_url), min_size=1, max_size=4))
        self._register()

    # -------------------------------------------------------------- tasks
    def _register(self) -> None:
        app, p = self.app, self.settings.pool

        @app.periodic(cron=f"* * * * * */{p.tick_seconds}", periodic_id="tick")
        @app.task(name="spreadwatch.schedule", queue=QUEUE, priority=10, queueing_lock="schedule")
        async def schedule(timestamp: int) -> None:
            await self._tracked("schedule", self._schedule)

        @app.task(name="spreadwatch.poll_batch", queue=QUEUE, pass_context=False)
        async def poll_batch(feeds: list[list[int]]) -> None:
            await self._tracked("poll", self._poll_batch, [(int(f), int(c)) for f, c in feeds])

        # one feed's job, as `schedule` deferred them before batches: jobs still queued by an older
        # worker run the same way
        @app.task(name="spreadwatch.poll", queue=QUEUE, pass_context=False)
        async def poll(feed_id: int, claim: int) -> None:
            await self._tracked("poll", self._poll_batch, [(feed_id, claim)])

        # no job lock: a job lock held by a killed worker's job, whose retry the waiting job's queueing
        # lock refuses, would hold every later one; two place jobs at once simply take turns at the
        # placement lock, article by article
        @app.task(name="spreadwatch.place", queue=QUEUE, priority=8, queueing_lock=PLACE_LOCK)
        async def place() -> None:
            await self._tracked("place", self._place)

        @app.task(name="spreadwatch.send", queue=QUEUE, priority=5, queueing_lock=SEND_LOCK)
        async def send() -> None:
            await self._tracked("send", self._send)

        @app.periodic(cron=f"* * * * * */{max(1, min(59, int(self.settings.poll.send_seconds)))}",
                      periodic_id="send")
        @app.task(name="spreadwatch.send_periodic", queue=QUEUE, priority=5, queueing_lock="send-periodic")
        async def send_periodic(timestamp: int) -> None:
            await self._tracked("send", self._send)

        crawl_every = max(1, min(59, int(self.settings.poll.crawl_minutes)))

        @app.periodic(cron=f"*/{crawl_every} * * * *", periodic_id="crawl")
        @app.task(name="spreadwatch.crawl", queue=QUEUE, queueing_lock="crawl")
        async def crawl(timestamp: int) -> None:
            await self._tracked("crawl", self._start_crawl, timestamp)

        @app.task(name="spreadwatch.crawl_part", queue=QUEUE, pass_context=False)
        async def crawl_part(crawl_id: str, part: int) -> None:
            await self._tracked("crawl", self._crawl_part, crawl_id, part)

        @app.periodic(cron="17 3 * * *", periodic_id="housekeeping")
        @app.task(name="spreadwatch.housekeeping", queue=QUEUE)
        async def housekeeping(timestamp: int) -> None:
            from spreadwatch.housekeeping import housekeep

            await self._tracked("housekeeping", lambda: asyncio.to_thread(housekeep, self.db, self.settings))

    async def _tracked(self, task: str, fn: Any, *args: Any) -> None:
        key = id(asyncio.current_task())
        self.state.running[key] = task
        try:
            await fn(*args)
        except Exception:
            self.state.jobs_failed += 1
            raise
        else:
            self.state.jobs_done += 1
        finally:
            self.state.running.pop(key, None)
            self.state.last_job_at = utcnow()

    async def _schedule(self) -> None:
        await self.rescue_stalled()
        n = await asyncio.to_thread(claim_due, self.db, self.settings, None, self.concurrency)
        if n:
            log.info("feeds claimed", extra={"feeds": n})
        await asyncio.to_thread(self._placement_due)

    def _placement_due(self) -> None:
        """Articles waiting for a story get a placement job (each article's transaction defers one;
        this covers a job that failed)."""
        with self.db.session(purpose="defer") as s:
            if s.execute(text("SELECT 1 FROM article WHERE story_id IS NULL LIMIT 1")).first() is not None:
                defer_placement(s)

    async def _place(self) -> None:
        """Place every article waiting for a story, earliest published first, `pool.place_batch` per
        transaction (the placement lock is taken once in each), then send what their alert rules
        fired. If this worker's placement loop runs already, it is told to look again, and this job
        ends: the loop only stops once a look after the last request finds nothing waiting, or
        finds the waiting articles held by the order window (then `schedule` brings it back)."""
        from spreadwatch.housekeeping import planner_statistics
        from spreadwatch.ingest import place_waiting, settled_mark

        if self.placing:
            self.place_again = True
            return

        window = self.settings.poll.order_window_seconds
        statistics = planner_statistics(self.db)

        def batch() -> Any:
            with self.db.session(purpose="place") as s:
                # while the pool still polls, an article waits (at most the order window) for the
                # earlier-published ones a running poll may bring: placed before them, it would be
                # placed again after them (placement.py's replay)
                through = settled_mark(s, window) if window > 0 and polls_running(s) else True
                results = place_waiting(s, self.settings, self.settings.pool.place_batch, through=through)
            statistics.placed(len(results))  # after the commit: the placement lock is not held
            return results, through is not True

        placed = alerts = replayed = 0
        self.placing = True
        try:
            while True:
                self.place_again = False
                results, held = await asyncio.to_thread(batch)
                placed += len(results)
                alerts += sum(r.alerts for r in results)
                replayed += sum(r.replayed for r in results)
                self.state.placements += len(results)
                # nothing left, or the rest held by the order window: the articles stored meanwhile
                # are then held too, and `schedule` defers a place job every tick while any waits
                if not results and (held or not self.place_again):
                    break
        finally:
            self.placing = False
        if placed:
            log.info("articles placed", extra={"articles": placed, "alerts": alerts, "replayed": replayed})
            with self.db.session(purpose="defer") as s:
                defer_in(s, "spreadwatch.send", {}, queueing_lock=SEND_LOCK, priority=5)

    async def rescue_stalled(self) -> int:
        """Jobs left 'doing' by workers whose heartbeat stopped (killed, machine gone) run again."""
        jobs = list(await self.app.job_manager.get_stalled_jobs(
            queue=QUEUE, seconds_since_heartbeat=self.settings.pool.stalled_seconds))
        from procrastinate.exceptions import UniqueViolation
        from procrastinate.jobs import Status

        retried = 0
        for job in jobs:
            try:
                await self.app.job_manager.retry_job(job)
                retried += 1
            except UniqueViolation:
                # a job with its queueing lock is waiting already (a placement or send job, which does
                # all the waiting work when it runs): the dead worker's one is closed instead
                await self.app.job_manager.finish_job_by_id_async(job.id, Status.FAILED, delete_job=False)
                log.warning("stalled job closed: another with its queueing lock waits",
                            extra={"job": job.id, "task": job.task_name})
            except Exception:  # another worker's schedule retried it first
                log.debug("stalled job already retried", extra={"job": job.id})
        jobs = jobs[:retried]
        if jobs:
            log.warning("stalled jobs retried", extra={"jobs": len(jobs), "tasks": sorted({j.task_name for j in jobs})})
        return len(jobs)

    async def _poll_batch(self, claims: list[tuple[int, int]]) -> None:
        """Poll a batch's feeds: their claims taken in one UPDATE (the feeds whose claims moved, a
        retried batch's, are left out), then polled concurrently, at most `concurrency` feeds at once
        in this worker, the whole batch within `poll.cycle_deadline_seconds` of taking its claims
        (inside their lease): a feed cut short keeps its claim and falls due when the lease ends."""
        feeds = await asyncio.to_thread(take_claims, self.db, self.settings, claims)
        if not feeds:
            return  # polled or claimed again meanwhile: this job is a leftover
        deadline = self.settings.poll.cycle_deadline_seconds
        done = 0

        async def one(feed: FeedState) -> None:
            nonlocal done
            async with self.feed_slots:
                report, new_ids = await poll_one(self.db, self.settings, self.fetcher, feed, ingest_in_thread=True,
                                                 defer_placement=defer_placement, batch=self.not_modified)
            done += 1
            self.state.polls += 1
            await asyncio.to_thread(record_interval, self.db, self.settings, feed, len(new_ids),
                                    report.status == "error")

        try:
            async with asyncio.timeout(deadline):
                await asyncio.gather(*(one(f) for f in feeds))
        except TimeoutError:  # the articles stored so far stay; the rest are due again when their lease ends
            log.warning("poll batch cut at its deadline", extra={"feeds": len(feeds), "done": done,
                                                                 "seconds": deadline})

    async def _start_crawl(self, timestamp: int) -> None:
        """One crawl of every crawlable outlet, as `pool.crawl_parts` jobs that share its queue (any
        free workers take them, on any machines), deferred together in one transaction."""
        from spiders import crawlable

        if not crawlable(self.settings)[0]:
            return
        parts = self.settings.pool.crawl_parts if self.settings.pool.redis_url else 1
        crawl_id = f"{timestamp}"
        with self.db.session(purpose="defer") as s:
            for part in range(parts):
                defer_in(s, "spreadwatch.crawl_part", {"crawl_id": crawl_id, "part": part})
        log.info("crawl deferred", extra={"crawl": crawl_id, "parts": parts})

    async def _crawl_part(self, crawl_id: str, part: int) -> None:
        """This worker's share of a crawl: a Scrapy child whose scheduler and duplicate filter are the
        crawl's, in Redis (spiders/shared.py); alone without Redis. A part whose worker died is run
        again by rescue_stalled and resumes from the shared queue."""
        from spiders import run_crawl
        from spiders.shared import SharedCrawl

        p = self.settings.pool
        shared = SharedCrawl(crawl_id, p.redis_url, p.redis_prefix) if p.redis_url else None
        report = await asyncio.to_thread(run_crawl, self.settings, shared=shared,
                                         timeout=self.settings.poll.cycle_deadline_seconds)
        self.state.crawls += 1
        log.info("crawl part done", extra={"crawl": crawl_id, "part": part, "pages": report.pages,
                                           "stored": report.ingested, "error": report.error})
        if report.ingested:
            with self.db.session(purpose="defer") as s:
                defer_in(s, "spreadwatch.send", {}, queueing_lock=SEND_LOCK, priority=5)

    async def _flush_not_modified(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await asyncio.to_thread(self.not_modified.flush)
            except Exception:  # the database is away: the feeds keep their leases and are polled again
                log.exception("could not record 304s")

    async def _send(self) -> None:
        from alerts.outbox import send_due

        report = await asyncio.to_thread(send_due, self.db, self.settings)
        if report.sent or report.failed or report.retrying:
            log.info("alerts sent", extra={"sent": report.sent, "retrying": report.retrying, "failed": report.failed})

    # -------------------------------------------------------------- life cycle
    async def run(self, concurrency: int, *, health_port: int | None = None, health_host: str = "127.0.0.1") -> None:
        from crawler import Fetcher

        await asyncio.to_thread(sync_outlets, self.db, self.settings)
        p = self.settings.pool
        if p.redis_url:
            from crawler.hostgate import RedisHostGate

            self.gate = RedisHostGate(p.redis_url, p.redis_prefix)
        self.concurrency = max(1, concurrency)
        self.feed_slots = asyncio.Semaphore(self.concurrency)
        health = start_worker_health(self, health_port, health_host) if health_port is not None else None
        flusher = None
        if not p.adaptive:
            from spreadwatch.cycle import NotModifiedBatch

            self.not_modified = NotModifiedBatch(self.db)
            flusher = asyncio.create_task(self._flush_not_modified())
        try:
            async with self.app.open_async():
                async with Fetcher(self.settings.http, gate=self.gate, host_delays=host_delays(self.settings)) as f:
                    self.fetcher = f
                    log.info("worker started", extra={"worker": self.state.name, "concurrency": concurrency})
                    await self.app.run_worker_async(
                        queues=[QUEUE], name=self.state.name, concurrency=concurrency,
                        update_heartbeat_interval=p.heartbeat_seconds, stalled_worker_timeout=p.stalled_seconds,
                        fetch_job_polling_interval=1.0, shutdown_graceful_timeout=5.0,
                        delete_jobs="successful")
        finally:
            if flusher is not None:
                flusher.cancel()
                await asyncio.to_thread(self.not_modified.flush)  # the last 304s, before the database goes
            if health:
                health.stop()
            if self.gate is not None:
                await self.gate.aclose()
            self.db.dispose()
            log.info("worker stopped", extra={"worker": self.state.name})


def host_delays(settings: Settings) -> dict[str, float]:
    """Outlets' own delay_seconds, by the hosts of their feeds."""
    from crawler.urls import host_of

    out: dict[str, float] = {}
    for o in settings.outlets:
        if o.delay_seconds:
            for f in o.feeds:
                h = host_of(f.url)
                out[h] = max(out.get(h, 0.0), o.delay_seconds)
    return out


# ------------------------------------------------------------------ operations


def pool_status(db: Database) -> dict[str, Any]:
    """Workers (with heartbeats), the jobs they run, and queue depths by task and status."""
    with db.session(read_only=True) as s:
        workers = [dict(r._mapping) for r in s.execute(text(
            "SELECT w.id, w.last_heartbeat, count(j.id) AS doing, "
            "coalesce(string_agg(DISTINCT j.task_name, ','), '') AS tasks FROM procrastinate_workers w "
            "LEFT JOIN procrastinate_jobs j ON j.worker_id = w.id AND j.status = 'doing' "
            "GROUP BY w.id, w.last_heartbeat ORDER BY w.id"))]
        queues = [dict(r._mapping) for r in s.execute(text(
            "SELECT task_name, status, count(*) AS jobs FROM procrastinate_jobs "
            "WHERE status IN ('todo', 'doing', 'failed') GROUP BY task_name, status ORDER BY task_name, status"))]
        feeds_due = s.execute(text("SELECT count(*) FROM feed WHERE next_poll_at IS NULL OR next_poll_at <= now()")).scalar()
    return {"workers": workers, "queues": queues, "feeds_due": int(feeds_due or 0)}


def start_worker_health(pool: Pool, port: int, host: str) -> Any:
    """/healthz for one worker: 200 while its database answers, with what it is doing."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class _H(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            if self.path.split("?")[0] != "/healthz":
                self.send_response(404)
                self.end_headers()
                return
            ok, error = True, None
            try:
                with pool.db.session(read_only=True) as s:
                    s.execute(text("SELECT 1"))
            except Exception as e:
                ok, error = False, f"{e.__class__.__name__}: {e}"
            st = pool.state
            body = json.dumps({"status": "ok" if ok else "failing", "worker": st.name, "error": error,
                               "started_at": st.started_at.isoformat(), "jobs_done": st.jobs_done,
                               "jobs_failed": st.jobs_failed, "polls": st.polls, "crawls": st.crawls, "placements": st.placements,
                               "running": sorted(st.running.values()),
                               "last_job_at": st.last_job_at.isoformat() if st.last_job_at else None,
                               "uptime_seconds": round(time.time() - st.started_at.timestamp(), 1)}).encode()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer((host, port), _H)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, name="worker-health", daemon=True).start()

    class _Stop:
        def stop(self) -> None:
            httpd.shutdown()
            httpd.server_close()

    return _Stop()


def run_worker(settings: Settings, concurrency: int, *, health_port: int | None = None,
               health_host: str = "127.0.0.1", name: str | None = None, log_json: bool = False) -> None:
    from spreadwatch.logs import configure_logging

    configure_logging(as_json=log_json, level=logging.INFO)
    logging.getLogger("procrastinate").setLevel(logging.WARNING)  # a line per job is too many
    pool = Pool(settings, name=name)
    asyncio.run(pool.run(concurrency, health_port=health_port, health_host=health_host))
