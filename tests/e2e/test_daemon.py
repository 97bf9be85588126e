"""The daemon as users run it: a real `spreadwatch run` process against the local newsroom, new items
appearing while it runs, alerts reaching a real SMTP server, the health endpoint, a site that hangs,
a mail server that is down for a while, and SIGTERM / SIGKILL at awkward moments."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import httpx
import yaml
from sqlalchemy import func, select

from alerts.sinks import SMTPSink, free_port
from spreadwatch.localserver import LocalServer, Request, Response, static
from spreadwatch.newsroom import Newsroom
from storage import Alert, Article, Database, Delivery, Feed
from tests.spreadwatch.test_observability import parse

T_BEFORE = datetime(2025, 2, 19, 6, 30, tzinfo=timezone.utc)  # only Bild's article is out
T_AFTER = datetime(2025, 2, 19, 9, 0, tzinfo=timezone.utc)  # the Albanian copies are out
STOP_WITHIN = 10.0  # seconds SIGTERM may take: "a few seconds", with room for a loaded machine


def write_config(path: Path, newsroom: Newsroom, smtp_port: int, db_url: str, *, spiders: bool = True,
                 extra_outlets: list[dict[str, Any]] | None = None, http: dict[str, Any] | None = None,
                 delivery: dict[str, Any] | None = None) -> Path:
    outlets = [o for o in newsroom.outlets_config() if spiders or o.get("feeds")]
    cfg = {
        "default_outlets": False,
        "database_url": db_url,
        "outlets": outlets + (extra_outlets or []),  # feed outlets and (unless told) the spider-only ones
        "http": {"per_host_delay": 0, "per_host_concurrency": 8, "retries": 0, "read_timeout": 5, **(http or {})},
        "poll": {"interval_minutes": 0.01, "jitter_seconds": 0, "tick_seconds": 0.5, "send_seconds": 0.5,
                 "crawl_minutes": 0.05},
        "alerts": {"rules": [{"name": "spreading", "levels": [3]}],
                   "channels": [{"name": "desk", "type": "email", "host": "127.0.0.1", "port": smtp_port,
                                 "to": ["desk@example.org"], "rate_per_minute": 100, "timeout_seconds": 5}],
                   "delivery": {"backoff_seconds": 0.2, "max_backoff_seconds": 1, **(delivery or {})}},
    }
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def start(cfg: Path, health_port: int, log: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    """`spreadwatch run` in its own process; its output goes to a file (a pipe nobody reads could
    fill up and block it)."""
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "spreadwatch", "run", "--config", str(cfg),
                                 "--health-port", str(health_port), *args], cwd=log.parent, stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1", **env})


def stop(proc: subprocess.Popen[bytes]) -> float:
    """SIGTERM; the seconds it took to exit cleanly (fails if it does not within STOP_WITHIN)."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=STOP_WITHIN) == 0
    return time.monotonic() - t0


def kill_if_running(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> bool:
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


def released(nr: Newsroom, *, spiders: bool = True) -> int:
    """Articles the newsroom has published so far (by the outlets with feeds only, unless told)."""
    return sum(len(nr.released(str(o["key"]))) for o in nr.outlets_config() if spiders or o.get("feeds"))


def assert_nothing_doubled(db: Database, sink: SMTPSink, expected_articles: int, *, resent: int = 0) -> None:
    """Each article stored once, each due alert delivered once. `resent`: deliveries a killed
    process left mid-send, which may reach the server twice, with the same Message-ID both times."""
    with db.session() as s:
        urls = list(s.scalars(select(Article.canonical_url)))
        assert len(urls) == len(set(urls)) == expected_articles
        assert s.scalar(select(func.count(Article.id)).where(Article.story_id.is_(None))) == 0
        spreading = list(s.scalars(select(Alert).where(Alert.rule == "spreading")))
        states = [d.state for d in s.scalars(select(Delivery))]
    ids = [m["Message-ID"] for m in sink.messages]
    assert len(set(ids)) == states.count("sent") == len([a for a in spreading if not a.summary.get("superseded")]) >= 1
    assert len(ids) - len(set(ids)) <= resent


def open_deliveries(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count(Delivery.id)).where(Delivery.state.in_(("pending", "sending")))) or 0


def sqlite_intact(path: Path) -> bool:
    with sqlite3.connect(path) as c:
        return c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


