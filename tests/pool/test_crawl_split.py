"""One spider crawl spread over two processes (spiders/shared.py): each page fetched once, the pages
shared out, the host's limits held for the two together; real Scrapy children, real Redis."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import redis
from sqlalchemy import func, select

from spiders import CrawlReport, run_crawl
from spiders.shared import SharedCrawl
from spreadwatch.localserver import LocalServer, Request, Response, static
from storage import Article, Database
from tests.spiders.test_sites import HTTP, settings_for

REDIS = "redis://127.0.0.1:6379/0"
PAGES = 16
TOPICS = ["Kuvendi miratoi buxhetin për komunat e veriut", "Patrullat e KFOR-it vazhdojnë pranë Ibrit",
          "Zgjedhjet lokale shtyhen për pranverë", "Spitali i ri në Prizren hap dyert",
          "Ministria e Mbrojtjes mohon lajmin e Bild", "Energjia elektrike shtrenjtohet nga janari",
          "Rruga Prishtinë-Shkup merr fonde të reja", "Fermerët e Dukagjinit kërkojnë subvencione"]


class Newsroom:
    """A listing of PAGES articles that each take a moment to answer; counts hits and requests in flight.
    At two requests at a time the crawl lasts about 8 s, long enough for a second process started a
    few seconds after the first (a Scrapy child takes 2-4 s to start) to find requests in the queue."""

    def __init__(self, server: LocalServer, answer: float = 1.0) -> None:
        self.lock = threading.Lock()
        self.now = self.peak = 0
        self.spans: list[tuple[float, float, int]] = []  # (start, end, page) of every answer
        self.answer = answer
        links = "".join(f'<h2><a href="/lajmi/{n}/">Lajmi {n}</a></h2>' for n in range(PAGES))
        server.route("/lajme/", static(f"<html><body>{links}</body></html>"))
        for n in range(PAGES):
            server.route(f"/lajmi/{n}/", self._page(n))
        self.server = server

    def _page(self, n: int):  # type: ignore[no-untyped-def]
        def handle(req: Request) -> Response:
            start = time.monotonic()
            with self.lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
            threading.Event().wait(self.answer)
            with self.lock:
                self.now -= 1
                self.spans.append((start, time.monotonic(), n))
            topic = TOPICS[n % len(TOPICS)]
            text = " ".join(f"{topic}, tha zyrtari numër {n * 31 + k} në konferencë." for k in range(10))
            return Response(200, f"<html lang='sq'><body><article><h1>{topic} ({n})</h1><p>{text}</p></article>"
                            "</body></html>".encode(), {"Content-Type": "text/html; charset=utf-8"})
        return handle

    def hits(self) -> dict[int, int]:
        return {n: len(self.server.hits(f"/lajmi/{n}/")) for n in range(PAGES)}


def _settings(db_url: str, server: LocalServer, concurrency: int) -> Any:
    outlet = {"key": "lajme", "name": "Lajme", "language": "sq",
              "listings": [{"url": server.url("/lajme/"), "link_selector": "h2 a"}]}
    settings = settings_for(db_url, [outlet])
    return settings.with_overrides(http=HTTP.model_copy(update={"per_host_concurrency": concurrency}))


def _crawl_parts(settings: Any, shared: SharedCrawl, parts: int) -> list[CrawlReport]:
    reports: list[CrawlReport] = []
    threads = [threading.Thread(target=lambda: reports.append(run_crawl(settings, timeout=180, shared=shared)))
               for _ in range(parts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(200)
    assert len(reports) == parts, "a crawl part did not report"
    return reports


def test_a_crawl_split_over_two_processes_fetches_each_page_once(pg_url: str) -> None:
    prefix = f"swtest-{uuid.uuid4().hex[:8]}"
    shared = SharedCrawl(uuid.uuid4().hex[:12], REDIS, prefix)
    with LocalServer() as server:
        newsroom = Newsroom(server)
        reports = _crawl_parts(_settings(pg_url, server, concurrency=2), shared, parts=2)
        hits = newsroom.hits()
        peak, spans = newsroom.peak, sorted(newsroom.spans)
        listing_hits = len(server.hits("/lajme/"))
    for r in reports:
        assert r.error is None, r.summary()
    assert hits == dict.fromkeys(range(PAGES), 1)  # every page once, across both processes
    assert listing_hits == 1  # the two processes' start requests are one request
    pages = sorted(r.pages for r in reports)
    assert pages[0] >= 2 and sum(pages) >= PAGES + 1, pages  # both took part (the listing counts once)
    # per_host_concurrency held for the two processes together (the spans, from the first, if not)
    assert peak <= 2, [(round(a - spans[0][0], 2), round(b - spans[0][0], 2), n) for a, b, n in spans]
    with Database(pg_url).session() as s:
        assert s.scalar(select(func.count(Article.id))) == PAGES
    r = redis.Redis.from_url(REDIS)
    try:
        keys = r.keys(f"{prefix}:crawl:*")
        assert keys and all(0 < r.ttl(k) <= 86400 for k in keys)  # kept a day for a retried part, then gone
        r.delete(*keys)
    finally:
        r.close()


def test_without_the_shared_queue_two_processes_fetch_every_page_twice(pg_url: str) -> None:
    """The control: the same two crawls, each with its own scheduler, double every request."""
    with LocalServer() as server:
        newsroom = Newsroom(server)  # slow enough that neither crawl ends before the other starts
        reports: list[CrawlReport] = []
        settings = _settings(pg_url, server, concurrency=2)
        threads = [threading.Thread(target=lambda: reports.append(run_crawl(settings, timeout=180))) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(200)
        hits = newsroom.hits()
    assert len(reports) == 2
    assert sum(hits.values()) > PAGES  # some pages fetched by both


def test_two_workers_share_one_crawl_and_fetch_each_page_once(tmp_path: Any, pg_url: str) -> None:
    """`spreadwatch worker` processes: the crawl job defers its parts, two workers take one each."""
    import re

    from spreadwatch.pool import defer_in
    from tests.pool.test_workers import logs_of, start_worker, stop_all, wait_for, write_config

    done = re.compile(r"crawl part done crawl=(\S+) part=(\d+) pages=(\d+) stored=(\d+)")

    def parts_done() -> dict[str, list[tuple[str, int, int]]]:
        """crawl id -> (worker log, pages, stored) of each part done"""
        out: dict[str, list[tuple[str, int, int]]] = {}
        for log in sorted(tmp_path.glob("worker*.log")):
            for m in done.finditer(log.read_text(errors="replace")):
                out.setdefault(m.group(1), []).append((log.name, int(m.group(3)), int(m.group(4))))
        return out

    with LocalServer() as server:
        newsroom = Newsroom(server)
        outlet = {"key": "lajme", "name": "Lajme", "language": "sq",
                  "listings": [{"url": server.url("/lajme/"), "link_selector": "h2 a"}]}
        cfg = write_config(tmp_path / "pool.yaml", pg_url, [outlet],
                           http={"per_host_concurrency": 2, "obey_robots": False}, pool={"crawl_parts": 2})
        procs = [start_worker(cfg, tmp_path / f"worker{i}.log", "--concurrency", "1", "--name", f"w{i}")
                 for i in range(2)]
        try:
            assert wait_for(lambda: logs_of(tmp_path).count("worker started") == 2, 60), logs_of(tmp_path)
            db = Database(pg_url)
            # what the periodic job does every crawl_minutes (if the period's own is waiting, that one runs)
            with db.session(purpose="defer") as s:
                defer_in(s, "spreadwatch.crawl", {"timestamp": 1}, queueing_lock="crawl")
            assert wait_for(lambda: any(len(p) == 2 and sum(x[2] for x in p) == PAGES for p in parts_done().values()),
                            150), logs_of(tmp_path)
            with db.session(read_only=True) as s:
                stored = s.scalar(select(func.count(Article.id)))
            db.dispose()
        finally:
            stop_all(procs)
        hits = newsroom.hits()
        peak = newsroom.peak
    assert hits == dict.fromkeys(range(PAGES), 1)  # whatever crawls ran, each page once
    assert stored == PAGES
    assert peak <= 2  # the host's limit held for the two workers' crawl processes together
    crawl = next(p for p in parts_done().values() if sum(x[2] for x in p) == PAGES)
    assert {x[0] for x in crawl} == {"worker0.log", "worker1.log"}  # one part on each worker
    assert all(x[1] >= 2 for x in crawl), crawl  # and each fetched a share of the pages
