"""Feed polling: conditional GET, then feedparser on the raw bytes (a 304 costs no parsing)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import feedparser

from crawler.charsets import decode_declared, has_bom, xml_declared
from crawler.draft import FeedEntry
from crawler.errors import FeedError
from crawler.fetch import Fetcher

_XML_DECLARATION_ENCODING = re.compile(r"""(^\s*<\?xml[^>]*?encoding\s*=\s*["'])[^"']*(["'])""")
_INTERNAL_SUBSET = re.compile(rb"(<!DOCTYPE[^\[>]*)\[(.*?)\]\s*>", re.S | re.I)
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
    held_back: int = 0  # new entries left for a later poll (more than max_entries_per_feed)


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
    content, headers, warnings = _as_declared(content, headers or {})
    content, entity_warning = _without_entity_declarations(content)
    warnings += entity_warning
    parsed = feedparser.parse(content, response_headers=headers)
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


def _as_declared(content: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str], list[str]]:
    """The feed re-encoded as clean UTF-8 when its declared encoding holds a few invalid bytes.

    feedparser meets an invalid byte by trying other encodings for the whole document
    (windows-1252, then iso-8859-2, which accepts anything), so one stray byte in a UTF-8 feed
    garbles every title. Decoded as declared, only that byte is lost. A declaration the bytes
    plainly do not fit is left to feedparser's own detection, and its warning."""
    if has_bom(content):
        return content, headers, []
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    declared = xml_declared(content, content_type)
    decoded = decode_declared(content, declared)
    if decoded is None or not decoded.replaced:
        return content, headers, []
    text = _XML_DECLARATION_ENCODING.sub(r"\1utf-8\2", decoded.text, count=1)
    fixed_headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    fixed_headers["content-type"] = _with_utf8(content_type)
    return text.encode("utf-8"), fixed_headers, [
        f"malformed feed: {decoded.replaced} byte sequence(s) invalid in its declared {declared} "
        f"(the first at byte {decoded.first_bad}) replaced by U+FFFD; the rest read as {declared}"]


def _without_entity_declarations(content: bytes) -> tuple[bytes, list[str]]:
    """The DOCTYPE's internal subset dropped when it declares entities. No feed needs its own
    entities, and nested ones are the billion-laughs attack: expat stops it only after
    amplifying tens of megabytes. Entities the feed then uses stay unexpanded."""
    m = _INTERNAL_SUBSET.search(content, 0, 65536)
    if m is None or b"<!ENTITY" not in m.group(2):
        return content, []
    return content[:m.start(2) - 1] + content[m.end(2) + 1:], [
        "malformed feed: its DOCTYPE declares entities (as an entity-expansion attack does); they were ignored"]


def _with_utf8(content_type: str) -> str:
    media = content_type.split(";")[0].strip() or "application/xml"
    return f"{media}; charset=utf-8"


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