class SlowSite:
    """A site whose feed request hangs until `gate` opens (at most 40 s), then answers with one
    article, or with `status` when that is set."""

    def __init__(self) -> None:
        self.server = LocalServer()
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.answered = threading.Event()
        self.status: int | None = None
        self.server.route("/slow/feed.xml", self._feed)
        self.server.route("/slow/rruga/", static(
            "<!doctype html><html lang='sq'><head><meta charset='utf-8'><title>Rruga e re në Prizren</title></head>"
            "<body><article><h1>Rruga e re në Prizren</h1><p>Komuna e Prizrenit hapi sot rrugën e re që lidh "
            "qendrën me lagjet periferike, pas dy vitesh punimesh.</p><p>Banorët thonë se udhëtimi tani zgjat "
            "gjysmën e kohës, ndërsa tregtarët presin më shumë klientë.</p></article></body></html>"))

    def __enter__(self) -> SlowSite:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.gate.set()
        self.server.stop()

    def outlet(self) -> dict[str, Any]:
        return {"key": "slowsite", "name": "Slow Site", "country": "XK", "language": "sq",
                "feeds": [{"url": self.server.url("/slow/feed.xml")}]}

    def _feed(self, req: Request) -> Response:
        self.entered.set()
        self.gate.wait(40)
        self.answered.set()
        if self.status:
            return Response(self.status, b"overloaded", {"Content-Type": "text/plain"})
        item = (f"<item><title>Rruga e re në Prizren</title><link>{self.server.url('/slow/rruga/')}</link>"
                "<guid>slow-1</guid><pubDate>Wed, 19 Feb 2025 08:00:00 GMT</pubDate></item>")
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Slow</title>{item}</channel></rss>'
        return Response(200, body.encode(), {"Content-Type": "application/rss+xml"})


def metric(text: str, name: str, **labels: str) -> float:
    _, samples = parse(text)
    return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == v2 for k, v2 in labels.items()))


def test_daemon_picks_up_new_items_alerts_once_and_stops_cleanly(tmp_path: Path, db_url: str) -> None:
    health = free_port()  # db_url: a SQLite file, then a fresh database on the real PostgreSQL
    log = tmp_path / "daemon.log"
    with Newsroom(now=T_BEFORE) as nr, SMTPSink() as sink:
        cfg = write_config(tmp_path / "c.yaml", nr, sink.port, db_url)
        proc = start(cfg, health, log, SPREADWATCH_LOG_JSON="1")  # as a container would set it
        try:
            db = Database(db_url)
            out_now = released(nr)
            assert wait_for(lambda: count(db, Article) == out_now), "the first poll stores what is published"
            assert sink.messages == []
            status = httpx.get(f"http://127.0.0.1:{health}/healthz", timeout=5)
            body = status.json()
            assert status.status_code == 200 and body["ok"] and body["database"] and body["scheduler_alive"]
            assert wait_for(lambda: httpx.get(f"http://127.0.0.1:{health}/healthz", timeout=5)
                            .json()["last_cycle_ok_at"] is not None)

            nr.release_until(T_AFTER)  # the copies are published while the daemon runs
            assert wait_for(lambda: len(sink.messages) >= 1), "the spread reaches the SMTP sink"
            assert "Spreading:" in sink.messages[0]["Subject"]
            # the spiders ran again in this same daemon (a child process per crawl) and found the
            # sitemap- and listing-only copies published since the first crawl
            assert wait_for(lambda: spider_count(db) == 2, timeout=60), "the spider-only outlets were crawled again"
            assert wait_for(lambda: count(db, Article) == released(nr))
            text = httpx.get(f"http://127.0.0.1:{health}/metrics", timeout=5).text
            types, _ = parse(text)
            assert types["spreadwatch_stage_seconds"] == "histogram"
            assert metric(text, "spreadwatch_articles_ingested_total") == released(nr) - spider_count(db)
            assert metric(text, "spreadwatch_polls_total", status="not-modified") > 0
            assert metric(text, "spreadwatch_polls_total", status="ok") > 0
            for stage in ("feeds", "pages", "ingest", "alerts"):
                assert metric(text, "spreadwatch_stage_seconds_count", stage=stage) > 0, stage
            assert metric(text, "spreadwatch_stage_seconds_count", stage="pages") == metric(
                text, "spreadwatch_stage_seconds_bucket", stage="pages", le="+Inf")
            assert metric(text, "spreadwatch_articles") == released(nr)
            assert metric(text, "spreadwatch_stories") >= 1
            assert metric(text, "spreadwatch_alerts_sent_total") == 1
            assert metric(text, "spreadwatch_alert_deliveries", state="sent") == 1
            assert metric(text, "spreadwatch_alert_deliveries", state="pending") == 0

            stop(proc)
        finally:
            kill_if_running(proc)
        events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        ours = [e for e in events if e["logger"].startswith("spreadwatch")]
        assert "stopping" in [e["msg"] for e in ours] and ours[-1]["msg"] == "stopped"
        polled = [e for e in ours if e["msg"] == "feed polled"]
        assert polled and all(e["outlet"] and e["feed"].startswith(nr.base_url) for e in polled)
        assert sum(e["new"] for e in polled) == released(nr) - spider_count(db)
        failed = [e for e in ours if e["msg"] == "feed failed"]  # the newsroom's malformed feed, before its first item
        assert all(e["outlet"] and e["feed"] and e["error"] for e in failed)
        with db.session() as s:
            assert s.scalar(select(func.count(Alert.id))) == 1
            assert [d.state for d in s.scalars(select(Delivery))] == ["sent"]
        assert_nothing_doubled(db, sink, released(nr))


