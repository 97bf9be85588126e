"""Operations as a user meets them, each through a real process: health that tells the truth when
writes fail, two daemons starting together on a fresh database, exit codes, and `alerts send`
saying what is still held under a lease."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, select, text

from alerts.sinks import SMTPSink, free_port
from spreadwatch.newsroom import Newsroom
from storage import Article, Database, Delivery, utcnow
from tests.alerts.replayed import KOSOVO, email_channel, ingest_story, kill_sender_mid_send, settings_with
from tests.conftest import PG_ADMIN_URL
from tests.e2e.test_daemon import (T_AFTER, T_BEFORE, count, kill_if_running, metric, released, start, stop,
                                   wait_for, write_config)


def health(port: int) -> tuple[int, dict[str, Any]]:
    r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    return r.status_code, r.json()


def metrics(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text


def set_read_only(pg_url: str, read_only: bool) -> None:
    """Make every new transaction of this database read-only (or not again), and end its sessions so
    the daemon's pool reconnects into the new setting: reads answer, writes are refused."""
    name = pg_url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if read_only else "off"}'))
            c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n "
                           "AND pid <> pg_backend_pid()"), {"n": name})
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_health_turns_503_while_writes_fail_and_counts_failed_ingests(tmp_path: Path, pg_url: str) -> None:
    port = free_port()
    with Newsroom(now=T_BEFORE) as nr, SMTPSink() as sink:
        cfg = write_config(tmp_path / "c.yaml", nr, sink.port, pg_url, spiders=False)
        proc = start(cfg, port, tmp_path / "daemon.log")
        try:
            db = Database(pg_url)
            assert wait_for(lambda: count(db, Article) == released(nr, spiders=False))
            assert wait_for(lambda: health(port)[0] == 200)
            assert metric(metrics(port), "spreadwatch_transaction_failures_total", transaction="ingest") == 0

            set_read_only(pg_url, True)
            nr.release_until(T_AFTER)  # new articles the daemon cannot store
            assert wait_for(lambda: metric(metrics(port), "spreadwatch_transaction_failures_total",
                                           transaction="ingest") >= 1, timeout=60), "an ingest was refused"
            status, body = health(port)
            assert status == 503 and body["ok"] is False and body["database"] is False
            assert "writes fail" in body["database_error"] and "read-only transaction" in body["database_error"]
            text_ = metrics(port)
            assert metric(text_, "spreadwatch_database_writes_failing") == 1
            assert metric(text_, "spreadwatch_database_up") == 1  # reads still answer: that alone said "ok"

            set_read_only(pg_url, False)
            assert wait_for(lambda: count(db, Article) == released(nr, spiders=False), timeout=60)
            assert wait_for(lambda: health(port)[0] == 200, timeout=30), health(port)
            assert metric(metrics(port), "spreadwatch_database_writes_failing") == 0
            stop(proc)
        finally:
            kill_if_running(proc)
            db.dispose()


@pytest.mark.postgres
def test_two_daemons_started_together_on_a_fresh_database_one_runs_the_other_says_why_not(
        tmp_path: Path, pg_url: str) -> None:
    """Two `run`s on one PostgreSQL database would poll every feed twice (spreadwatch/exclusive.py):
    started at the same moment on a fresh database, one migrates and runs, the other exits with
    code 3 and one line saying why, and neither start-up shows a traceback or a duplicate row."""
    ports = [free_port(), free_port()]
    with Newsroom(now=T_BEFORE) as nr, SMTPSink() as sink:
        cfg = write_config(tmp_path / "c.yaml", nr, sink.port, pg_url, spiders=False)
        procs = [start(cfg, port, tmp_path / f"daemon{n}.log") for n, port in enumerate(ports)]
        try:
            assert wait_for(lambda: sum(p.poll() is not None for p in procs) == 1
                            and any(_healthy(port) for port in ports), timeout=60)
            running = next(n for n, p in enumerate(procs) if p.poll() is None)
            refused = 1 - running
            assert procs[refused].poll() == 3
            assert _healthy(ports[running])
            stop(procs[running])
        finally:
            for proc in procs:
                kill_if_running(proc)
    log = (tmp_path / f"daemon{running}.log").read_text()
    start_up = log.split("daemon started")[0]  # migrations and the outlet/feed rows: clean
    assert "daemon started" in log and "Traceback" not in start_up, start_up[-3000:]
    assert "UniqueViolation" not in log, log[-3000:]
    said = (tmp_path / f"daemon{refused}.log").read_text()
    assert "another `spreadwatch run` polls this database already" in said and "Traceback" not in said, said


def test_migrations_from_four_processes_at_once_take_turns(db_url: str) -> None:
    """The race made likely: four processes open the same fresh database at the same moment."""
    code = "import sys; from storage import Database; Database(sys.argv[1]).dispose()"
    procs = [subprocess.Popen([sys.executable, "-c", code, db_url], stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], "\n".join(errors)


def _healthy(port: int) -> bool:
    try:
        return health(port)[0] == 200
    except httpx.HTTPError:  # not listening yet
        return False


def test_alerts_send_says_what_a_killed_sender_still_holds(tmp_path: Path, sqlite_url: str) -> None:
    """`alerts send` right after a sender died mid-send: it names the delivery under the dead sender's
    lease and when the lease ends, instead of a bare "sent 0"."""
    with SMTPSink() as sink:
        channels = [email_channel(sink.port, timeout_seconds=30)]
        db = Database(sqlite_url)
        ingest_story(db, settings_with(sqlite_url, channels), KOSOVO, upto=3)
        kill_sender_mid_send(sink, sqlite_url, channels)
        cfg = tmp_path / "my.yaml"
        cfg.write_text(yaml.safe_dump({"default_outlets": False, "database_url": sqlite_url,
                                       "alerts": {"channels": channels, "rules": [{"name": "spreading"}],
                                                  "delivery": {"lease_seconds": 30}}}), encoding="utf-8")
        result = subprocess.run([sys.executable, "-m", "spreadwatch", "alerts", "send", "--config", str(cfg)],
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("sent 0")
    held = re.search(r"1 deliveries held under another sender's lease .*taken over by the first send after "
                     r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", result.stdout)
    assert held, result.stdout
    with db.session() as s:
        lease_end = s.scalar(select(Delivery.claimed_until))
    assert lease_end is not None and lease_end > utcnow()  # the dead sender's lease still runs
    assert held.group(1) == f"{lease_end:%Y-%m-%d %H:%M:%S}"
