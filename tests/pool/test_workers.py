"""The worker pool as it runs: real `spreadwatch worker` processes on the real PostgreSQL and Redis,
against local HTTP servers and a real SMTP server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from alerts.sinks import SMTPSink
from spreadwatch.localserver import LocalServer, Request, Response
from spreadwatch.newsroom import Newsroom
from storage import Article, Database, Story
from tests.conftest import PG_ADMIN_URL

pytestmark = pytest.mark.postgres
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def new_pg() -> Iterator[Callable[[], str]]:
    """Make fresh databases on the local PostgreSQL (as many as a test needs), dropped afterwards."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> str:
        name = f"sw_pool_{uuid.uuid4().hex[:12]}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    yield make
    with admin.connect() as c:
        for name in made:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def write_config(path: Path, db_url: str, outlets: list[dict[str, Any]], *, poll: dict[str, Any] | None = None,
                 http: dict[str, Any] | None = None, pool: dict[str, Any] | None = None,
                 smtp_port: int | None = None) -> Path:
    cfg: dict[str, Any] = {
        "default_outlets": False, "database_url": db_url, "outlets": outlets,
        "http": {"per_host_delay": 0, "per_host_concurrency": 8, "retries": 0, "read_timeout": 5, **(http or {})},
        "poll": {"interval_minutes": 10, "jitter_seconds": 0, "send_seconds": 1, **(poll or {})},
        "pool": {"tick_seconds": 1, "redis_prefix": f"swtest-{uuid.uuid4().hex[:8]}", "heartbeat_seconds": 1,
                 "stalled_seconds": 8, **(pool or {})},
    }
    if smtp_port is not None:
        cfg["alerts"] = {"rules": [{"name": "spreading", "levels": [3]}],
                         "channels": [{"name": "desk", "type": "email", "host": "127.0.0.1", "port": smtp_port,
                                       "to": ["desk@example.org"], "rate_per_minute": 1000, "timeout_seconds": 5}],
                         "delivery": {"backoff_seconds": 0.2, "max_backoff_seconds": 1}}
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def start_worker(cfg: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "spreadwatch", "worker", "--config", str(cfg), *args],
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each worker; one still running 45 s later is killed (its returncode then says so:
    a CI run saw one worker of three not stopped 15 s after SIGTERM, cause not found yet)."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=45)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def wait_for(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def article_count(url: str) -> int:
    """Articles stored and placed in a story (the pool stores an article, then its placement job
    places it)."""
    db = Database(url)  # migrates, as a worker starting at the same time does (they take turns)
    try:
        with db.session(read_only=True) as s:
            return s.scalar(select(func.count(Article.id)).where(Article.story_id.is_not(None))) or 0
    finally:
        db.dispose()


def stories_of(url: str) -> set[frozenset[str]]:
    """The stories as sets of their articles' canonical URLs (ids differ between databases)."""
    db = Database(url, migrate=False)
    try:
        with db.session(read_only=True) as s:
            rows = s.execute(select(Article.story_id, Article.canonical_url)).all()
            assert all(sid is not None for sid, _ in rows)
            active = set(s.scalars(select(Story.id).where(Story.status == "active")))
    finally:
        db.dispose()
    groups: dict[int, set[str]] = defaultdict(set)
    for sid, url_ in rows:
        assert sid in active
        groups[sid].add(url_)
    return {frozenset(g) for g in groups.values()}


def logs_of(tmp_path: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-4000:] for p in sorted(tmp_path.glob("worker*.log")))


