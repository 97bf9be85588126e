"""Reading what the spiders discover from: sitemaps (plain, gzipped, not a sitemap at all), listing
selectors (CSS, XPath, elements or attributes) and JSON paths, on the recorded files."""

from __future__ import annotations

import gzip
from datetime import datetime, timezone

import pytest
from scrapy.http import HtmlResponse

from spiders.outlets import json_items, select_links
from spiders.sitemaps import SitemapError, read_sitemap
from tests.spiders.conftest import DATA

CUTOFF = datetime(2025, 2, 18, tzinfo=timezone.utc)


def test_sitemap_index_entries_are_filtered_by_lastmod() -> None:
    index = read_sitemap("x", (DATA / "pangea" / "sitemap.xml").read_bytes(), max_bytes=100_000)
    assert index.kind == "sitemapindex" and len(index.entries) == 3
    assert [e.loc.rsplit("/", 1)[1] for e in index.since(CUTOFF)] == ["sitemap_news.xml", "sitemap_2025_02.xml.gz"]


def test_news_sitemap_dates_come_from_publication_date_with_their_offset() -> None:
    news = read_sitemap("x", (DATA / "tanjug" / "news.xml").read_bytes(), max_bytes=100_000)
    assert news.kind == "urlset"
    assert news.entries[0].when == datetime(2025, 2, 19, 13, 25, tzinfo=timezone.utc)  # 14:25+01:00
    assert [e.loc.split("/")[5] for e in news.since(CUTOFF)] == ["1163452"]


def test_gzipped_sitemap_is_read_and_a_bomb_is_refused() -> None:
    raw = (DATA / "pangea" / "sitemap_2025_02.xml").read_bytes()
    assert len(read_sitemap("x", gzip.compress(raw), max_bytes=100_000).entries) == 3
    with pytest.raises(SitemapError, match="decompressed"):
        read_sitemap("x", gzip.compress(b"<urlset>" + b" " * 2_000_000 + b"</urlset>"), max_bytes=100_000)
    with pytest.raises(SitemapError, match="broken gzip"):
        read_sitemap("x", gzip.compress(raw)[:40], max_bytes=100_000)


def test_an_html_page_where_a_sitemap_should_be_is_an_error() -> None:
    page = (DATA / "custom" / "home.html").read_bytes()  # what /rss or a moved sitemap often returns
    with pytest.raises(SitemapError, match="not a sitemap"):
        read_sitemap("https://noa.al/sitemap.xml", page, max_bytes=100_000)
    with pytest.raises(SitemapError, match="no XML"):
        read_sitemap("https://noa.al/sitemap.xml", b"", max_bytes=100_000)


def listing(folder: str, name: str) -> HtmlResponse:
    return HtmlResponse("https://example.org/", body=(DATA / folder / name).read_bytes(), encoding="utf-8")


def test_selectors_pick_article_links_by_css_element_css_attribute_or_xpath() -> None:
    wp = listing("wordpress", "home.html")
    as_elements = select_links(wp, "h2.entry-title a")
    assert as_elements == select_links(wp, "h2.entry-title a::attr(href)") == \
        select_links(wp, "//h2[contains(@class, 'entry-title')]/a/@href")
    assert len(as_elements) == 4 and "https://www.gazetaexpress.com/?p=48215" in as_elements
    assert select_links(wp, "a.next.page-numbers::attr(href)") == ["https://www.gazetaexpress.com/page/2/"]
    noa = select_links(listing("custom", "home.html"), '//div[@class="news-list"]//h3/a/@href')
    assert len(noa) == 5 and noa[-1].endswith("/promo/oferta-shkurt")
    assert select_links(listing("custom", "home.html"), "a.gdpr-ok") == []  # href="#" is no article


def test_json_items_follow_a_dotted_path() -> None:
    data = {"data": {"latest": [{"path": "/a"}, {"path": None}]}, "list": [[{"x": 1}]]}
    assert json_items(data, "data.latest") == [{"path": "/a"}, {"path": None}]
    assert json_items(data, "list.0") == [{"x": 1}]
    assert json_items([1, 2], "") == [1, 2]  # WordPress's REST API answers a top-level list
    with pytest.raises(KeyError):
        json_items(data, "data.items")
    with pytest.raises(LookupError, match="not a list"):
        json_items(data, "data")
