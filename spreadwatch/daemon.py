"""The daemon: APScheduler decides when each part runs; the database holds what it has done.

Jobs (one instance each, misfires coalesced):
- poll:    every `poll.tick_seconds`, starts polling the feeds whose own `next_poll_at` has come
           (each feed has its own interval + jitter, and backoff when failing) and that are not
           being polled already. It does not wait for them: a site that hangs until its timeout
           holds only its own feed, and the next tick polls the others as they fall due.
- alerts:  the outbox sender, every `poll.send_seconds`, and right after new articles are stored.
- crawl:   the Scrapy spiders, every `poll.crawl_minutes`, in a child process (see spiders/).
- housekeeping: retention and ANALYZE, daily.

SIGTERM/SIGINT: the scheduler stops, in-flight polls are cancelled (an article being ingested
commits whole or rolls back whole; a feed whose poll was abandoned keeps its old state and is
polled again by the next start), 304s already seen are written, a running crawl is told to stop
(its child process is killed at once), and the blocking jobs still running (an alert send,
housekeeping, the crawl's own bookkeeping) get `STOP_GRACE_SECONDS` to finish. They run in daemon threads, so none of them can
hold the process past that.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Awaitable, Callable, TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from crawler import Fetcher
from spreadwatch.cycle import STAGES, FeedReport, FeedState, NotModifiedBatch, due_feeds, poll_feeds, sync_outlets
from spreadwatch.logs import EventFormatter, configure_logging
from spreadwatch.metrics import Metrics
from spreadwatch.settings import Settings
from storage import Database, utcnow

log = logging.getLogger("spreadwatch.daemon")
__all__ = ["Daemon", "DaemonState", "EventFormatter", "run_daemon"]  # EventFormatter: its log format

STOP_GRACE_SECONDS = 5.0  # how long SIGTERM waits for blocking jobs in progress
SEND_ROUNDS = 10  # sender reruns in a row when new alerts keep arriving while it sends
T = TypeVar("T")


@dataclass
class DaemonState:
    started_at: datetime = field(default_factory=utcnow)
    last_tick_at: datetime | None = None
    last_cycle_ok_at: datetime | None = None
    last_cycle_error: str | None = None
    metrics: Metrics = field(default_factory=Metrics)


class Daemon:
    """Owns the scheduler, the jobs and the health endpoint."""

    def __init__(self, settings: Settings, *, health_port: int | None = None, health_host: str = "127.0.0.1") -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self.state = DaemonState()
        self.health_port, self.health_host = health_port, health_host
        self.scheduler = AsyncIOScheduler(timezone="UTC", job_defaults={
            "max_instances": 1, "coalesce": True, "misfire_grace_time": 60})
        self.in_flight: set[int] = set()  # feed ids polled now, or whose 304 is not written yet
        self._batch = NotModifiedBatch(self.db, on_written=self.in_flight.difference_update)
        self._cycles: set[asyncio.Task[None]] = set()
        self._blocking: dict[str, asyncio.Future[Any]] = {}  # job name -> its running thread's result
        self._spawned: set[asyncio.Task[None]] = set()
        self._crawl_stop = threading.Event()  # set at stop: the crawl kills its child and returns
        self._send_lock = asyncio.Lock()
        self._send_wanted = False
        _zero_counters(self.state.metrics)

    # ------------------------------------------------------------------ polling
    async def poll_job(self) -> None:
        """Write waiting 304s, then start a cycle over the due feeds not already in flight."""
        now = self.state.last_tick_at = utcnow()
        try:
            self._batch.flush()
            feeds = due_feeds(self.db, self.settings, now, exclude=self.in_flight)
        except Exception as e:  # the database is away: report, and try again next tick
            self._job_failed("poll", e)
            return
        if not feeds:
            self.state.last_cycle_ok_at = now  # nothing was due: the schedule is kept
            return
        self.in_flight.update(f.id for f in feeds)
        task = asyncio.create_task(self._cycle(feeds), name=f"poll-{len(feeds)}-feeds")
        self._cycles.add(task)
        task.add_done_callback(self._cycles.discard)

    async def _cycle(self, feeds: list[FeedState]) -> None:
        t0 = time.perf_counter()
        try:
            async with Fetcher(self.settings.http) as fetcher:
                report = await poll_feeds(self.db, self.settings, fetcher, feeds, progress=self._feed_done,
                                          observe=self._observe, batch=self._batch)
        except Exception as e:  # a bug in one cycle must not kill the daemon
            self._job_failed("poll", e)
            return
        finally:
            self._release(feeds)
        self.state.last_cycle_ok_at, self.state.last_cycle_error = utcnow(), None
        failed = sum(f.status == "error" for f in report.feeds)
        if report.new or failed:
            log.info("cycle done", extra={"feeds": len(report.feeds), "new": report.new, "failed": failed,
                                          "seconds": round(time.perf_counter() - t0, 3)})

    def _release(self, feeds: list[FeedState]) -> None:
        try:
            self._batch.flush()
        except Exception:  # unwritten 304s only mean these feeds are polled again
            log.exception("could not record not-modified feeds")
        self.in_flight.difference_update(f.id for f in feeds)

    def _feed_done(self, fr: FeedReport) -> None:
        m = self.state.metrics
        m.inc("spreadwatch_polls_total", status=fr.status)
        if fr.status != "not-modified":  # recorded already; a 304 waits for its batch
            self.in_flight.discard(fr.feed_id)
        if fr.new:
            m.inc("spreadwatch_articles_ingested_total", fr.new)
            log.info("feed polled", extra={"outlet": fr.outlet, "feed": fr.url, "entries": fr.entries,
                                           "new": fr.new, "matched": fr.matched, "seconds": round(fr.seconds, 3)})
            self._request_send()
        elif fr.status == "not-modified":
            log.debug("feed not modified", extra={"outlet": fr.outlet, "feed": fr.url})

    def _observe(self, stage: str, seconds: float) -> None:
        self.state.metrics.observe("spreadwatch_stage_seconds", seconds, stage=stage)

    # ------------------------------------------------------------------ alerts
    def _request_send(self) -> None:
        """Send soon: now if no sender runs, else the running one goes round once more."""
        self._send_wanted = True
        if not self._send_lock.locked():
            task = asyncio.get_running_loop().create_task(self.send_job(), name="alerts-after-ingest")
            self._spawned.add(task)
            task.add_done_callback(self._spawned.discard)

    async def send_job(self) -> None:
        """Send due alerts; one sender at a time, rerun when new alerts came in meanwhile."""
        self._send_wanted = True
        if self._send_lock.locked():
            return  # the running sender sees the flag and goes round once more
        async with self._send_lock:
            for _ in range(SEND_ROUNDS):
                if not self._send_wanted:
                    break
                self._send_wanted = False
                await self._send_once()

    async def _send_once(self) -> None:
        from alerts.outbox import send_due

        m, t0 = self.state.metrics, time.perf_counter()
        try:
            report = await self._in_thread("alerts", send_due, self.db, self.settings)
        except Exception as e:
            self._job_failed("alerts", e)
            return
        m.observe("spreadwatch_stage_seconds", time.perf_counter() - t0, stage="alerts")
        m.inc("spreadwatch_alerts_sent_total", report.sent)
        m.inc("spreadwatch_alert_send_failures_total", report.failed + report.retrying)
        if report.sent or report.failed or report.retrying:
            log.info("alerts sent", extra={"sent": report.sent, "retrying": report.retrying, "failed": report.failed,
                                           "error": "; ".join(report.errors[:3]) or None})

    # ------------------------------------------------------------------ spiders, housekeeping
    async def crawl_job(self) -> None:
        from spiders import crawlable, run_crawl

        keys = [o.key for o in crawlable(self.settings)[0]]
        if not keys:
            return
        t0 = time.perf_counter()
        try:
            report = await self._in_thread("crawl", partial(run_crawl, stop=self._crawl_stop), self.settings, keys)
        except Exception as e:
            self._job_failed("crawl", e)
            return
        self.state.metrics.observe("spreadwatch_stage_seconds", time.perf_counter() - t0, stage="crawl")
        self.state.metrics.inc("spreadwatch_crawls_total", result="error" if report.error else "ok")
        log.info("crawl done", extra={"outlets": len(keys), "error": report.error})
        self._request_send()

    async def housekeeping_job(self) -> None:
        from spreadwatch.housekeeping import housekeep

        try:
            report = await self._in_thread("housekeeping", housekeep, self.db, self.settings)
        except Exception as e:
            self._job_failed("housekeeping", e)
            return
        log.info("housekeeping done", extra={"texts_dropped": report.texts_dropped, "analyzed": report.analyzed})

    def _job_failed(self, job: str, error: Exception) -> None:
        log.error("job failed", exc_info=error, extra={"job": job, "error": f"{error.__class__.__name__}: {error}"})
        self.state.metrics.inc("spreadwatch_cycle_failures_total", job=job)
        if job == "poll":
            self.state.last_cycle_error = f"{error.__class__.__name__}: {error}"

    async def _in_thread(self, name: str, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking work in a daemon thread: unlike asyncio.to_thread's pool, an abandoned one
        cannot keep the process alive after SIGTERM."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()

        def target() -> None:
            try:
                result = fn(*args)
            except BaseException as e:  # handed to the awaiting job, which reports it
                _settle_threadsafe(loop, fut, None, e)
            else:
                _settle_threadsafe(loop, fut, result, None)

        # kept until the thread itself ends (not the awaiting job, which shutdown cancels), so
        # stop() knows which work is still running
        self._blocking[name] = fut
        fut.add_done_callback(lambda f: self._blocking.pop(name) if self._blocking.get(name) is f else None)
        threading.Thread(target=target, name=f"spreadwatch-{name}", daemon=True).start()
        return await asyncio.shield(fut)

    # ------------------------------------------------------------------ life cycle
    def schedule(self) -> None:
        p = self.settings.poll
        now = utcnow()
        self.scheduler.add_job(_job("poll", self.poll_job), "interval", seconds=p.tick_seconds, id="poll",
                               next_run_time=now)
        self.scheduler.add_job(_job("alerts", self.send_job), "interval", seconds=p.send_seconds, id="alerts")
        self.scheduler.add_job(_job("crawl", self.crawl_job), "interval", minutes=p.crawl_minutes, id="crawl",
                               next_run_time=now, jitter=min(30, p.crawl_minutes * 6))
        self.scheduler.add_job(_job("housekeeping", self.housekeeping_job), "interval", hours=24, id="housekeeping")

    async def serve(self) -> None:
        """Run until SIGTERM/SIGINT."""
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        sync_outlets(self.db, self.settings)
        health = self._start_health()
        self.schedule()
        self.scheduler.start()
        log.info("daemon started", extra={"outlets": len(self.settings.outlets), "health_port": self.health_port})
        try:
            await stopping.wait()
        finally:
            await self.stop()
            if health:
                health.stop()
            self.db.dispose()
            log.info("stopped")

    async def stop(self) -> None:
        """Stop scheduling, abandon in-flight polls, end the crawl, let a send finish briefly."""
        log.info("stopping", extra={"feeds_in_flight": len(self.in_flight)})
        self.scheduler.shutdown(wait=False)
        self._crawl_stop.set()
        for task in list(self._cycles):
            task.cancel()
        await asyncio.gather(*self._cycles, return_exceptions=True)  # each one writes its 304s first
        # the crawl's thread kills its child and records why; a send or housekeeping may finish
        running = dict(self._blocking)
        if running:
            _, late = await asyncio.wait(running.values(), timeout=STOP_GRACE_SECONDS)
            if late:
                log.warning("abandoned at stop", extra={"jobs": sorted(n for n, f in running.items() if f in late)})
        _end_children()  # any child process still there
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in others:
            t.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def _start_health(self) -> Any:
        if self.health_port is None:
            return None
        from spreadwatch.health import start_health_server

        return start_health_server(self, self.health_port, self.health_host)


def _job(name: str, run: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """A scheduled job that ends quietly when stop() cancels it (the scheduler would log the
    cancellation as a job error with a traceback)."""
    async def job() -> None:
        try:
            await run()
        except asyncio.CancelledError:
            log.info("job abandoned at stop", extra={"job": name})
    job.__name__ = job.__qualname__ = f"{name}_job"
    return job


def _zero_counters(m: Metrics) -> None:
    """Known label sets start at zero, so rates work from the first scrape."""
    for status in ("ok", "not-modified", "error"):
        m.inc("spreadwatch_polls_total", 0, status=status)
    for name in ("spreadwatch_articles_ingested_total", "spreadwatch_alerts_sent_total",
                 "spreadwatch_alert_send_failures_total"):
        m.inc(name, 0)
    for stage in (*STAGES, "alerts"):
        m.start_histogram("spreadwatch_stage_seconds", stage=stage)


def _settle_threadsafe(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[Any], result: Any,
                       error: BaseException | None) -> None:
    def settle() -> None:
        if fut.done():
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the loop has closed: the daemon stopped without this result
        pass


def _end_children(grace: float = 3.0) -> None:
    """Terminate child processes still running (SIGTERM, then SIGKILL): a crawl's child stores each
    article in its own transaction, so stopping it anywhere loses nothing the next crawl won't find."""
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    deadline = time.monotonic() + grace
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
        if child.is_alive():
            child.kill()
            child.join(1)


def run_daemon(settings: Settings, *, health_port: int | None = None, health_host: str = "127.0.0.1",
               log_json: bool = False) -> None:
    """Run the daemon in this process until SIGTERM/SIGINT."""
    configure_logging(as_json=log_json)
    asyncio.run(Daemon(settings, health_port=health_port, health_host=health_host).serve())
