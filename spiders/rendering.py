"""Rendering: pages that exist only after their scripts ran, fetched through one headless Chromium.

scrapy-playwright is a Scrapy download handler, so a rendered request goes through the same
scheduler, download slots (per-host delay and concurrency), robots.txt middleware and errbacks as
any other; only the download itself happens in the browser. The browser is Debian's Chromium
(``/usr/bin/chromium``, or ``$SPREADWATCH_CHROMIUM``): Playwright never downloads one. Its cost is
bounded: one browser per crawl, one context, a few pages at a time, images, fonts and media never
fetched, a navigation deadline, and a page budget per crawl.

Nothing here imports Scrapy or Playwright at module level: the CLI's `check` uses the probe below
in a process that must not load Twisted.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from typing import Any

from spreadwatch.settings import ListingConfig, OutletConfig, Settings

RENDER_PAGES = 50  # rendered pages per crawl, by default (each costs a browser tab and its scripts)
BLOCKED_RESOURCES = frozenset({"image", "font", "media"})  # never needed for a page's text or links
MAX_CONTEXTS = 1  # one browser context per crawl: cookies stay within the crawl, memory stays bounded
MAX_PAGES = 3  # tabs open at once in that context
SETTLE_SECONDS = 5.0  # after `load`, at most this long for the page's own requests (its API calls) to end
BROWSER_FLAGS = ["--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio"]
_PSEUDO = re.compile(r"::(attr\([^)]*\)|text)\s*$")  # Scrapy's CSS extensions a browser does not know


def chromium_path() -> str:
    return os.environ.get("SPREADWATCH_CHROMIUM") or "/usr/bin/chromium"


def chromium_missing() -> str | None:
    """Why rendering cannot run here, or None when the browser is there."""
    path = chromium_path()
    if shutil.which(path):
        return None
    return (f"this outlet needs a browser (render), but there is no Chromium at {path}: install Debian's "
            "chromium package (apt-get install chromium) or set SPREADWATCH_CHROMIUM")


def outlet_renders(outlet: OutletConfig) -> bool:
    """Whether any page of this outlet may go through the browser (then the crawl starts one)."""
    return outlet.render or bool(outlet.render_pattern) or any(ls.render for ls in outlet.listings)


def renders_listing(outlet: OutletConfig, listing: ListingConfig | dict[str, Any]) -> bool:
    """Whether a listing page goes through the browser: its own `render`, else the outlet's."""
    own = listing.render if isinstance(listing, ListingConfig) else listing.get("render")
    return bool(outlet.render if own is None else own) or _matches(outlet, _url(listing))


def renders_page(outlet: OutletConfig, url: str) -> bool:
    """Whether an article page goes through the browser: the outlet renders, or its URL matches."""
    return outlet.render or _matches(outlet, url)


def _matches(outlet: OutletConfig, url: str) -> bool:
    return bool(outlet.render_pattern and re.search(outlet.render_pattern, url))


def _url(listing: ListingConfig | dict[str, Any]) -> str:
    return listing.url if isinstance(listing, ListingConfig) else str(listing.get("url", ""))


def wait_selector(listing: dict[str, Any] | None) -> str | None:
    """What a rendered listing must show before it is read: `wait_for`, else its CSS link selector
    (without Scrapy's ::attr()), so the page is read once its links are there; None for XPath."""
    if not listing:
        return None
    if listing.get("wait_for"):
        return str(listing["wait_for"])
    selector = str(listing.get("link_selector") or "")
    if not selector or selector.lstrip().startswith(("/", "(", "./")):
        return None
    return _PSEUDO.sub("", selector).strip() or None


def abort_request(request: Any) -> bool:
    """Playwright's question for every request a page makes: images, fonts and media are refused."""
    return request.resource_type in BLOCKED_RESOURCES


