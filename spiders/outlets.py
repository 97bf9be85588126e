"""One generic spider, driven by the outlets' config: news sitemaps, listing pages, JSON endpoints.

Adding an outlet without a feed is a few lines of YAML (`sitemaps:`, `listings:`, `json_endpoints:`),
not a new class. Article pages become ArticleDrafts with the same extraction as feed entries, and the
item pipeline hands them to ingest(): one path for every article.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator, Iterator

import scrapy
from scrapy import signals
from scrapy.http import Response

from crawler.draft import ArticleDraft
from crawler.errors import CrawlError
from crawler.articles import reconcile_times
from crawler.extract import JS_PAGE_BYTES, extract_article
from crawler.urls import canonicalize
from spiders.failures import describe
from spiders.health import Health
from spiders.rendering import render_meta, renders_listing, renders_page, wait_selector
from spiders.sitemaps import SitemapError, parse_time, read_sitemap
from spreadwatch.settings import OutletConfig, Settings
from storage import Database

_XPATH_START = ("/", "(", "./")  # a selector starting like this is XPath, anything else CSS


@dataclass
class CrawlContext:
    """What the spider and the pipeline share during one crawl."""

    settings: Settings
    db: Database
    known: set[str]  # canonical and discovered URLs of stored articles: never requested again
    health: Health
    render_budget: int = 50  # pages the browser may render in this crawl
    browser_problem: str | None = None  # why pages cannot be rendered here (no Chromium)


class OutletSpider(scrapy.Spider):
    """Crawls the configured sitemaps, listings and JSON endpoints of the given outlets."""

    name = "outlets"

    def __init__(self, outlets: list[OutletConfig], context: CrawlContext, **kw: Any) -> None:
        super().__init__(**kw)
        self.outlets = outlets
        self.by_key = {o.key: o for o in outlets}
        self.context = context
        self._skipped: set[str] = set()  # stored articles' links seen in this crawl
        self._rendered = 0  # rendered requests made so far, against the crawl's budget
        self._told: set[tuple[str, str]] = set()  # (outlet, problem) already recorded once

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> OutletSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        # an exception in a callback or in ingest() is Scrapy's to log; we also put it on the outlet
        crawler.signals.connect(spider.callback_failed, signal=signals.spider_error)
        crawler.signals.connect(spider.item_failed, signal=signals.item_error)
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for request in self.discovery_requests():
            yield request

    def discovery_requests(self) -> Iterator[scrapy.Request]:
        """The first request of every configured sitemap, listing and JSON endpoint."""
        for o in self.outlets:
            for sm in o.sitemaps:
                yield self._discover(sm.url, self.parse_sitemap, o.key, sitemap=sm.model_dump())
            for ls in o.listings:
                rendered = renders_listing(o, ls)
                render = self._rendering(o.key, ls.url, wait_selector(ls.model_dump())) if rendered else {}
                if render is not None:
                    yield self._discover(ls.url, self.parse_listing, o.key, listing=ls.model_dump(), page=1, **render)
            for js in o.json_endpoints:
                yield self._discover(js.url, self.parse_json, o.key, json=js.model_dump())

    def _discover(self, url: str, callback: Any, outlet: str, **meta: Any) -> scrapy.Request:
        return scrapy.Request(url, callback, errback=self.failed, meta={"outlet": outlet, "role": "discovery", **meta})

    # ---------------------------------------------------------------- discovery
    def parse_sitemap(self, response: Response) -> Iterator[scrapy.Request]:
        """Sitemap index: follow the recent child sitemaps; urlset: request the recent articles."""
        outlet, spec = response.meta["outlet"], response.meta["sitemap"]
        try:
            sitemap = read_sitemap(response.url, response.body, max_bytes=self.context.settings.http.max_bytes)
        except SitemapError as e:
            self.context.health.error(outlet, str(e))
            return
        self.context.health.ok(outlet)
        recent = sitemap.since(_cutoff(spec["max_age_hours"]))
        if sitemap.kind == "sitemapindex":
            for entry in recent:
                yield response.follow(entry.loc, self.parse_sitemap, errback=self.failed, meta=_ours(response.meta))
            return
        for entry in recent:
            published = entry.when.isoformat() if entry.when else None
            yield from self._article(response, entry.loc, spec["url_pattern"], published=published)

    def parse_listing(self, response: Response) -> Iterator[scrapy.Request]:
        """A section page: article links by selector, then the next page while under max_pages."""
        outlet, spec = response.meta["outlet"], response.meta["listing"]
        hrefs = [response.urljoin(h) for h in select_links(response, spec["link_selector"])]
        wanted = [u for u in hrefs if not spec["url_pattern"] or re.search(spec["url_pattern"], u)]
        if not wanted:
            self.context.health.error(outlet, _no_links(response, spec, len(hrefs)))
            return
        self.context.health.ok(outlet)
        for url in dict.fromkeys(wanted):
            yield from self._article(response, url, None)
        following = select_links(response, spec["next_selector"])[:1] if spec["next_selector"] else []
        if following and response.meta["page"] < spec["max_pages"]:
            url = response.urljoin(following[0])
            rendered = renders_listing(self.by_key[outlet], {**spec, "url": url}) or response.meta.get("rendered")
            render = self._rendering(outlet, url, wait_selector(spec)) if rendered else {}
            if render is not None:
                yield response.follow(url, self.parse_listing, errback=self.failed,
                                      meta={**_ours(response.meta), "page": response.meta["page"] + 1, **render})

    def parse_json(self, response: Response) -> Iterator[scrapy.Request]:
        """A JSON homepage: the list at `items_path`, each item's `url_field` an article address."""
        outlet, spec = response.meta["outlet"], response.meta["json"]
        try:
            items = json_items(json.loads(response.body), spec["items_path"])
        except (ValueError, LookupError, TypeError) as e:
            self.context.health.error(outlet, f"{response.url}: not the JSON we expect ({e}): check items_path")
            return
        self.context.health.ok(outlet)
        for item in items:
            link = item.get(spec["url_field"]) if isinstance(item, dict) else None
            if isinstance(link, str) and link:
                yield from self._article(response, response.urljoin(link), None)

    def _article(self, response: Response, url: str, pattern: str | None, *,
                 published: str | None = None) -> Iterator[scrapy.Request]:
        """A request for an article page, unless the pattern rejects it or it is already stored."""
        outlet = response.meta["outlet"]
        if pattern and not re.search(pattern, url):
            return
        if url in self.context.known or canonicalize(url) in self.context.known:
            if url not in self._skipped:  # a link can be in two sitemaps: count the article once
                self._skipped.add(url)
                self.context.health.known(outlet)  # checked here, so no request is ever made for it
            return
        render = self._rendering(outlet, url, None) if renders_page(self.by_key[outlet], url) else {}
        if render is None:
            return
        yield scrapy.Request(url, self.parse_article, errback=self.failed,
                             meta={"outlet": outlet, "role": "article", "published": published, **render})

    def _rendering(self, outlet: str, url: str, wait_for: str | None) -> dict[str, Any] | None:
        """Meta that sends this request through the browser, or None when it cannot be rendered in this
        crawl (no Chromium, or the page budget is spent): recorded on the outlet, once per reason."""
        why, problem = "browser", self.context.browser_problem
        if problem is None and self._rendered >= self.context.render_budget:
            why, problem = "budget", (f"the crawl's budget of {self.context.render_budget} rendered pages "
                                      f"(--render-pages) is spent: {url} and the pages after it wait for "
                                      "the next crawl")
        if problem is not None:
            if (outlet, why) not in self._told:
                self._told.add((outlet, why))
                self.context.health.error(outlet, problem)
            return None
        self._rendered += 1
        return render_meta(self.context.settings.http.total_timeout, wait_for)

    # ---------------------------------------------------------------- articles
    def parse_article(self, response: Response) -> Iterator[dict[str, ArticleDraft]]:
        """Extract the page exactly as the feed poller does and hand it to the pipeline."""
        outlet = response.meta["outlet"]
        try:
            names = self.context.settings.outlet(outlet).site_names
        except KeyError:
            names = []
        try:
            ex = extract_article(response.body, response.url, encoding=_declared_charset(response), site_names=names)
        except CrawlError as e:
            hint = ("; set `render: true` (or a `render_pattern`) on the outlet to read it through a browser"
                    if "JavaScript" in str(e) and not response.meta.get("rendered") else "")
            self.context.health.error(outlet, f"{e}{hint}")  # "needs JavaScript" lands here too
            return
        self.context.health.ok(outlet)
        # the address as discovered, not after redirects: the next crawl finds that one again
        found = response.meta.get("redirect_urls", [response.url])[0]
        # the sitemap's date is the outlet's own claim of publication, as a feed's is (the same rule)
        published, note = reconcile_times(parse_time(response.meta.get("published")), ex.published_at)
        yield {"draft": ArticleDraft(outlet_key=outlet, url=found, canonical_url=ex.canonical_url, title=ex.title,
                                     text=ex.text, language=ex.language, published_at=published, via="spider",
                                     links=ex.links, extraction_note=note)}

    # ---------------------------------------------------------------- failures
    def failed(self, failure: Any) -> None:
        """A request that got no usable response: record why on its outlet."""
        request = failure.request
        outlet = request.meta.get("outlet", "?")
        error = describe(failure, self.context.settings.http.max_bytes)
        if error is not None:
            self.context.health.error(outlet, str(error))
        elif request.meta.get("role") == "discovery":
            # an article kept out by robots.txt is normal; a whole sitemap or listing means a useless config
            self.context.health.error(outlet, f"{request.url}: robots.txt forbids this page to our User-Agent "
                                              "(or robots.txt itself failed with a 5xx, which forbids all), "
                                              "so this outlet cannot be crawled this way")
        else:
            self.crawler.stats.inc_value("spreadwatch/robots_forbidden")

    def callback_failed(self, failure: Any, response: Response, spider: Any) -> None:
        outlet = response.meta.get("outlet", "?")
        self.context.health.error(outlet, f"{response.url}: could not read the page "
                                          f"({failure.value.__class__.__name__}: {failure.value})")

    def item_failed(self, item: Any, response: Response, spider: Any, failure: Any) -> None:
        draft = item["draft"]
        self.context.health.error(draft.outlet_key, f"{draft.url}: could not store the article "
                                                    f"({failure.value.__class__.__name__}: {failure.value})")


