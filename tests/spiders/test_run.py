"""Running crawls: a child process per crawl, so the CLI and the daemon crawl again and again in one
process; a hung child is killed, a failing one reports, and nothing needs Twisted in the parent."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from spiders import CrawlReport, run_crawl
from spreadwatch.daemon import Daemon
from spreadwatch.localserver import LocalServer, Request, Response, static
from spreadwatch.settings import load_settings
from storage import Article, Database, Outlet
from tests.spiders.conftest import RecordedSite, Sites
from tests.spiders.test_sites import HTTP, SITEMAP_AGE, settings_for

TANJUG_ARTICLE = "/srbija/politika/1163452/vucic-nismo-dobili-nikakvo-obavestenje-o-povlacenju-americkih-vojnika/vest"


def tanjug(site: RecordedSite) -> dict[str, Any]:
    return {"key": "tanjug", "name": "Tanjug", "country": "RS", "language": "sr",
            "sitemaps": [{"url": site.url("/sitemap/news.xml"), "max_age_hours": SITEMAP_AGE}]}


def trt(site: RecordedSite) -> dict[str, Any]:
    return {"key": "trt-balkan-sq", "name": "TRT Balkan Albanian", "language": "sq",
            "json_endpoints": [{"url": site.url("/api/homepage"), "items_path": "data.latest", "url_field": "path"}]}


def crawl_child() -> mp.Process:
    """The crawl's child process, once it has started (bounded wait)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [p for p in mp.active_children() if p.name == "spreadwatch-crawl"]
        if found:
            return found[0]
        threading.Event().wait(0.02)
    raise AssertionError("no crawl child process started within 30 s")


def run_in_thread(**kwargs: Any) -> tuple[threading.Thread, dict[str, CrawlReport]]:
    result: dict[str, CrawlReport] = {}
    thread = threading.Thread(target=lambda: result.update(report=run_crawl(**kwargs)), daemon=True)
    thread.start()
    return thread, result


def test_a_hung_crawl_is_killed_and_written_on_its_outlets(sites: Sites, sqlite_url: str) -> None:
    settings = settings_for(sqlite_url, [tanjug(sites["tanjug"])])
    thread, result = run_in_thread(settings=settings, timeout=8)
    child = crawl_child()
    os.kill(child.pid, signal.SIGSTOP)  # a child that will never answer again: frozen, not dead
    thread.join(timeout=90)
    assert not thread.is_alive()
    report = result["report"]
    assert report.error and "time limit" in report.error and "killed" in report.error
    assert not child.is_alive() and child.exitcode == -signal.SIGKILL
    with Database(sqlite_url).session() as s:
        row = s.scalar(select(Outlet).where(Outlet.key == "tanjug"))
        assert row is not None and "time limit" in (row.last_error or "") and row.failures == 1


def test_stop_event_ends_a_running_crawl(sites: Sites, sqlite_url: str) -> None:
    stop = threading.Event()
    settings = settings_for(sqlite_url, [tanjug(sites["tanjug"])])
    thread, result = run_in_thread(settings=settings, timeout=600, stop=stop)
    child = crawl_child()
    os.kill(child.pid, signal.SIGSTOP)  # so that only the stop event can end this crawl
    stop.set()
    thread.join(timeout=60)
    assert not thread.is_alive() and "shutting down" in (result["report"].error or "")
    assert not child.is_alive()


def test_a_dead_child_is_reported_not_waited_for(sites: Sites, sqlite_url: str) -> None:
    settings = settings_for(sqlite_url, [tanjug(sites["tanjug"])])
    thread, result = run_in_thread(settings=settings, timeout=600)
    os.kill(crawl_child().pid, signal.SIGKILL)
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert "died" in (result["report"].error or "") and "without a report" in (result["report"].error or "")


