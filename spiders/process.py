"""One crawl inside the current process: Scrapy's CrawlerProcess, run once, then the report.

This runs in the child process that spiders.run starts for every crawl; Scrapy is imported only
here, so the parent (CLI or daemon) never loads Twisted.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

from spiders.report import CrawlReport, OutletCrawl
from spreadwatch.settings import OutletConfig, Settings
from storage import Database

ORPHAN_GRACE_SECONDS = 30  # after the parent died: time for Scrapy's graceful stop before a hard exit


def crawl_child(settings_data: dict[str, Any], keys: list[str], page_limit: int, cache_dir: str | None,
                soft_timeout: float, queue: Any, render_pages: int = 50, shared: dict[str, Any] | None = None) -> None:
    """Child process entry: crawl, and always send a report back, a failed one included."""
    from spiders.shared import SharedCrawl

    watch_parent(os.getppid())
    try:
        settings = Settings.model_validate(settings_data)
        outlets = [settings.outlet(k) for k in keys]
        report = crawl(settings, outlets, page_limit=page_limit,
                       cache_dir=Path(cache_dir) if cache_dir else None, soft_timeout=soft_timeout,
                       render_pages=render_pages, shared=SharedCrawl(**shared) if shared else None)
    except Exception as e:  # the parent shows it; a traceback in a child's stderr is easy to miss
        report = CrawlReport(error=f"{e.__class__.__name__}: {e}")
    queue.put(report)


def crawl(settings: Settings, outlets: list[OutletConfig], *, page_limit: int, cache_dir: Path | None,
          soft_timeout: float, render_pages: int = 50, shared: Any = None) -> CrawlReport:
    """Crawl these outlets to the end (or a limit), store what they yield, save their health."""
    from scrapy.crawler import CrawlerProcess

    from spiders.health import Health
    from spiders.outlets import CrawlContext, OutletSpider
    from spiders.politeness import scrapy_settings
    from spiders.rendering import chromium_missing, outlet_renders

    db = Database(settings.database_url)
    report = CrawlReport(outlets={o.key: OutletCrawl() for o in outlets})
    rendering = any(outlet_renders(o) for o in outlets)
    context = CrawlContext(settings=settings, db=db, known=known_urls(db, outlets), health=Health(report),
                           render_budget=render_pages, browser_problem=chromium_missing() if rendering else None)
    scrapy = scrapy_settings(settings, outlets, page_limit=page_limit, cache_dir=cache_dir, soft_timeout=soft_timeout)
    if shared is not None:  # one part of a crawl spread over several processes (spiders/shared.py)
        from spiders.shared import shared_settings

        scrapy = shared_settings(shared, scrapy)
    process = CrawlerProcess(scrapy)
    crawler = process.create_crawler(OutletSpider)
    process.crawl(crawler, outlets=outlets, context=context)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    report.pages = int(stats.get("response_received_count", 0))
    report.finish_reason = str(stats.get("finish_reason", ""))
    context.health.save(db)
    db.dispose()
    return report


def known_urls(db: Database, outlets: list[OutletConfig]) -> set[str]:
    """Canonical and discovered addresses of the articles these outlets already have stored."""
    from sqlalchemy import select

    from spreadwatch.ingest import ensure_outlet
    from storage import Article

    with db.session() as s:
        ids = [ensure_outlet(s, o).id for o in outlets]  # rows to write health on, even before an article
        known: set[str] = set()
        for canonical, url in s.execute(select(Article.canonical_url, Article.url).where(Article.outlet_id.in_(ids))):
            known.update((canonical, url))
    return known


def watch_parent(parent: int) -> None:
    """End this crawl if its parent dies (a SIGKILLed daemon cannot kill it): an orphan would keep
    crawling next to the crawl of the daemon that replaces it."""
    def watch() -> None:
        while os.getppid() == parent:  # ends with the process, or when the parent is gone
            threading.Event().wait(1.0)
        os.kill(os.getpid(), signal.SIGTERM)  # Scrapy stops gracefully: the article being stored commits
        threading.Event().wait(ORPHAN_GRACE_SECONDS)
        os._exit(1)  # an open transaction rolls back; nothing half-written

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