def test_worker_refuses_sqlite(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", f"sqlite:///{tmp_path / 'x.db'}", [])
    r = subprocess.run([sys.executable, "-m", "spreadwatch", "worker", "--config", str(cfg)], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "PostgreSQL" in r.stderr and "spreadwatch run" in r.stderr


def test_three_workers_make_the_stories_one_process_makes(tmp_path: Path, new_pg: Callable[[], str]) -> None:
    with Newsroom() as nr:
        outlets = [o for o in nr.outlets_config() if o.get("feeds")]
        one_url, pool_url = new_pg(), new_pg()
        one_cfg = write_config(tmp_path / "one.yaml", one_url, outlets)
        r = subprocess.run([sys.executable, "-m", "spreadwatch", "run", "--once", "--config", str(one_cfg)],
                           cwd=REPO, capture_output=True, text=True, timeout=300)
        assert r.returncode in (0, 1), r.stderr[-2000:]  # the malformed feed is named as failing
        expected = article_count(one_url)
        assert expected >= 20
        cfg = write_config(tmp_path / "pool.yaml", pool_url, outlets)
        procs = [start_worker(cfg, tmp_path / f"worker{i}.log", "--concurrency", "4") for i in range(3)]
        try:
            done = wait_for(lambda: article_count(pool_url) >= expected, 180)
            time.sleep(2)  # anything still being placed lands
            assert done, logs_of(tmp_path)
        finally:
            stop_all(procs)
        assert [p.returncode for p in procs] == [0, 0, 0], logs_of(tmp_path)
    assert article_count(pool_url) == expected
    assert stories_of(pool_url) == stories_of(one_url)


class FeedHost:
    """One host of many tiny feeds: records when each request arrived and how many were open at once."""

    RSS = ('<?xml version="1.0"?><rss version="2.0"><channel><title>{n}</title><link>http://x/</link>'
           '<description>d</description></channel></rss>')

    def __init__(self, feeds: int, *, answer_seconds: float = 0.03) -> None:
        self.server = LocalServer()
        self.answer_seconds = answer_seconds
        self.lock = threading.Lock()
        self.open = self.max_open = 0
        self.arrivals: list[tuple[float, str]] = []
        self.robots = 0
        self.paths = [f"/f{i}.xml" for i in range(feeds)]
        for p in self.paths:
            self.server.route(p, self._feed)
        self.server.route("/robots.txt", self._robots)

    def _robots(self, req: Request) -> Response:
        with self.lock:
            self.robots += 1
        return Response(200, b"User-agent: *\nDisallow: /private/\n", {"Content-Type": "text/plain"})

    def _feed(self, req: Request) -> Response:
        with self.lock:
            self.arrivals.append((time.monotonic(), req.path))
            self.open += 1
            self.max_open = max(self.max_open, self.open)
        try:
            time.sleep(self.answer_seconds)  # answered while the request counts as open
        finally:
            with self.lock:
                self.open -= 1
        etag = f'"{req.path}"'
        if req.headers.get("if-none-match") == etag:
            return Response(304, b"", {"ETag": etag})
        return Response(200, self.RSS.format(n=req.path).encode(), {"Content-Type": "application/rss+xml", "ETag": etag})

    def __enter__(self) -> FeedHost:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


def test_three_workers_poll_500_feeds_once_per_interval_and_keep_each_hosts_limits(
        tmp_path: Path, new_pg: Callable[[], str]) -> None:
    hosts = [FeedHost(125) for _ in range(4)]
    delay, concurrency, interval_s = 0.1, 2, 30.0
    for h in hosts:
        h.__enter__()
    try:
        outlets = [{"key": f"host{i}", "name": f"Host {i}", "country": "XK", "language": "en",
                    "homepage": f"https://host{i}.example/", "feeds": [{"url": h.server.url(p)} for p in h.paths]}
                   for i, h in enumerate(hosts)]
        url = new_pg()
        cfg = write_config(tmp_path / "pool.yaml", url, outlets, poll={"interval_minutes": interval_s / 60},
                           http={"per_host_delay": delay, "per_host_concurrency": concurrency})
        from alerts.sinks import free_port

        health = free_port()
        procs = [start_worker(cfg, tmp_path / f"worker{i}.log", "--concurrency", "8",
                              *(["--health-port", str(health)] if i == 0 else [])) for i in range(3)]
        t0 = time.monotonic()
        try:
            everyone = wait_for(lambda: all(len({p for _, p in h.arrivals}) == 125 for h in hosts), 90)
            assert everyone, logs_of(tmp_path)
            import httpx

            seen = httpx.get(f"http://127.0.0.1:{health}/healthz", timeout=10).json()
            assert seen["status"] == "ok" and seen["polls"] > 0  # this worker did its share
            listed = subprocess.run([sys.executable, "-m", "spreadwatch", "workers", "--json", "--config", str(cfg)],
                                    cwd=REPO, capture_output=True, text=True, timeout=60)
            assert listed.returncode == 0, listed.stderr
            assert len(__import__("json").loads(listed.stdout)["workers"]) == 3
            # run on until the second round has begun (the first feeds' interval is over)
            again = wait_for(lambda: sum(len(h.arrivals) for h in hosts) > 520, interval_s + 30)
            assert again, logs_of(tmp_path)
        finally:
            stop_all(procs)
        assert [p.returncode for p in procs] == [0, 0, 0], logs_of(tmp_path)
    finally:
        for h in hosts:
            h.__exit__()
    seconds = time.monotonic() - t0
    for h in hosts:
        times: dict[str, list[float]] = defaultdict(list)
        for at, path in h.arrivals:
            times[path].append(at)
        assert set(times) == set(h.paths)  # every feed polled
        for path, ats in times.items():  # never twice within one interval
            gaps = [b - a for a, b in zip(ats, ats[1:])]
            assert all(g >= interval_s * 0.95 for g in gaps), (path, gaps)
            assert len(ats) <= 1 + seconds // (interval_s * 0.95)
        # the host's limits held for the pool together, at the server
        assert h.max_open <= concurrency
        # the delay, as the server sees it: a request leaves a worker when its event loop gets to it,
        # so single gaps jitter; over any 1.5 s (15 delays) at most 15 requests arrive, +2 for that
        # jitter (three workers each keeping the delay on their own would send up to 45)
        starts = sorted(at for at, _ in h.arrivals)
        window = 15 * delay
        busiest = max(sum(1 for t in starts[i:i + 40] if t - s0 < window) for i, s0 in enumerate(starts))
        assert busiest <= 15 + 2, busiest
        assert h.robots == 1  # robots.txt once for the pool, not once per worker


def test_a_killed_workers_job_runs_again_after_its_heartbeat_stops(tmp_path: Path, new_pg: Callable[[], str]) -> None:
    """kill -9 a worker while it polls a feed: the feed is polled again when its lease ends, once; the
    dead worker's job is found by its stopped heartbeat and retried (and finds its claim taken)."""
    hung = threading.Event()
    hits: list[float] = []

    def slow_feed(req: Request) -> Response:
        hits.append(time.monotonic())
        if len(hits) == 1:
            hung.set()
            return Response(200, FeedHost.RSS.format(n="slow").encode(), {"Content-Type": "application/rss+xml"},
                            delay=20)  # the first poll hangs: its worker is killed meanwhile
        return Response(200, FeedHost.RSS.format(n="slow").encode(), {"Content-Type": "application/rss+xml"})

    with LocalServer() as srv:
        srv.route("/feed.xml", slow_feed)
        url = new_pg()
        outlets = [{"key": "slow", "name": "Slow", "country": "XK", "language": "en",
                    "homepage": "https://slow.example/", "feeds": [{"url": srv.url("/feed.xml")}]}]
        # the poll is cut at 6 s, its claim held 10 s: then the feed is due again for the pool
        cfg = write_config(tmp_path / "pool.yaml", url, outlets, http={"read_timeout": 30, "total_timeout": 30},
                           poll={"cycle_deadline_seconds": 6}, pool={"lease_seconds": 10})
        first = start_worker(cfg, tmp_path / "worker0.log")
        second: subprocess.Popen[bytes] | None = None
        try:
            assert hung.wait(60), logs_of(tmp_path)
            first.kill()  # SIGKILL, mid-request
            first.wait(timeout=10)
            second = start_worker(cfg, tmp_path / "worker1.log")
            assert wait_for(lambda: len(hits) >= 2, 40), logs_of(tmp_path)
            db = Database(url)
            try:
                def settled() -> bool:
                    with db.session(read_only=True) as s:
                        doing = s.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing' "
                                               "AND task_name LIKE 'spreadwatch.poll%'")).scalar()
                        ok = s.execute(text("SELECT last_ok_at FROM feed")).scalar()
                    return doing == 0 and ok is not None
                assert wait_for(settled, 20), logs_of(tmp_path)
            finally:
                db.dispose()
            time.sleep(3)  # a double would show up now
        finally:
            stop_all([p for p in (first, second) if p is not None])
    assert len(hits) == 2  # the killed poll, and its one retry: no second copy of it
    assert "stalled jobs retried" in (tmp_path / "worker1.log").read_text()


