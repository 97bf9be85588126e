"""From a feed entry or a URL to an ArticleDraft: fetch, extract, and fall back rather than lose."""

from __future__ import annotations

from crawler.draft import ArticleDraft, FeedEntry
from crawler.errors import CrawlError
from crawler.extract import extract_article
from crawler.fetch import Fetcher
from crawler.urls import canonicalize


async def fetch_page_draft(fetcher: Fetcher, outlet_key: str, url: str, *, via: str = "spider") -> ArticleDraft:
    """Fetch and extract one page; raises CrawlError when that is not possible."""
    res = await fetcher.get(url, accept="text/html,application/xhtml+xml")
    ex = extract_article(res.content, res.final_url, encoding=res.encoding)
    return ArticleDraft(outlet_key=outlet_key, url=url, canonical_url=ex.canonical_url, title=ex.title,
                        text=ex.text, language=ex.language, published_at=ex.published_at, via=via,
                        links=ex.links)


async def fetch_article(fetcher: Fetcher, outlet_key: str, entry: FeedEntry, *, via: str = "feed") -> ArticleDraft:
    """The entry's page, extracted; if that fails, the feed's own title and summary, with the reason."""
    try:
        draft = await fetch_page_draft(fetcher, outlet_key, entry.url, via=via)
    except CrawlError as e:
        return ArticleDraft(outlet_key=outlet_key, url=entry.url, canonical_url=canonicalize(entry.url),
                            title=entry.title, text=entry.summary, language=entry.language,
                            published_at=entry.published_at, via=via,
                            extraction_note=f"page not used ({e.message}); feed summary stored instead")
    # the feed's time is the outlet's own claim of publication; pages often lack a precise one
    published = entry.published_at or draft.published_at
    title = draft.title or entry.title
    return ArticleDraft(outlet_key=outlet_key, url=entry.url, canonical_url=draft.canonical_url, title=title,
                        text=draft.text, language=draft.language or entry.language, published_at=published,
                        via=via, links=draft.links)
