"""Plain data handed from the sources (feed poller, spiders, demo) to ``spreadwatch.ingest``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class FeedEntry:
    """One item of a feed, as feedparser gave it, before the page is fetched."""

    url: str
    title: str = ""
    summary: str = ""
    published_at: datetime | None = None  # aware UTC
    guid: str = ""
    language: str = ""


@dataclass(frozen=True)
class ArticleDraft:
    """An article ready to ingest: extracted text plus where and how it was found."""

    outlet_key: str
    url: str
    canonical_url: str
    title: str
    text: str
    language: str = ""
    published_at: datetime | None = None  # aware UTC
    via: str = "feed"  # feed | spider | demo
    extraction_note: str | None = None  # set when extraction failed and a fallback was used
    links: tuple[str, ...] = field(default_factory=tuple)  # outbound links in the body, canonicalised