def test_kill_9_one_of_three_workers_loses_nothing_and_sends_every_alert_once(
        tmp_path: Path, new_pg: Callable[[], str]) -> None:
    from datetime import datetime, timezone

    from storage import Alert, Delivery

    with SMTPSink() as sink, Newsroom(now=datetime(2025, 2, 19, 6, 30, tzinfo=timezone.utc)) as nr:
        outlets = [o for o in nr.outlets_config() if o.get("feeds")]
        url = new_pg()
        cfg = write_config(tmp_path / "pool.yaml", url, outlets, poll={"interval_minutes": 0.05, "cycle_deadline_seconds": 20,
                                                                     "order_window_seconds": 10},
                           pool={"lease_seconds": 25}, smtp_port=sink.port)
        procs = [start_worker(cfg, tmp_path / f"worker{i}.log", "--concurrency", "4") for i in range(3)]
        try:
            assert wait_for(lambda: article_count(url) >= 1, 90), logs_of(tmp_path)
            nr.release_until(None)  # the rest of the newsroom appears while the pool runs
            assert wait_for(lambda: article_count(url) >= 3, 60), logs_of(tmp_path)
            procs[0].kill()  # mid-run: its jobs are retried after its heartbeat stops
            procs[0].wait(timeout=10)
            expected = sum(len(nr.released(str(o["key"]))) for o in outlets)
            time.sleep(2)
            procs[0] = start_worker(cfg, tmp_path / "worker0-again.log", "--concurrency", "4")
            db = Database(url)
            try:
                def open_deliveries() -> int:
                    with db.session(read_only=True) as s:
                        return s.scalar(select(func.count(Delivery.id)).where(
                            Delivery.state.in_(("pending", "sending")))) or 0
                def unplaced() -> int:
                    with db.session(read_only=True) as s:
                        return s.scalar(select(func.count(Article.id)).where(Article.story_id.is_(None))) or 0
                # the malformed feed may keep a few of its entries away: all the others arrive, and
                # each is placed once the order window (10 s here) no longer holds it back
                ok = wait_for(lambda: article_count(url) >= expected - 3 and unplaced() == 0
                              and open_deliveries() == 0 and len(sink.messages) >= 1, 150)
                assert ok, (article_count(url), expected, unplaced(), open_deliveries(), len(sink.messages),
                            logs_of(tmp_path))
                time.sleep(3)  # a double would arrive now
            finally:
                db.dispose()
        finally:
            stop_all(procs)
    db = Database(url)
    try:
        with db.session(read_only=True) as s:
            urls = list(s.scalars(select(Article.canonical_url)))
            assert s.scalar(select(func.count(Article.id)).where(Article.story_id.is_(None))) == 0
            sent = list(s.scalars(select(Delivery).where(Delivery.state == "sent")))
            alerts = list(s.scalars(select(Alert)))
    finally:
        db.dispose()
    assert len(urls) == len(set(urls))  # nothing stored twice
    ids = [m["Message-ID"] for m in sink.messages]
    assert len(set(ids)) == len(sent) >= 1  # every delivery reached the server, as one message
    assert len(ids) - len(set(ids)) <= 1  # a send cut by the kill may repeat, with its own Message-ID
    assert alerts


