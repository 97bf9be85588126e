"""One generic spider, driven by the outlets' config: news sitemaps, listing pages, JSON endpoints.

Adding an outlet without a feed is a few lines of YAML (`sitemaps:`, `listings:`, `json_endpoints:`),
not a new class. Article pages become ArticleDrafts with the same extraction as feed entries, and the
item pipeline hands them to ingest(): one path for every article.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import scrapy
from scrapy.http import Response
from scrapy.exceptions import IgnoreRequest
from scrapy.spidermiddlewares.httperror import HttpError

from crawler.draft import ArticleDraft
from crawler.errors import ExtractionError
from crawler.extract import extract_article
from spreadwatch.settings import OutletConfig


class OutletSpider(scrapy.Spider):
    """Crawls the configured sitemaps, listings and JSON endpoints of the given outlets."""

    name = "outlets"
    custom_settings: dict[str, Any] = {}

    def __init__(self, outlets: list[dict[str, Any]], known: set[str], health: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self.outlets = [OutletConfig.model_validate(o) for o in outlets]
        self.known = known  # canonical and fetched URLs already stored: never fetched again
        self.health = health  # records per-outlet success and errors

    async def start(self):  # type: ignore[no-untyped-def,override]
        """Scrapy 2.13+ entry point."""
        for request in self.start_requests():
            yield request

    def start_requests(self) -> Iterator[scrapy.Request]:
        for o in self.outlets:
            meta = {"outlet": o.key}
            for sm in o.sitemaps:
                yield scrapy.Request(sm.url, self.parse_sitemap, errback=self.failed,
                                     meta={**meta, "max_age": sm.max_age_hours, "pattern": sm.url_pattern})
            for ls in o.listings:
                yield scrapy.Request(ls.url, self.parse_listing, errback=self.failed,
                                     meta={**meta, "listing": ls.model_dump(), "page": 1})
            for js in o.json_endpoints:
                yield scrapy.Request(js.url, self.parse_json, errback=self.failed, meta={**meta, "json": js.model_dump()})

    # ---------------------------------------------------------------- discovery
    def parse_sitemap(self, response: Response) -> Iterator[scrapy.Request]:
        self.health.ok(response.meta["outlet"])
        kind, entries = parse_sitemap(response.body)
        if kind == "sitemapindex":
            for loc, _ in entries:
                yield response.follow(loc, self.parse_sitemap, errback=self.failed, meta=response.meta)
            return
        max_age, pattern = response.meta.get("max_age") or 0, response.meta.get("pattern")
        cutoff = datetime.now(timezone.utc) - timedelta(hours=max_age) if max_age else None
        for loc, when in entries:
            if cutoff and when and when < cutoff:
                continue
            yield from self._article(response, loc, pattern)

    def parse_listing(self, response: Response) -> Iterator[scrapy.Request]:
        self.health.ok(response.meta["outlet"])
        listing = response.meta["listing"]
        for href in response.css(listing["link_selector"]).getall():
            yield from self._article(response, response.urljoin(href), listing.get("url_pattern"))
        nxt = response.css(listing["next_selector"]).get() if listing.get("next_selector") else None
        if nxt and response.meta["page"] < listing["max_pages"]:
            yield response.follow(nxt, self.parse_listing, errback=self.failed,
                                  meta={**response.meta, "page": response.meta["page"] + 1})

    def parse_json(self, response: Response) -> Iterator[scrapy.Request]:
        self.health.ok(response.meta["outlet"])
        spec = response.meta["json"]
        data: Any = json.loads(response.text)
        for part in spec["items_path"].split("."):
            data = data.get(part, []) if isinstance(data, dict) else []
        for item in data if isinstance(data, list) else []:
            if isinstance(item, dict) and item.get(spec["url_field"]):
                yield from self._article(response, response.urljoin(item[spec["url_field"]]), None)

    def _article(self, response: Response, url: str, pattern: str | None) -> Iterator[scrapy.Request]:
        from crawler.urls import canonicalize

        if pattern and not re.search(pattern, url):
            return
        if url in self.known or canonicalize(url) in self.known:
            self.crawler.stats.inc_value("spreadwatch/skipped_known")
            return
        yield scrapy.Request(url, self.parse_article, errback=self.failed, meta={"outlet": response.meta["outlet"]})

    # ---------------------------------------------------------------- articles
    def parse_article(self, response: Response) -> Iterator[dict[str, Any]]:
        outlet = response.meta["outlet"]
        declared = _declared_charset(response)
        try:
            ex = extract_article(response.body, response.url, encoding=declared)
        except ExtractionError as e:
            self.health.error(outlet, str(e))
            return
        self.health.ok(outlet)
        yield {"draft": ArticleDraft(outlet_key=outlet, url=response.url, canonical_url=ex.canonical_url,
                                     title=ex.title, text=ex.text, language=ex.language,
                                     published_at=ex.published_at, via="spider", links=ex.links)}

    def failed(self, failure: Any) -> None:
        request = failure.request
        outlet = request.meta.get("outlet", "?")
        if failure.check(IgnoreRequest) and "robots" in str(failure.value).lower():
            self.crawler.stats.inc_value("spreadwatch/robots_forbidden")  # our politeness, not their failure
            return
        if failure.check(HttpError):
            status = failure.value.response.status
            self.health.error(outlet, f"{request.url}: HTTP {status}" + (" (refused: blocked or forbidden)" if status in (401, 403) else ""))
        else:
            self.health.error(outlet, f"{request.url}: {failure.value.__class__.__name__}: {failure.value}")


def _declared_charset(response: Response) -> str | None:
    ctype = response.headers.get(b"Content-Type", b"").decode("latin-1")
    m = re.search(r"charset=([\w.:-]+)", ctype)
    return m.group(1) if m else None


def parse_sitemap(body: bytes) -> tuple[str, list[tuple[str, datetime | None]]]:
    """('urlset'|'sitemapindex', [(loc, news publication date or lastmod)]); no entities, no network."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True, huge_tree=False)
    root = etree.fromstring(body, parser=parser)
    if root is None:
        return "urlset", []
    kind = etree.QName(root).localname
    out = []
    for node in root:
        if not isinstance(node.tag, str):
            continue
        fields = {etree.QName(el).localname: (el.text or "").strip() for el in node.iter() if isinstance(el.tag, str)}
        if fields.get("loc"):
            out.append((fields["loc"], _time(fields.get("publication_date") or fields.get("lastmod"))))
    return kind, out


def _time(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        dt = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
