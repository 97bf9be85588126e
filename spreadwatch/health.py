"""/healthz and /metrics on a local port, for the daemon's supervisors and for Prometheus.

The server runs in its own threads, so it still answers (with a 503) when the event loop is stuck:
"scheduler alive" means the poll job has really run recently, not only that a scheduler object
exists.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text

from spreadwatch.localserver import LocalServer, Response
from spreadwatch.metrics import Sample
from storage import Article, Database, Delivery, Feed, Story, utcnow

if TYPE_CHECKING:
    from spreadwatch.daemon import Daemon

DELIVERY_STATES = ("pending", "sending", "sent", "failed", "superseded")


def start_health_server(daemon: Daemon, port: int, host: str = "127.0.0.1") -> LocalServer:
    """Serve /healthz and /metrics for this daemon; returns the running server."""
    srv = LocalServer(host, port)
    srv.route("/healthz", lambda req: healthz(daemon))
    srv.route("/metrics", lambda req: metrics(daemon))
    return srv.start()


def healthz(daemon: Daemon) -> Response:
    """200 when the scheduler ticks, the database answers and a cycle finished lately; else 503."""
    body = health_report(daemon)
    return Response(200 if body["ok"] else 503, json.dumps(body).encode(), {"Content-Type": "application/json"})


def health_report(daemon: Daemon) -> dict[str, Any]:
    st, now, writes = daemon.state, utcnow(), daemon.db.writes
    stale = stale_after(daemon)
    # a database that answers reads but refuses writes (a read-only file, a full disk) is down:
    # nothing the daemon fetches can be stored
    db_error = ping(daemon.db) or (f"writes fail: {writes.last_error}" if writes.failing else None)
    ticking = daemon.scheduler.running and _recent(st.last_tick_at, now, stale)
    # a slow first cycle is no failure: the daemon gets one staleness window to finish one
    cycled = _recent(st.last_cycle_ok_at, now, stale) or now - st.started_at < stale
    return {"ok": bool(ticking and db_error is None and cycled),
            "scheduler_alive": bool(ticking), "database": db_error is None, "database_error": db_error,
            "last_write_ok_at": _iso(writes.last_ok_at), "last_write_error_at": _iso(writes.last_error_at),
            "started_at": st.started_at.isoformat(), "last_tick_at": _iso(st.last_tick_at),
            "last_cycle_ok_at": _iso(st.last_cycle_ok_at), "last_cycle_error": st.last_cycle_error,
            "feeds_in_flight": len(daemon.in_flight), "stale_after_seconds": stale.total_seconds()}


def stale_after(daemon: Daemon) -> timedelta:
    """How old the last tick or cycle may be: a few ticks plus one feed's worst case, its fetch and
    then its pages' (one request deadline each, covering all attempts), within the cycle's deadline."""
    p, h = daemon.settings.poll, daemon.settings.http
    worst_fetch = min(2 * h.total_timeout, p.cycle_deadline_seconds)
    return timedelta(seconds=p.tick_seconds * 5 + worst_fetch + 30)


def ping(db: Database) -> str | None:
    """None when the database answers, else the error for a person to read."""
    try:
        with db.engine.connect() as c:
            c.execute(text("select 1"))
        return None
    except Exception as e:  # report, don't raise: this is the health check
        return f"{e.__class__.__name__}: {e}"


def metrics(daemon: Daemon) -> Response:
    gauges = database_gauges(daemon.db) + write_samples(daemon.db)
    gauges.append(Sample("spreadwatch_feeds_in_flight", len(daemon.in_flight)))
    if daemon.state.last_cycle_ok_at:
        gauges.append(Sample("spreadwatch_last_cycle_ok_timestamp_seconds", daemon.state.last_cycle_ok_at.timestamp()))
    body = daemon.state.metrics.render(gauges)
    return Response(200, body.encode(), {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


def database_gauges(db: Database) -> list[Sample]:
    """Counts read from the database at scrape time, so they survive restarts."""
    try:
        with db.session(read_only=True) as s:
            articles = s.scalar(select(func.count(Article.id))) or 0
            stories = s.scalar(select(func.count(Story.id))) or 0
            failing = s.scalar(select(func.count(Feed.id)).where(Feed.failures > 0)) or 0
            states = dict(s.execute(select(Delivery.state, func.count(Delivery.id)).group_by(Delivery.state)).all())
    except Exception:  # the scrape still answers; the gauge says why numbers are missing
        return [Sample("spreadwatch_database_up", 0)]
    samples = [Sample("spreadwatch_database_up", 1), Sample("spreadwatch_articles", articles),
               Sample("spreadwatch_stories", stories), Sample("spreadwatch_feeds_failing", failing)]
    for state in sorted(set(DELIVERY_STATES) | set(states)):
        samples.append(Sample("spreadwatch_alert_deliveries", states.get(state, 0), (("state", state),)))
    return samples


def write_samples(db: Database) -> list[Sample]:
    """How this process's writes went: failed transactions by purpose, and whether writes fail now."""
    failures = db.writes.failures
    return [Sample("spreadwatch_database_writes_failing", int(db.writes.failing)),
            *(Sample("spreadwatch_transaction_failures_total", failures.get(p, 0), (("transaction", p),))
              for p in sorted({"ingest", "other", *failures}))]


def _recent(when: datetime | None, now: datetime, window: timedelta) -> bool:
    return when is not None and now - when < window


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None