def test_sigkill_mid_run_then_restart_loses_and_doubles_nothing(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'k.db'}"
    with Newsroom() as nr, SMTPSink() as sink:
        # a delivery claimed by the killed process is taken again when its lease ends (120 s by default)
        cfg = write_config(tmp_path / "c.yaml", nr, sink.port, db_url, delivery={"lease_seconds": 6})
        proc = start(cfg, free_port(), tmp_path / "first.log")
        db = Database(db_url)
        wait_for(lambda: count(db, Article) >= 5, timeout=30)
        proc.kill()  # SIGKILL, somewhere in the middle of the first cycle
        proc.wait(timeout=10)
        killed_at = count(db, Article)
        with db.session() as s:
            mid_send = s.scalar(select(func.count(Delivery.id)).where(Delivery.state == "sending")) or 0

        proc = start(cfg, free_port(), tmp_path / "second.log")
        try:
            expected = released(nr)
            assert wait_for(lambda: count(db, Article) == expected, timeout=60), (killed_at, count(db, Article))
            assert wait_for(lambda: len(sink.messages) >= 1, timeout=30)
            assert wait_for(lambda: open_deliveries(db) == 0, timeout=30), "every alert is delivered"
            time.sleep(2)  # a few more ticks: nothing new may appear
            stop(proc)
        finally:
            kill_if_running(proc)
        assert sqlite_intact(tmp_path / "k.db")
        assert_nothing_doubled(db, sink, expected, resent=mid_send)


def test_sigterm_during_a_poll_stops_within_seconds_and_the_next_start_carries_on(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 't.db'}"
    with Newsroom(now=T_AFTER) as nr, SMTPSink() as sink, SlowSite() as slow:
        cfg = write_config(tmp_path / "c.yaml", nr, sink.port, db_url, extra_outlets=[slow.outlet()],
                           http={"read_timeout": 40, "total_timeout": 60})
        proc = start(cfg, free_port(), tmp_path / "first.log", "--log-json")
        db = Database(db_url)
        try:
            assert slow.entered.wait(30), "the daemon is fetching the slow feed"
            assert wait_for(lambda: count(db, Article) >= 3), "and storing the other feeds' articles meanwhile"
            stop(proc)  # SIGTERM with the slow feed mid-fetch (and, likely, other polls mid-ingest)
        finally:
            kill_if_running(proc)
        assert not slow.answered.is_set(), "it stopped without waiting for the slow feed"
        first = [json.loads(line) for line in (tmp_path / "first.log").read_text().splitlines() if line.startswith("{")]
        assert [e["msg"] for e in first if e["msg"] in ("stopping", "stopped")] == ["stopping", "stopped"]
        assert not [e for e in first if e["level"] == "error"]
        assert sqlite_intact(tmp_path / "t.db")
        with db.session() as s:
            feed = s.scalars(select(Feed).where(Feed.url == slow.server.url("/slow/feed.xml"))).one()
            # the abandoned poll left the feed as it was: not a failure, not a success, due again
            assert (feed.last_polled_at, feed.failures, feed.etag) == (None, 0, None)
            assert s.scalar(select(func.count(Article.id)).where(Article.story_id.is_(None))) == 0

        slow.gate.set()  # the site answers again
        proc = start(cfg, free_port(), tmp_path / "second.log")
        expected = released(nr) + 1
        try:
            assert wait_for(lambda: count(db, Article) == expected, timeout=60), count(db, Article)
            assert wait_for(lambda: len(sink.messages) >= 1, timeout=30)
            time.sleep(2)  # a few more ticks: nothing new may appear
            stop(proc)
        finally:
            kill_if_running(proc)
        assert_nothing_doubled(db, sink, expected)