def test_a_poll_batch_whose_claims_moved_polls_nothing(tmp_path: Path, new_pg: Callable[[], str]) -> None:
    """`schedule` defers one poll_batch job per batch of claimed feeds. A batch run again after its
    claims moved (a killed worker's job retried after another run took them) polls none of its
    feeds; a batch with the feeds' current claims polls each of them once, all from one job."""
    import json

    from spreadwatch.pool import claim_due, defer_in, take_claims
    from storage import Feed

    with FeedHost(7, answer_seconds=0) as host:
        url = new_pg()
        settings, db = _claiming_pool(tmp_path, url, [host.server.url(p) for p in host.paths], poll_batch=3)
        try:
            assert claim_due(db, settings) == 7
            with db.session(read_only=True) as s:
                batches = [json.loads(a) if isinstance(a, str) else a for a in s.scalars(text(
                    "SELECT args FROM procrastinate_jobs WHERE task_name = 'spreadwatch.poll_batch' ORDER BY id"))]
            # one job per batch of at most pool.poll_batch feeds (smaller, so that a few feeds still make
            # jobs for every worker: at least two per job slot of each live worker), each feed in one batch
            assert len(batches) >= 2 and all(1 <= len(b["feeds"]) <= 3 for b in batches)
            claims = [(f, c) for b in batches for f, c in b["feeds"]]
            assert len({f for f, _ in claims}) == len(claims) == 7
            # another run took these claims first (and then died, its feeds leased): every queued batch
            # is now a leftover
            assert len(take_claims(db, settings, claims)) == 7
            assert take_claims(db, settings, claims) == []  # compare-and-set: the same claims twice take nothing
            with db.session() as s:
                current = {fid: c for fid, c in s.execute(select(Feed.id, Feed.poll_claim))}
                chosen = sorted(current)[:2]
                # the control: a batch carrying two feeds' current claims, as `schedule` would defer it
                defer_in(s, "spreadwatch.poll_batch", {"feeds": [[f, current[f]] for f in chosen]})
            worker = start_worker(tmp_path / "pool.yaml", tmp_path / "worker0.log", "--concurrency", "4")
            try:
                def drained() -> bool:
                    with db.session(read_only=True) as s:
                        return s.scalar(text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = "
                                             "'spreadwatch.poll_batch' AND status IN ('todo', 'doing')")) == 0
                assert wait_for(drained, 60), logs_of(tmp_path)
                assert wait_for(lambda: len(host.arrivals) >= 2, 20), logs_of(tmp_path)
                time.sleep(3)  # a poll by a leftover batch would arrive now
            finally:
                stop_all([worker])
            assert worker.returncode == 0, logs_of(tmp_path)
        finally:
            db.dispose()
    polled = sorted(p for _, p in host.arrivals)
    by_id = dict(zip(sorted(current), host.paths))  # feeds were added in the paths' order
    assert polled == sorted(by_id[f] for f in chosen)  # the control's two feeds, once each; the leftovers none