async def settle(page: Any, seconds: float = SETTLE_SECONDS) -> None:
    """Give the page's own requests (an app fetching its articles) a moment to finish; a page that
    never stops talking (analytics, live tickers) is read as it is after `seconds`."""
    try:
        await page.wait_for_load_state("networkidle", timeout=seconds * 1000)
    except Exception:  # noqa: BLE001 - Playwright's TimeoutError: read the page as it is
        return


def render_meta(deadline: float, wait_for: str | None = None) -> dict[str, Any]:
    """Request meta that sends a request through the browser, with its deadline in seconds."""
    from scrapy_playwright.page import PageMethod

    methods = [PageMethod(settle, min(SETTLE_SECONDS, deadline))]
    if wait_for:
        methods.append(PageMethod("wait_for_selector", wait_for, state="attached", timeout=deadline * 1000))
    return {"playwright": True, "playwright_context": "render", "playwright_page_methods": methods,
            "playwright_page_goto_kwargs": {"wait_until": "load", "timeout": deadline * 1000}, "rendered": True}


def browser_settings(settings: Settings) -> dict[str, Any]:
    """The Scrapy settings that install scrapy-playwright for a crawl with rendered outlets."""
    http = settings.http
    handler = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
    return {
        "DOWNLOAD_HANDLERS": {"http": handler, "https": handler},
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": {"executable_path": chromium_path(), "headless": True, "args": BROWSER_FLAGS,
                                      "timeout": 30_000},
        "PLAYWRIGHT_MAX_CONTEXTS": MAX_CONTEXTS, "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": MAX_PAGES,
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": http.total_timeout * 1000,
        "PLAYWRIGHT_ABORT_REQUEST": "spiders.rendering.abort_request",
    }


# ---------------------------------------------------------------- does a page need a browser?

@dataclass(frozen=True)
class ScriptOnly:
    """A page that shows (almost) nothing without its scripts: why it looks so."""

    url: str
    reason: str


def script_only(content: bytes, url: str, link_selector: str | None = None) -> ScriptOnly | None:
    """Whether a page looks JavaScript-only: scripts, and without them hardly any text, or (for a
    listing) none of the links its selector looks for. None when it reads fine without a browser."""
    from parsel import Selector

    from crawler.extract import decode_page

    page = Selector(text=decode_page(content) or "<html></html>")
    scripts = len(page.xpath("//script"))
    if not scripts:
        return None
    words = " ".join(page.xpath("//body//text()[not(ancestor::script) and not(ancestor::style) "
                                "and not(ancestor::noscript)]").getall()).split()
    if link_selector:
        found = page.xpath(link_selector) if link_selector.lstrip().startswith(("/", "(")) else page.css(link_selector)
        if not found:
            return ScriptOnly(url, f"{scripts} scripts and no link for {link_selector!r} without them")
        return None
    if len(words) < 60:
        return ScriptOnly(url, f"{scripts} scripts and {len(words)} words of text without them")
    return None


async def probe_outlets(settings: Settings) -> list[tuple[str, ScriptOnly | str]]:
    """Each enabled outlet that is not rendered yet and whose listing (or homepage) looks
    JavaScript-only, fetched once through the polite client; or why it could not be fetched."""
    import asyncio

    from crawler import CrawlError, Fetcher

    async def probe(fetcher: Fetcher, key: str, url: str, selector: str | None) -> tuple[str, ScriptOnly | str] | None:
        try:
            res = await fetcher.get(url, accept="text/html,application/xhtml+xml")
        except CrawlError as e:
            return key, str(e)
        found = script_only(res.content, url, selector)
        return (key, found) if found else None

    jobs = []
    async with Fetcher(settings.http) as fetcher:
        for o in settings.outlets:
            if not o.enabled or o.render:
                continue
            pages = [(ls.url, ls.link_selector) for ls in o.listings if not renders_listing(o, ls)]
            if not pages and o.homepage and not o.feeds:
                pages = [(o.homepage, None)]
            jobs += [probe(fetcher, o.key, url, sel) for url, sel in pages]
        results = await asyncio.gather(*jobs)
    return [r for r in results if r is not None]
