"""Running the spiders: each crawl in a child process of its own.

Twisted's reactor cannot be restarted in a process, and the daemon crawls again and again, so every
crawl runs a CrawlerProcess in a fresh child (multiprocessing, spawn) and sends its report back. The
parent (CLI or daemon) stays free of Twisted; a crawl that hangs is killed at its time limit.
"""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from spreadwatch.settings import Settings


@dataclass
class OutletCrawl:
    ingested: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class CrawlReport:
    outlets: dict[str, OutletCrawl] = field(default_factory=dict)
    skipped_known: int = 0
    pages: int = 0
    error: str | None = None

    @property
    def ingested(self) -> int:
        return sum(o.ingested for o in self.outlets.values())

    def summary(self) -> str:
        errs = sum(len(o.errors) for o in self.outlets.values())
        return (f"{len(self.outlets)} outlets, {self.pages} pages, {self.ingested} new articles, "
                f"{self.skipped_known} already known, {errs} errors" + (f"; crawl failed: {self.error}" if self.error else ""))


def scrapy_settings(settings: Settings, outlets: list[Any], *, page_limit: int, cache: bool) -> dict[str, Any]:
    """Scrapy settings from ours: the same politeness as the feed poller."""
    http = settings.http
    slots = {}
    for o in outlets:
        if o.delay_seconds is not None or o.concurrency is not None:
            for url in [s.url for s in o.sitemaps] + [s.url for s in o.listings] + [s.url for s in o.json_endpoints]:
                slots[urlsplit(url).hostname] = {"delay": o.delay_seconds or http.per_host_delay,
                                                 "concurrency": o.concurrency or http.per_host_concurrency}
    return {
        "USER_AGENT": http.user_agent, "ROBOTSTXT_OBEY": http.obey_robots,
        "DOWNLOAD_DELAY": http.per_host_delay, "CONCURRENT_REQUESTS_PER_DOMAIN": http.per_host_concurrency,
        "CONCURRENT_REQUESTS": http.max_concurrency, "DOWNLOAD_SLOTS": slots,
        # AutoThrottle adapts the delay to each site's latency, starting from ours (off when we set none)
        "AUTOTHROTTLE_ENABLED": http.per_host_delay > 0, "AUTOTHROTTLE_START_DELAY": max(http.per_host_delay, 0.1),
        "DOWNLOAD_TIMEOUT": http.total_timeout, "DOWNLOAD_MAXSIZE": http.max_bytes, "DOWNLOAD_WARNSIZE": 0,
        "REDIRECT_MAX_TIMES": 8, "RETRY_TIMES": http.retries, "DEPTH_LIMIT": 4,
        "CLOSESPIDER_PAGECOUNT": page_limit, "HTTPCACHE_ENABLED": cache, "HTTPCACHE_DIR": "spreadwatch-httpcache",
        "ITEM_PIPELINES": {"spiders.pipeline.IngestPipeline": 300},
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "TELNETCONSOLE_ENABLED": False, "LOG_LEVEL": "ERROR", "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
    }


def run_crawl(settings: Settings, outlet_keys: list[str] | None = None, *, page_limit: int = 200,
              cache: bool = False, timeout: float = 600) -> CrawlReport:
    """Crawl these outlets (default: every enabled outlet with sitemaps, listings or JSON endpoints)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(settings.model_dump(mode="json"), outlet_keys, page_limit, cache, queue),
                       name="spreadwatch-crawl")
    proc.start()
    try:
        report: CrawlReport = queue.get(timeout=timeout)
    except Exception:  # queue.Empty, or the child died: report it, never hang the daemon
        report = CrawlReport(error=f"no report within {timeout:.0f}s (exit code {proc.exitcode})")
    proc.join(timeout=10)
    if proc.is_alive():
        proc.kill()
    return report


def _child(settings_data: dict[str, Any], keys: list[str] | None, page_limit: int, cache: bool, queue: Any) -> None:
    try:
        queue.put(_crawl(Settings.model_validate(settings_data), keys, page_limit, cache))
    except Exception as e:  # report, so the parent can show it
        queue.put(CrawlReport(error=f"{e.__class__.__name__}: {e}"))


def _crawl(settings: Settings, keys: list[str] | None, page_limit: int, cache: bool) -> CrawlReport:
    from scrapy.crawler import CrawlerProcess
    from sqlalchemy import select

    from spiders.health import Health
    from spiders.outlets import OutletSpider
    from spreadwatch.ingest import ensure_outlet
    from storage import Article, Database

    outlets = [o for o in settings.outlets if o.enabled and (o.sitemaps or o.listings or o.json_endpoints)
               and (keys is None or o.key in keys)]
    report = CrawlReport(outlets={o.key: OutletCrawl() for o in outlets})
    if not outlets:
        return report
    db = Database(settings.database_url)
    with db.session() as s:
        ids = [ensure_outlet(s, o).id for o in outlets]
        known = set()
        for canon, url in s.execute(select(Article.canonical_url, Article.url).where(Article.outlet_id.in_(ids))):
            known.update((canon, url))
    health = Health()
    process = CrawlerProcess({**scrapy_settings(settings, outlets, page_limit=page_limit, cache=cache),
                              "LOG_INSTALL_ROOT_HANDLER": False})
    crawler = process.create_crawler(OutletSpider)
    crawler.spreadwatch = {"db": db, "settings": settings, "report": report}  # type: ignore[attr-defined]
    process.crawl(crawler, outlets=[o.model_dump(by_alias=True) for o in outlets], known=known, health=health)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    report.pages = int(stats.get("response_received_count", 0))
    report.skipped_known = int(stats.get("spreadwatch/skipped_known", 0))
    health.save(db, report)
    return report
