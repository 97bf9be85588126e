"""Feed polling: conditional GET, then feedparser on the raw bytes (a 304 costs no parsing)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import feedparser

from crawler.draft import FeedEntry
from crawler.errors import FeedError
from crawler.fetch import Fetcher

FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"


@dataclass
class FeedPoll:
    url: str
    status: int
    not_modified: bool
    etag: str | None = None
    last_modified: str | None = None
    title: str = ""
    entries: list[FeedEntry] = field(default_factory=list)
    warning: str | None = None


async def poll_feed(fetcher: Fetcher, url: str, *, etag: str | None = None,
                    last_modified: str | None = None) -> FeedPoll:
    """Fetch a feed conditionally and parse it; raises FetchError/FeedError for a person to read."""
    res = await fetcher.get(url, etag=etag, last_modified=last_modified, accept=FEED_ACCEPT)
    if res.not_modified:
        return FeedPoll(url, res.status, True, etag=res.headers.get("etag", etag),
                        last_modified=res.headers.get("last-modified", last_modified))
    poll = parse_feed(res.content, url, headers=res.headers)
    poll.status = res.status
    poll.etag, poll.last_modified = res.headers.get("etag"), res.headers.get("last-modified")
    return poll


def parse_feed(content: bytes, url: str, *, headers: dict[str, str] | None = None) -> FeedPoll:
    """Parse feed bytes; a malformed feed yields what it can plus a warning."""
    parsed = feedparser.parse(content, response_headers=headers or {})
    warnings = []
    if parsed.bozo:
        problem = parsed.get("bozo_exception")
        warnings.append(f"malformed feed: {problem.__class__.__name__}: {problem}" if problem else "malformed feed")
    entries, linkless = [], 0
    for raw in parsed.entries:
        entry = _entry(raw)
        if entry is None:
            linkless += 1
        else:
            entries.append(entry)
    if linkless:
        warnings.append(f"{linkless} entries without a link were skipped")
    if not entries and (parsed.bozo or not parsed.get("version")):
        looks_html = content.lstrip()[:200].lower().startswith((b"<!doctype html", b"<html"))
        if looks_html:
            raise FeedError(url, "returned an HTML page, not a feed: check the feed address")
        raise FeedError(url, "not a readable feed: " + ("; ".join(warnings) or "no entries and no feed format"))
    title = parsed.feed.get("title", "") if parsed.get("feed") else ""
    return FeedPoll(url, 200, False, title=title, entries=entries, warning="; ".join(warnings) or None)


def _entry(raw: Any) -> FeedEntry | None:
    link = raw.get("link") or ""
    if not link:
        for l in raw.get("links", []):
            if l.get("href") and l.get("rel", "alternate") == "alternate":
                link = l["href"]
                break
    if not link:
        return None
    stamp = raw.get("published_parsed") or raw.get("updated_parsed")
    published = datetime.fromtimestamp(calendar.timegm(stamp), tz=timezone.utc) if stamp else None
    return FeedEntry(url=link.strip(), title=(raw.get("title") or "").strip(),
                     summary=_text(raw.get("summary") or ""), published_at=published,
                     guid=raw.get("id") or link, language=(raw.get("language") or "")[:2].lower())


def _text(html: str) -> str:
    """Summaries are often HTML; keep only the text."""
    if "<" not in html:
        return html.strip()
    import lxml.html

    try:
        return " ".join(lxml.html.fromstring(html).text_content().split())
    except Exception:  # lxml raises a zoo of errors on fragments; the raw text is still better than nothing
        return html.strip()