def test_few_due_feeds_make_jobs_for_every_slot_and_many_go_in_batches(tmp_path: Path, new_pg: Callable[[], str]) -> None:
    """A worker takes as many jobs as it has free slots: the claimed feeds are cut into at least two
    jobs per slot (of the claiming worker's --concurrency, for each live worker), at most
    pool.poll_batch feeds each, so 40 due feeds are not one worker's two batch jobs."""
    import json

    from spreadwatch.pool import claim_due

    settings, db = _claiming_pool(tmp_path, new_pg(), [f"http://127.0.0.1:9/feed/{i}.xml" for i in range(40)],
                                  poll_batch=50)
    try:
        sizes = []
        for slots in (8, 2):
            with db.session() as s:
                s.execute(text("UPDATE feed SET next_poll_at = NULL"))
                s.execute(text("DELETE FROM procrastinate_jobs"))
            assert claim_due(db, settings, slots=slots) == 40
            with db.session(read_only=True) as s:
                jobs = [json.loads(a) if isinstance(a, str) else a for a in s.scalars(text(
                    "SELECT args FROM procrastinate_jobs WHERE task_name = 'spreadwatch.poll_batch'"))]
            feeds = [f for j in jobs for f, _ in j["feeds"]]
            assert len(feeds) == len(set(feeds)) == 40  # each claimed feed in one job
            sizes.append(sorted({len(j["feeds"]) for j in jobs}))
        assert sizes == [[2], [10]]  # 8 slots: 40 // 16 = 2 feeds a job; 2 slots: 40 // 4 = 10
    finally:
        db.dispose()


def _claiming_pool(tmp_path: Path, url: str, feeds: list[str], **pool: Any) -> tuple[Any, Database]:
    """Settings (written to tmp_path/pool.yaml) and a database with the pool's tables and one outlet
    of these feeds, for claim_due."""
    from spreadwatch.cycle import sync_outlets
    from spreadwatch.pool import apply_schema
    from spreadwatch.settings import load_settings

    outlets = [{"key": "h", "name": "H", "country": "XK", "language": "en", "homepage": "https://h.example/",
                "feeds": [{"url": u} for u in feeds]}]
    settings = load_settings(write_config(tmp_path / "pool.yaml", url, outlets, pool=pool))
    db = Database(url)
    apply_schema(db)
    sync_outlets(db, settings)
    return settings, db
