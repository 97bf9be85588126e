"""Scrapy settings from ours: per-host slots from outlet overrides, depth deep enough for the
configured pages, AutoThrottle that never goes below an outlet's delay, robots.txt per RFC 9309."""

from __future__ import annotations

from scrapy.core.downloader import Slot
from scrapy.extensions.throttle import AutoThrottle
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from spiders import run_crawl
from spiders.politeness import MIN_DELAY, PoliteThrottle, depth_limit, download_slots, scrapy_settings
from spreadwatch.localserver import LocalServer, static
from spreadwatch.settings import HttpSettings, OutletConfig, load_settings
from tests.spiders.test_sites import settings_for

SETTINGS = load_settings().with_overrides(http=HttpSettings(per_host_delay=1.0, per_host_concurrency=2))
KOSOVAPRESS = OutletConfig(key="kosovapress", name="KosovaPress", homepage="https://kosovapress.com/",
                           listings=[{"url": "https://kosovapress.com/", "max_pages": 6}], delay_seconds=5)
TANJUG = OutletConfig(key="tanjug", name="Tanjug", sitemaps=[{"url": "https://www.tanjug.rs/sitemap/news.xml"}])


def test_outlet_overrides_become_slots_for_their_hosts() -> None:
    slots = download_slots(SETTINGS, [KOSOVAPRESS, TANJUG])
    assert slots == {"kosovapress.com": {"delay": 5, "concurrency": 2}}  # tanjug keeps the defaults
    fast = OutletConfig(key="x", name="X", listings=[{"url": "https://x.example/"}], concurrency=1, delay_seconds=0)
    assert download_slots(SETTINGS, [fast]) == {"x.example": {"delay": MIN_DELAY, "concurrency": 1}}


def test_depth_covers_the_listing_pages_and_nested_sitemaps() -> None:
    assert depth_limit([TANJUG]) == 3
    assert depth_limit([TANJUG, KOSOVAPRESS]) == 6


def test_scrapy_gets_our_user_agent_robots_limits_and_cache() -> None:
    got = scrapy_settings(SETTINGS, [KOSOVAPRESS], page_limit=50, cache_dir=None, soft_timeout=30)
    assert got["USER_AGENT"] == SETTINGS.http.user_agent and got["ROBOTSTXT_OBEY"] is True
    assert got["AUTOTHROTTLE_ENABLED"] is True and got["CLOSESPIDER_PAGECOUNT"] == 50
    assert got["DOWNLOAD_MAXSIZE"] == SETTINGS.http.max_bytes and got["HTTPCACHE_ENABLED"] is False


def adjust(throttle_class: type[AutoThrottle], url: str, start_delay: float) -> float:
    """The delay a throttle leaves on a slot after a fast 200 response from `url`."""
    crawler = get_crawler(settings_dict={"AUTOTHROTTLE_ENABLED": True, "DOWNLOAD_DELAY": 1.0,
                                         "DOWNLOAD_SLOTS": download_slots(SETTINGS, [KOSOVAPRESS])})
    throttle = throttle_class(crawler)
    throttle.mindelay, throttle.maxdelay = 1.0, 60.0
    slot = Slot(concurrency=1, delay=start_delay)
    throttle._adjust_delay(slot, 0.05, HtmlResponse(url, status=200, body=b"<html></html>"))
    return slot.delay


def test_autothrottle_keeps_an_outlets_own_delay() -> None:
    assert adjust(AutoThrottle, "https://kosovapress.com/lajme/", 5.0) < 5.0  # Scrapy's would speed up
    assert adjust(PoliteThrottle, "https://kosovapress.com/lajme/", 5.0) == 5.0
    assert adjust(PoliteThrottle, "https://www.tanjug.rs/vest", 5.0) < 5.0  # no override: adapts as usual


def test_a_failing_robots_txt_forbids_everything(server: LocalServer, sqlite_url: str) -> None:
    server.route("/robots.txt", static("<html><h1>503 Service Unavailable</h1></html>", status=503))
    server.route("/lajme/", static('<h2><a href="/lajmi/1/">Lajmi</a></h2>'))
    outlet = {"key": "down", "name": "Down", "listings": [{"url": server.url("/lajme/"), "link_selector": "h2 a"}]}
    report = run_crawl(settings_for(sqlite_url, [outlet]), timeout=240)
    assert report.error is None and report.ingested == 0
    assert [r.path for r in server.requests] == ["/robots.txt"]  # RFC 9309: a 5xx robots.txt means "disallow all"
    assert "robots.txt" in report.outlets["down"].errors[0] and "5xx" in report.outlets["down"].errors[0]