def test_a_hanging_site_stalls_no_other_feed_and_its_failure_is_reported(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'h.db'}"
    health = free_port()
    with Newsroom(now=T_BEFORE) as nr, SMTPSink() as sink, SlowSite() as slow:
        cfg = write_config(tmp_path / "c.yaml", nr, sink.port, db_url, spiders=False, extra_outlets=[slow.outlet()],
                           http={"read_timeout": 40, "total_timeout": 60})
        feeds = [str(o["feeds"][0]["url"]) for o in nr.outlets_config() if o.get("feeds")]  # type: ignore[index]
        proc = start(cfg, health, tmp_path / "daemon.log")
        db = Database(db_url)
        try:
            assert slow.entered.wait(30)
            # the first polls of the other feeds are all recorded: what comes next needs later cycles
            assert wait_for(lambda: polled_feeds(db) == len(feeds), timeout=60)
            nr.release_until(T_AFTER)  # published while the slow feed's request hangs
            assert wait_for(lambda: count(db, Article) == released(nr, spiders=False), timeout=60), "others kept coming"
            assert wait_for(lambda: len(sink.messages) == 1), "and their alert went out"
            assert not slow.answered.is_set(), "all of it while the slow site had not answered"
            # the copies came from cycles that started after the first ones had all finished, while
            # the slow feed's one request stayed open
            assert len(slow.server.hits("/slow/feed.xml")) == 1
            health_now = httpx.get(f"http://127.0.0.1:{health}/healthz", timeout=5).json()
            assert health_now["ok"] and health_now["feeds_in_flight"] >= 1

            slow.status = 503
            slow.gate.set()  # it finally answers: with an error
            assert wait_for(lambda: failures(db, slow) >= 1)
            stop(proc)
        finally:
            kill_if_running(proc)
        shown = subprocess.run([sys.executable, "-m", "spreadwatch", "outlets", "--json", "--config", str(cfg)],
                               capture_output=True, text=True, timeout=60, check=True)
        row = next(r for r in json.loads(shown.stdout) if r["key"] == "slowsite")
        assert row["failures"] >= 1 and "503" in row["last_error"] and row["last_ok_at"] is None
        with db.session() as s:
            feed = s.scalars(select(Feed).where(Feed.url == slow.server.url("/slow/feed.xml"))).one()
            # backing off: not due again for twice its interval (0.6 s) at least
            assert feed.next_poll_at is not None and feed.last_polled_at is not None
            assert (feed.next_poll_at - feed.last_polled_at).total_seconds() >= 1.2
        assert len(slow.server.hits("/slow/feed.xml")) <= 3  # not hammered while failing
        assert_nothing_doubled(db, sink, released(nr, spiders=False))


def polled_feeds(db: Database) -> int:
    """Feeds whose poll has been recorded (success or failure)."""
    with db.session() as s:
        return s.scalar(select(func.count(Feed.id)).where(Feed.last_polled_at.is_not(None))) or 0


def failures(db: Database, slow: SlowSite) -> int:
    with db.session() as s:
        return s.scalar(select(Feed.failures).where(Feed.url == slow.server.url("/slow/feed.xml"))) or 0


def delivery_attempts(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.coalesce(func.sum(Delivery.attempts), 0))) or 0


def test_smtp_down_for_a_while_alert_waits_and_goes_out_exactly_once(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 's.db'}"
    health = free_port()
    sink = SMTPSink(port=free_port())  # the mail server is down: nothing listens on its port yet
    with Newsroom(now=T_BEFORE) as nr:
        cfg = write_config(tmp_path / "c.yaml", nr, sink.port, db_url, spiders=False, delivery={"max_attempts": 1000})
        proc = start(cfg, health, tmp_path / "daemon.log", "--health-host", "0.0.0.0")  # as in the Dockerfile
        db = Database(db_url)
        try:
            assert wait_for(lambda: count(db, Article) == released(nr, spiders=False))
            nr.release_until(T_AFTER)
            assert wait_for(lambda: delivery_attempts(db) >= 3, timeout=60), "sending is tried, and fails"
            with db.session() as s:
                d = s.scalars(select(Delivery)).one()
                assert d.state in ("pending", "sending") and d.sent_at is None and d.last_error
            text = httpx.get(f"http://127.0.0.1:{health}/metrics", timeout=5).text
            assert metric(text, "spreadwatch_alert_deliveries", state="pending") + metric(
                text, "spreadwatch_alert_deliveries", state="sending") == 1
            assert metric(text, "spreadwatch_alert_send_failures_total") >= 3
            assert metric(text, "spreadwatch_alerts_sent_total") == 0

            sink.start()  # the mail server is back
            assert wait_for(lambda: len(sink.messages) == 1), "the waiting alert goes out"
            time.sleep(2)  # several more sender runs: it must not go out again
            text = httpx.get(f"http://127.0.0.1:{health}/metrics", timeout=5).text
            assert metric(text, "spreadwatch_alert_deliveries", state="sent") == 1
            assert metric(text, "spreadwatch_alert_deliveries", state="pending") == 0
            stop(proc)
        finally:
            kill_if_running(proc)
            sink.stop()
        with db.session() as s:
            d = s.scalars(select(Delivery)).one()
            assert d.state == "sent" and d.attempts >= 4 and d.last_error is None
        assert len(sink.messages) == 1
        assert_nothing_doubled(db, sink, released(nr, spiders=False))
