"""From a feed entry or a URL to an ArticleDraft: fetch, extract, and fall back rather than lose."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from crawler.draft import ArticleDraft, FeedEntry
from crawler.errors import CrawlError, ExtractionError
from crawler.extract import Extracted, extract_article
from crawler.fetch import Fetcher
from crawler.urls import canonicalize

DISAGREEMENT = timedelta(days=1)  # listing and page dates further apart than this are noted


async def fetch_page_draft(fetcher: Fetcher, outlet_key: str, url: str, *, via: str = "spider",
                           site_names: Iterable[str] = ()) -> ArticleDraft:
    """Fetch and extract one page; raises CrawlError when that is not possible."""
    res = await fetcher.get(url, accept="text/html,application/xhtml+xml")
    ex = extract_article(res.content, res.final_url, encoding=res.encoding, site_names=site_names)
    return ArticleDraft(outlet_key=outlet_key, url=url, canonical_url=ex.canonical_url, title=ex.title,
                        text=ex.text, language=ex.language, published_at=ex.published_at, via=via,
                        links=ex.links)


async def fetch_article(fetcher: Fetcher, outlet_key: str, entry: FeedEntry, *, via: str = "feed",
                        site_names: Iterable[str] = ()) -> ArticleDraft:
    """The entry's page, extracted; if that fails, the feed's own title and summary, with the reason
    (and what the page did say: its canonical address, time and title)."""
    try:
        draft = await fetch_page_draft(fetcher, outlet_key, entry.url, via=via, site_names=site_names)
    except CrawlError as e:
        return _from_feed(outlet_key, entry, via, e)
    published, note = reconcile_times(entry.published_at, draft.published_at)
    return ArticleDraft(outlet_key=outlet_key, url=entry.url, canonical_url=draft.canonical_url,
                        title=draft.title or entry.title, text=draft.text,
                        language=draft.language or entry.language, published_at=published, via=via,
                        links=draft.links, extraction_note=note)


def _from_feed(outlet_key: str, entry: FeedEntry, via: str, error: CrawlError) -> ArticleDraft:
    page: Extracted | None = error.partial if isinstance(error, ExtractionError) else None
    published, _ = reconcile_times(entry.published_at, page.published_at if page else None)
    return ArticleDraft(outlet_key=outlet_key, url=entry.url,
                        canonical_url=page.canonical_url if page else canonicalize(entry.url),
                        title=entry.title or (page.title if page else ""), text=entry.summary,
                        language=entry.language or (page.language if page else ""), published_at=published,
                        via=via, extraction_note=f"page not used ({error.message}); feed summary stored instead")


def reconcile_times(listed: datetime | None, page: datetime | None) -> tuple[datetime | None, str | None]:
    """The publication time from a feed's or sitemap's date and the page's, and a note when they
    disagree. The listing's comes first: it is the outlet's own statement at the moment of
    publishing, where a page may show a later edit. But a listing that gives only the day
    (midnight exactly) takes the page's time of day when the page's falls on that day."""
    if listed is None or page is None:
        return listed or page, None
    if listed.hour == listed.minute == listed.second == 0 and page.date() == listed.date():
        return page, None
    if abs(listed - page) > DISAGREEMENT:
        return listed, (f"the listing dates this {listed.isoformat()}, the page {page.isoformat()}: "
                        "the listing's date is kept")
    return listed, None
