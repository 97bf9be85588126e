"""/healthz and /metrics on a local port, for the daemon's supervisors and Prometheus."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, text

from spreadwatch.localserver import LocalServer, Response
from storage import Article, Delivery, Story, utcnow

if TYPE_CHECKING:
    from spreadwatch.daemon import Daemon


def start_health_server(daemon: Daemon, port: int, host: str = "127.0.0.1") -> LocalServer:
    srv = LocalServer(host, port)
    srv.route("/healthz", lambda req: _healthz(daemon))
    srv.route("/metrics", lambda req: _metrics(daemon))
    return srv.start()


def _healthz(daemon: Daemon) -> Response:
    st = daemon.state
    try:
        with daemon.db.engine.connect() as c:
            c.execute(text("select 1"))
        db_ok, db_error = True, None
    except Exception as e:  # report, don't raise: this is the health check
        db_ok, db_error = False, f"{e.__class__.__name__}: {e}"
    stale_after = timedelta(seconds=daemon.settings.poll.tick_seconds * 5 + 60)
    fresh = st.last_cycle_ok_at is not None and utcnow() - st.last_cycle_ok_at < stale_after
    ok = daemon.scheduler.running and db_ok and (fresh or utcnow() - st.started_at < stale_after)
    body = {"ok": ok, "scheduler_running": daemon.scheduler.running, "database": db_ok,
            "database_error": db_error, "started_at": st.started_at.isoformat(),
            "last_cycle_ok_at": st.last_cycle_ok_at.isoformat() if st.last_cycle_ok_at else None,
            "last_cycle_error": st.last_cycle_error}
    return Response(200 if ok else 503, json.dumps(body).encode(), {"Content-Type": "application/json"})


def _metrics(daemon: Daemon) -> Response:
    gauges: dict[str, float] = {}
    try:
        with daemon.db.session() as s:
            gauges["spreadwatch_articles"] = s.scalar(select(func.count(Article.id))) or 0
            gauges["spreadwatch_stories"] = s.scalar(select(func.count(Story.id))) or 0
            gauges["spreadwatch_alert_deliveries_pending"] = s.scalar(
                select(func.count(Delivery.id)).where(Delivery.state.in_(("pending", "sending")))) or 0
    except Exception:
        gauges["spreadwatch_database_up"] = 0
    body = daemon.state.metrics.render(gauges)
    return Response(200, body.encode(), {"Content-Type": "text/plain; version=0.0.4"})