def test_the_childs_exception_reaches_the_cli(sites: Sites, tmp_path: Path) -> None:
    # nothing listens on port 1: the child cannot open the database and must say so
    cfg = write_config(tmp_path, "postgresql+psycopg://nobody@127.0.0.1:1/none", [tanjug(sites["tanjug"])])
    run = subprocess.run([sys.executable, "-m", "spreadwatch", "crawl", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 1
    assert "crawl failed: DatabaseUnavailable" in run.stdout and "127.0.0.1" in run.stdout  # one line naming it
    assert not sites["tanjug"].server.requests  # it failed before crawling anything


def test_cli_crawls_the_named_outlets_and_refuses_unknown_ones(sites: Sites, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    cfg = write_config(tmp_path, db_url, [tanjug(sites["tanjug"]), trt(sites["trt"])])
    run = subprocess.run([sys.executable, "-m", "spreadwatch", "crawl", "tanjug", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("1 outlets, ") and "1 new articles" in run.stdout
    assert not sites["trt"].server.requests  # not named, not crawled
    wrong = subprocess.run([sys.executable, "-m", "spreadwatch", "crawl", "tass", "--config", str(cfg)],
                           capture_output=True, text=True, timeout=180)
    assert wrong.returncode == 1 and "tass: no such outlet" in wrong.stdout


def test_the_daemon_crawls_twice_in_one_process(sites: Sites, sqlite_url: str) -> None:
    settings = settings_for(sqlite_url, [tanjug(sites["tanjug"]), trt(sites["trt"])])
    daemon = Daemon(settings)
    asyncio.run(daemon.crawl_job())
    with Database(sqlite_url).session() as s:
        first = set(s.scalars(select(Article.url)))
    assert len(first) == 3 and sites["tanjug"].url(TANJUG_ARTICLE) in first
    pages = len(sites["tanjug"].hits("/sitemap/news.xml"))
    asyncio.run(daemon.crawl_job())  # the same process again: no "reactor not restartable"
    assert len(sites["tanjug"].hits("/sitemap/news.xml")) == pages + 1  # it did crawl again
    assert len(sites["tanjug"].hits(TANJUG_ARTICLE)) == 1  # but asked for no stored article
    with Database(sqlite_url).session() as s:
        assert set(s.scalars(select(Article.url))) == first


def test_the_http_cache_replays_a_crawl_offline(sites: Sites, sqlite_url: str, tmp_path: Path) -> None:
    settings = settings_for(sqlite_url, [tanjug(sites["tanjug"])])
    first = run_crawl(settings, cache_dir=tmp_path / "httpcache", timeout=240)
    assert first.error is None and first.ingested == 1
    asked = len(sites["tanjug"].server.requests)
    again = run_crawl(settings, cache_dir=tmp_path / "httpcache", timeout=240)
    assert again.error is None and again.pages >= 2 and again.outlets["tanjug"].known == 1
    assert len(sites["tanjug"].server.requests) == asked  # robots.txt and the sitemap came from the cache
    assert any((tmp_path / "httpcache").iterdir())


def test_per_outlet_concurrency_is_obeyed(sqlite_url: str, tmp_path: Path) -> None:
    peaks = []
    for override in (1, None):
        with LocalServer() as server:
            gauge = serve_slow_articles(server, count=3)
            outlet = {"key": "slow", "name": "Slow", "language": "sq", "concurrency": override,
                      "listings": [{"url": server.url("/lajme/"), "link_selector": "h2 a"}]}
            db_url = f"sqlite:///{tmp_path / f'slow-{override}.db'}"
            report = run_crawl(settings_for(db_url, [outlet]), timeout=240)
            assert report.error is None and report.ingested == 3, report.summary()
            peaks.append(gauge["peak"])
    assert peaks[0] == 1  # concurrency: 1 from the outlet's config
    assert peaks[1] > 1  # the control: the default (per_host_concurrency 4) does overlap requests


def serve_slow_articles(server: LocalServer, count: int) -> dict[str, int]:
    """A listing of `count` articles that each take half a second to answer; returns the in-flight gauge."""
    gauge, lock = {"now": 0, "peak": 0}, threading.Lock()

    def slow(path: str):  # type: ignore[no-untyped-def]
        def handle(req: Request) -> Response:
            with lock:
                gauge["now"] += 1
                gauge["peak"] = max(gauge["peak"], gauge["now"])
            threading.Event().wait(0.5)
            with lock:
                gauge["now"] -= 1
            text = f"Artikulli {path}: " + "Patrullat e KFOR-it vazhdojnë në veri të Kosovës sipas planit. " * 8
            return Response(200, f"<html lang='sq'><body><article><h1>{path}</h1><p>{text}</p></article></body></html>"
                            .encode(), {"Content-Type": "text/html; charset=utf-8"})
        return handle

    links = "".join(f'<h2><a href="/lajmi/{n}/">Lajmi {n}</a></h2>' for n in range(count))
    server.route("/lajme/", static(f"<html><body>{links}</body></html>"))
    for n in range(count):
        server.route(f"/lajmi/{n}/", slow(f"/lajmi/{n}/"))
    return gauge


def write_config(folder: Path, db_url: str, outlets: list[dict[str, Any]]) -> Path:
    cfg = folder / "spreadwatch.yaml"
    cfg.write_text(yaml.safe_dump({"database_url": db_url, "default_outlets": False, "outlets": outlets,
                                   "http": HTTP.model_dump()}, allow_unicode=True), encoding="utf-8")
    return cfg


def test_disabled_and_feed_only_outlets_are_not_crawled() -> None:
    report = run_crawl(load_settings(), ["ap", "politico"])
    assert report.outlets == {} and report.error is not None
    assert "ap: disabled" in report.error and "terms forbid automated collection" in report.error
    assert "politico: no sitemaps, listings or json_endpoints" in report.error


def test_the_page_limit_stops_a_crawl_and_says_so(sites: Sites, sqlite_url: str) -> None:
    wp = sites["wordpress"]
    outlet = {"key": "gazeta-express", "name": "Gazeta Express", "language": "sq",
              "listings": [{"url": wp.url("/"), "link_selector": "h2.entry-title a",
                            "next_selector": "a.next.page-numbers::attr(href)", "max_pages": 2}]}
    report = run_crawl(settings_for(sqlite_url, [outlet]), page_limit=2, timeout=240)  # robots.txt + the listing
    assert report.error is None and report.finish_reason == "closespider_pagecount"
    assert "stopped at the page limit" in report.summary()
    assert report.ingested < 3 and not wp.hits("/page/2/")  # the full crawl stores 3 and reads page 2


ORPHAN_SCRIPT = """
import json, sys, threading, multiprocessing as mp
from spiders import run_crawl
from spreadwatch.settings import Settings
if __name__ == "__main__":
    settings = Settings.model_validate(json.loads(sys.argv[1]))
    threading.Thread(target=run_crawl, args=(settings,), daemon=True).start()
    for _ in range(600):
        children = [p.pid for p in mp.active_children() if p.name == "spreadwatch-crawl"]
        if children:
            print(children[0], flush=True)
            break
        threading.Event().wait(0.05)
    else:
        print(-1, flush=True)
    threading.Event().wait(600)
"""


def test_a_crawl_whose_parent_is_killed_ends_itself(sqlite_url: str, tmp_path: Path) -> None:
    with LocalServer() as server:
        serve_slow_articles(server, count=120)  # a minute of work at half a second per article
        outlet = {"key": "slow", "name": "Slow", "language": "sq", "concurrency": 1,
                  "listings": [{"url": server.url("/lajme/"), "link_selector": "h2 a"}]}
        settings = settings_for(sqlite_url, [outlet])
        script = tmp_path / "parent.py"
        script.write_text(ORPHAN_SCRIPT)
        parent = subprocess.Popen([sys.executable, str(script), settings.model_dump_json()],
                                  stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
        child = -1
        try:
            child = int(parent.stdout.readline())  # type: ignore[union-attr]
            assert child > 0, "the crawl's child process did not start"
            wait_until(lambda: len(server.hits("/lajme/")) == 1, "the child started crawling")
            parent.kill()  # as a SIGKILLed daemon: no chance to end its child
            parent.wait(timeout=10)
            # well before the minute its work would take: it noticed its parent was gone
            wait_until(lambda: not running(child), "the orphaned crawl ended itself", seconds=30)
        finally:
            parent.kill()
            if child > 0 and running(child):
                os.kill(child, signal.SIGKILL)
        assert sum(len(server.hits(f"/lajmi/{n}/")) for n in range(120)) < 60


def running(pid: int) -> bool:
    """Whether the process exists and is not a zombie nobody reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def wait_until(condition: Any, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        threading.Event().wait(0.1)
    raise AssertionError(f"not within {seconds:.0f} s: {what}")
