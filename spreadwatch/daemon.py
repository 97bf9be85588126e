"""The daemon: APScheduler decides when each part runs; the database holds what it has done.

Jobs (one instance each, misfires coalesced):
- poll:    every `poll.tick_seconds`; polls only the feeds whose own `next_poll_at` has come (each
           feed has its own interval + jitter, and backoff when failing), so a restart resumes the
           schedule from the database rather than polling everything at once.
- crawl:   the Scrapy spiders, every `poll.crawl_minutes`, in a child process (see spiders/).
- alerts:  the outbox sender, every `poll.send_seconds`.
- housekeeping: retention and ANALYZE, daily.
SIGTERM/SIGINT stop the scheduler and cancel in-flight polls; an article being ingested either
commits whole or rolls back whole, so nothing is half-written.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from spreadwatch.cycle import poll_due, sync_outlets
from spreadwatch.metrics import Metrics
from spreadwatch.settings import Settings
from storage import Database, utcnow

log = logging.getLogger("spreadwatch.daemon")


@dataclass
class DaemonState:
    started_at: datetime = field(default_factory=utcnow)
    last_cycle_ok_at: datetime | None = None
    last_cycle_error: str | None = None
    metrics: Metrics = field(default_factory=Metrics)


class Daemon:
    """Owns the scheduler, the jobs and the health endpoint."""

    def __init__(self, settings: Settings, *, health_port: int | None = None) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self.state = DaemonState()
        self.health_port = health_port
        self.scheduler = AsyncIOScheduler(timezone="UTC", job_defaults={
            "max_instances": 1, "coalesce": True, "misfire_grace_time": 60})
        self._stopping: asyncio.Event | None = None

    async def poll_job(self) -> None:
        t0 = time.perf_counter()
        try:
            report = await poll_due(self.db, self.settings)
        except Exception as e:  # a bug in one cycle must not kill the daemon
            log.exception("poll cycle failed")
            self.state.last_cycle_error = f"{e.__class__.__name__}: {e}"
            self.state.metrics.inc("spreadwatch_cycle_failures_total")
            return
        m = self.state.metrics
        m.observe("spreadwatch_poll_cycle_seconds", time.perf_counter() - t0)
        for fr in report.feeds:
            m.inc("spreadwatch_polls_total", status=fr.status)
        m.inc("spreadwatch_articles_ingested_total", report.new)
        self.state.last_cycle_ok_at, self.state.last_cycle_error = utcnow(), None
        if report.new:
            log.info("cycle: %d feeds, %d new articles", len(report.feeds), report.new)
            await self.send_job()

    async def send_job(self) -> None:
        from alerts.outbox import send_due

        try:
            sent = await asyncio.to_thread(send_due, self.db, self.settings)
            self.state.metrics.inc("spreadwatch_alerts_sent_total", getattr(sent, "sent", 0))
        except Exception:
            log.exception("alert sender failed")

    async def crawl_job(self) -> None:
        from spiders import run_crawl

        keys = [o.key for o in self.settings.outlets if o.enabled and (o.sitemaps or o.listings or o.json_endpoints)]
        if keys:
            try:
                await asyncio.to_thread(run_crawl, self.settings, keys)
            except Exception:
                log.exception("crawl failed")

    async def housekeeping_job(self) -> None:
        from spreadwatch.housekeeping import housekeep

        try:
            report = await asyncio.to_thread(housekeep, self.db, self.settings)
            log.info("housekeeping: %d texts dropped, statistics refreshed", report.texts_dropped)
        except Exception:
            log.exception("housekeeping failed")

    def schedule(self) -> None:
        p = self.settings.poll
        now = utcnow()
        self.scheduler.add_job(self.poll_job, "interval", seconds=p.tick_seconds, id="poll", next_run_time=now)
        self.scheduler.add_job(self.send_job, "interval", seconds=p.send_seconds, id="alerts")
        self.scheduler.add_job(self.crawl_job, "interval", minutes=p.crawl_minutes, id="crawl",
                               next_run_time=now, jitter=min(30, p.crawl_minutes * 6))
        self.scheduler.add_job(self.housekeeping_job, "interval", hours=24, id="housekeeping")

    async def serve(self) -> None:
        """Run until SIGTERM/SIGINT."""
        self._stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        sync_outlets(self.db, self.settings)
        health = self._start_health()
        self.schedule()
        self.scheduler.start()
        log.info("daemon started: %d outlets", len(self.settings.outlets))
        try:
            await self._stopping.wait()
        finally:
            log.info("stopping")
            self.scheduler.shutdown(wait=False)
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if health:
                health.stop()
            self.db.dispose()

    def _start_health(self) -> Any:
        if self.health_port is None:
            return None
        from spreadwatch.health import start_health_server

        return start_health_server(self, self.health_port)


def run_daemon(settings: Settings, *, health_port: int | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(Daemon(settings, health_port=health_port).serve())