def select_links(response: Response, selector: str) -> list[str]:
    """Addresses picked by a CSS or XPath selector; a selected element gives its href."""
    found = response.xpath(selector) if selector.lstrip().startswith(_XPATH_START) else response.css(selector)
    picked = (s.root if isinstance(s.root, str) else s.attrib.get("href", "") for s in found)
    return [p.strip() for p in picked if p and p.strip() and not p.strip().startswith(("#", "javascript:"))]


def json_items(data: Any, path: str) -> list[Any]:
    """The list found by following a dotted path (`data.items`, `0.articles`) into parsed JSON."""
    for part in [p for p in path.split(".") if p]:
        data = data[int(part)] if isinstance(data, list) else data[part]
    if not isinstance(data, list):
        raise LookupError(f"{path!r} is a {type(data).__name__}, not a list")
    return data


def _ours(meta: dict[str, Any]) -> dict[str, Any]:
    # Scrapy's own keys (depth, redirect_urls, download_slot...) belong to one response, not to the next request
    return {k: meta[k] for k in ("outlet", "role", "sitemap", "listing", "json", "page") if k in meta}


def _cutoff(max_age_hours: float) -> datetime | None:
    return datetime.now(timezone.utc) - timedelta(hours=max_age_hours) if max_age_hours else None


def _no_links(response: Response, spec: dict[str, Any], selected: int) -> str:
    why = (f"the selector {spec['link_selector']!r} found no links" if not selected else
           f"none of the {selected} links match url_pattern {spec['url_pattern']!r}")
    if not selected and len(response.body) > JS_PAGE_BYTES and b"<script" in response.body:
        why += "; the page may need JavaScript to show its links"
    return f"{response.url}: {why}: the site changed or the listing config is wrong"


def _declared_charset(response: Response) -> str | None:
    ctype = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
    m = re.search(r"charset=([\w.:-]+)", ctype)
    return m.group(1) if m else None
