"""The daemon as users run it: a real process against the local newsroom, new items appearing while
it runs, alerts reaching a real SMTP server, health endpoints, and SIGTERM / SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import yaml
from sqlalchemy import func, select

from alerts.sinks import SMTPSink, free_port
from spreadwatch.newsroom import Newsroom
from storage import Alert, Article, Database, Delivery

T_BEFORE = datetime(2025, 2, 19, 6, 30, tzinfo=timezone.utc)  # only Bild's article is out
T_AFTER = datetime(2025, 2, 19, 9, 0, tzinfo=timezone.utc)  # the Albanian copies are out


def write_config(path: Path, newsroom: Newsroom, smtp_port: int, db_url: str) -> Path:
    cfg = {
        "default_outlets": False,
        "database_url": db_url,
        "outlets": newsroom.outlets_config(),  # feed outlets and the spider-only ones
        "http": {"per_host_delay": 0, "per_host_concurrency": 8, "retries": 0, "read_timeout": 5},
        "poll": {"interval_minutes": 0.01, "jitter_seconds": 0, "tick_seconds": 0.5, "send_seconds": 0.5,
                 "crawl_minutes": 0.05},
        "alerts": {"rules": [{"name": "spreading", "levels": [3]}],
                   "channels": [{"name": "desk", "type": "email", "host": "127.0.0.1", "port": smtp_port,
                                 "to": ["desk@example.org"], "rate_per_minute": 100}],
                   "delivery": {"backoff_seconds": 0.2, "max_backoff_seconds": 1}},
    }
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def start(cfg: Path, health_port: int, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "spreadwatch", "run", "--config", str(cfg),
                             "--health-port", str(health_port)], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_for(check, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.25)
    return False


def spider_count(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count(Article.id)).where(Article.via == "spider")) or 0


def count(db: Database, model) -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return s.scalar(select(func.count(model.id))) or 0


def test_daemon_picks_up_new_items_alerts_once_and_stops_cleanly(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'd.db'}"
    health = free_port()
    with Newsroom(now=T_BEFORE) as nr, SMTPSink() as sink:
        cfg = write_config(tmp_path / "c.yaml", nr, sink.port, db_url)
        proc = start(cfg, health, tmp_path)
        try:
            db = Database(db_url)
            out_now = sum(len(nr.released(o["key"])) for o in nr.outlets_config())
            assert wait_for(lambda: count(db, Article) == out_now), "the first poll stores what is published"
            assert sink.messages == []
            status = httpx.get(f"http://127.0.0.1:{health}/healthz", timeout=5)
            assert status.status_code == 200 and status.json()["database"] is True

            nr.release_until(T_AFTER)  # the copies are published while the daemon runs
            assert wait_for(lambda: len(sink.messages) >= 1), "the spread reaches the SMTP sink"
            assert "Spreading:" in sink.messages[0]["Subject"]
            # the spiders ran again in this same daemon (a child process per crawl) and found the
            # sitemap- and listing-only copies published since the first crawl
            assert wait_for(lambda: spider_count(db) == 2), "the spider-only outlets were crawled again"
            metrics = httpx.get(f"http://127.0.0.1:{health}/metrics", timeout=5).text
            assert "spreadwatch_articles_ingested_total" in metrics and "spreadwatch_polls_total" in metrics

            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        output = proc.stdout.read() if proc.stdout else ""
        assert "stopping" in output
        with db.session() as s:
            urls = list(s.scalars(select(Article.canonical_url)))
            assert len(urls) == len(set(urls))
            assert s.scalar(select(func.count(Alert.id))) == 1
            assert [d.state for d in s.scalars(select(Delivery))] == ["sent"]
        assert len(sink.messages) == 1


def test_sigkill_mid_run_then_restart_loses_and_doubles_nothing(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'k.db'}"
    with Newsroom() as nr, SMTPSink() as sink:
        cfg = write_config(tmp_path / "c.yaml", nr, sink.port, db_url)
        proc = start(cfg, free_port(), tmp_path)
        db = Database(db_url)
        wait_for(lambda: count(db, Article) >= 5, timeout=30)
        proc.kill()  # SIGKILL, somewhere in the middle of the first cycle
        proc.wait(timeout=10)
        killed_at = count(db, Article)

        proc = start(cfg, free_port(), tmp_path)
        try:
            expected = sum(len(nr.released(o["key"])) for o in nr.outlets_config())
            assert wait_for(lambda: count(db, Article) == expected, timeout=60), (killed_at, count(db, Article))
            assert wait_for(lambda: len(sink.messages) >= 1, timeout=30)
            time.sleep(2)  # a few more ticks: nothing new may appear
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
        with db.session() as s:
            urls = list(s.scalars(select(Article.canonical_url)))
            assert len(urls) == len(set(urls)) == expected
            spreading = list(s.scalars(select(Alert).where(Alert.rule == "spreading")))
        # one spreading alert per story that reached 3 outlets, each sent once
        subjects = [m["Subject"] for m in sink.messages]
        assert len(subjects) == len(set(subjects)) == len([a for a in spreading if not a.summary.get("superseded")])
