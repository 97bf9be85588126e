"""Sitemaps read as plain data: a sitemap index or a (Google News) urlset, each entry with its date.

Scrapy's own sitemap parser drops the nested `<news:publication_date>`, the only reliable date a
news sitemap carries, so the few lines of reading live here; lxml does the parsing.
"""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone

from lxml import etree

from crawler.errors import CrawlError

SITEMAP_KINDS = ("sitemapindex", "urlset")


class SitemapError(CrawlError):
    """The response is not a sitemap we can read (an HTML page, a broken archive, too large)."""


@dataclass(frozen=True)
class SitemapEntry:
    loc: str
    when: datetime | None  # news publication date, else lastmod; aware UTC


@dataclass(frozen=True)
class Sitemap:
    kind: str  # sitemapindex | urlset
    entries: tuple[SitemapEntry, ...]

    def since(self, cutoff: datetime | None) -> list[SitemapEntry]:
        """Entries dated at or after the cutoff; undated entries are kept (nothing says they are old)."""
        return [e for e in self.entries if cutoff is None or e.when is None or e.when >= cutoff]


def read_sitemap(url: str, body: bytes, *, max_bytes: int) -> Sitemap:
    """Parse a sitemap (gzipped or not); raises SitemapError when the body is something else."""
    xml = _gunzip(url, body, max_bytes) if body[:2] == b"\x1f\x8b" else body
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True, huge_tree=False)
    try:
        root = etree.fromstring(xml, parser=parser)
    except etree.XMLSyntaxError:
        root = None
    kind = etree.QName(root).localname if root is not None else ""
    if kind not in SITEMAP_KINDS:
        what = f"a <{kind}> document" if kind else "no XML at all"
        raise SitemapError(url, f"not a sitemap ({what}): check the sitemap address in the outlet's config")
    return Sitemap(kind, tuple(_entries(root)))


def _gunzip(url: str, body: bytes, max_bytes: int) -> bytes:
    # read one byte past the cap: a small archive can expand to gigabytes
    try:
        data = gzip.GzipFile(fileobj=io.BytesIO(body)).read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise SitemapError(url, f"broken gzip archive ({e})") from None
    if len(data) > max_bytes:
        raise SitemapError(url, f"over {max_bytes} bytes once decompressed, not read")
    return data


def _entries(root: etree._Element) -> list[SitemapEntry]:
    out = []
    for node in root:
        if not isinstance(node.tag, str):
            continue  # comments and processing instructions
        fields = {etree.QName(el).localname: (el.text or "").strip() for el in node.iter() if isinstance(el.tag, str)}
        if fields.get("loc"):
            out.append(SitemapEntry(fields["loc"], parse_time(fields.get("publication_date") or fields.get("lastmod"))))
    return out


def parse_time(raw: str | None) -> datetime | None:
    """A W3C datetime (2025-02-19, 2025-02-19T08:00:00+01:00, ...Z) as aware UTC; None if unreadable."""
    if not raw:
        return None
    try:
        dt = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
