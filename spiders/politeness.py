"""Scrapy settings built from ours: the feed poller's politeness, per-domain overrides, run limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scrapy.extensions.throttle import AutoThrottle

from spiders.rendering import browser_settings, outlet_renders
from spreadwatch.settings import OutletConfig, Settings

# sitemap index -> nested index -> news sitemap -> article: the deepest chain worth following
SITEMAP_DEPTH = 3
# Scrapy 2.19 counts a request against its slot's concurrency only once the request's coroutine
# runs, so with no delay it dispatches every queued request of a host at once and the per-host
# concurrency does not hold. Any delay makes it dispatch one at a time; 10 ms costs nothing.
MIN_DELAY = 0.01


def scrapy_settings(settings: Settings, outlets: list[OutletConfig], *, page_limit: int, cache_dir: Path | None,
                    soft_timeout: float) -> dict[str, Any]:
    """Everything Scrapy needs for one crawl of these outlets (a browser only if one of them renders)."""
    slots = download_slots(settings, outlets)
    rendering = browser_settings(settings) if any(outlet_renders(o) for o in outlets) else {}
    return {**rendering, **_scrapy(settings, outlets, slots, page_limit, cache_dir, soft_timeout, bool(rendering))}


def _scrapy(settings: Settings, outlets: list[OutletConfig], slots: dict[str, dict[str, float]], page_limit: int,
            cache_dir: Path | None, soft_timeout: float, rendering: bool) -> dict[str, Any]:
    http = settings.http
    return {
        "USER_AGENT": http.user_agent, "ROBOTSTXT_OBEY": http.obey_robots,
        "DOWNLOAD_DELAY": max(http.per_host_delay, MIN_DELAY),
        "CONCURRENT_REQUESTS_PER_DOMAIN": http.per_host_concurrency,
        "CONCURRENT_REQUESTS": http.max_concurrency, "DOWNLOAD_SLOTS": slots,
        # AutoThrottle slows down for a slow site; ours never goes below a configured delay
        "AUTOTHROTTLE_ENABLED": True, "AUTOTHROTTLE_START_DELAY": max(http.per_host_delay, 0.1),
        "EXTENSIONS": {"scrapy.extensions.throttle.AutoThrottle": None, "spiders.politeness.PoliteThrottle": 0},
        "DOWNLOAD_TIMEOUT": http.total_timeout, "DOWNLOAD_MAXSIZE": http.max_bytes, "DOWNLOAD_WARNSIZE": 0,
        "REDIRECT_MAX_TIMES": 8, "RETRY_TIMES": http.retries,
        "DOWNLOADER_MIDDLEWARES": {"spiders.middlewares.RedirectLoopMiddleware": 650,
                                   "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
                                   "spiders.middlewares.StrictRobotsTxtMiddleware": 100,
                                   **({"spiders.middlewares.RenderedSizeMiddleware": 950} if rendering else {})},
        "DEPTH_LIMIT": depth_limit(outlets), "CLOSESPIDER_PAGECOUNT": page_limit,
        "CLOSESPIDER_TIMEOUT": soft_timeout,
        "HTTPCACHE_ENABLED": cache_dir is not None, "HTTPCACHE_DIR": str(cache_dir or ""),
        "ITEM_PIPELINES": {"spiders.pipeline.IngestPipeline": 300},
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "TELNETCONSOLE_ENABLED": False, "LOG_LEVEL": "ERROR", "LOG_INSTALL_ROOT_HANDLER": False,
    }


def download_slots(settings: Settings, outlets: list[OutletConfig]) -> dict[str, dict[str, float]]:
    """Per-host delay and concurrency for the outlets that override the defaults (Scrapy keys slots by host)."""
    http, slots = settings.http, {}
    for o in outlets:
        if o.delay_seconds is None and o.concurrency is None:
            continue
        urls = [s.url for s in o.sitemaps] + [s.url for s in o.listings] + [s.url for s in o.json_endpoints]
        for host in {urlsplit(u).hostname for u in urls + [o.homepage] if u}:
            delay = o.delay_seconds if o.delay_seconds is not None else http.per_host_delay
            slots[str(host)] = {"delay": max(delay, MIN_DELAY), "concurrency": o.concurrency or http.per_host_concurrency}
    return slots


def depth_limit(outlets: list[OutletConfig]) -> int:
    """Deep enough for every configured listing's pages and for nested sitemaps, and no deeper."""
    # the k-th listing page is at depth k-1, its articles at depth k
    return max([SITEMAP_DEPTH, *(ls.max_pages for o in outlets for ls in o.listings)])


class PoliteThrottle(AutoThrottle):
    """AutoThrottle that keeps each slot at or above the delay configured for its host.

    Scrapy's AutoThrottle only knows the global DOWNLOAD_DELAY as its floor, so an outlet that asked
    for five seconds between requests would soon be fetched every second.
    """

    def _adjust_delay(self, slot: Any, latency: float, response: Any) -> None:
        super()._adjust_delay(slot, latency, response)
        floor = self.crawler.settings.getdict("DOWNLOAD_SLOTS").get(urlsplit(response.url).hostname or "", {})
        slot.delay = max(slot.delay, float(floor.get("delay", 0)))
