"""Article extraction: decode the bytes honestly, then trafilatura for the main text.

The page is parsed once with lxml. Our few metadata fields (canonical URL, language, publication
time, title, body links) are read from that tree, and trafilatura gets the same tree for the text
without its metadata pass, which would double the cost.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

import lxml.html
import trafilatura
from charset_normalizer import from_bytes

from crawler.errors import ExtractionError
from crawler.urls import canonicalize

MIN_TEXT_CHARS = 200  # below this there is no article body worth storing
JS_PAGE_BYTES = 20_000  # a page this large with no text is likely rendered by JavaScript
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)
_DATE_META = ("article:published_time", "og:published_time", "datePublished", "pubdate",
              "publishdate", "date", "dc.date", "dcterms.created", "sailthru.date")


@dataclass(frozen=True)
class Extracted:
    title: str
    text: str
    published_at: datetime | None
    language: str
    canonical_url: str
    links: tuple[str, ...]


def decode_page(content: bytes, encoding: str | None = None) -> str:
    """Bytes to text: the declared HTTP charset, else the page's meta charset, else detection."""
    for candidate in (encoding, _meta_charset(content)):
        if candidate and _known(candidate):
            return content.decode(candidate, errors="replace")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        best = from_bytes(content).best()
        return str(best) if best is not None else content.decode("cp1252", errors="replace")


def _meta_charset(content: bytes) -> str | None:
    m = _META_CHARSET.search(content[:4096])
    return m.group(1).decode("ascii", "ignore") if m else None


def _known(name: str) -> bool:
    try:
        codecs.lookup(name)
        return True
    except LookupError:
        return False


def extract_article(content: bytes, url: str, *, encoding: str | None = None) -> Extracted:
    """Main text, title, time, language and canonical URL of an article page."""
    html = decode_page(content, encoding)
    try:
        tree = lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError) as e:
        raise ExtractionError(url, f"not parseable as HTML: {e}") from None
    meta = _metadata(tree, url)
    doc = trafilatura.bare_extraction(tree, url=url, with_metadata=False, include_comments=False,
                                      include_tables=False)
    text = (getattr(doc, "text", None) or "").strip() if doc is not None else ""
    if len(text) < MIN_TEXT_CHARS:
        if len(content) > JS_PAGE_BYTES:
            raise ExtractionError(url, f"almost no article text in a {len(content)} byte page: "
                                       "the page probably needs JavaScript to show its content")
        raise ExtractionError(url, f"no article text found ({len(text)} characters)")
    title = meta["title"] or (getattr(doc, "title", None) or "")
    return Extracted(title=title.strip(), text=text, published_at=meta["published"],
                     language=meta["language"], canonical_url=meta["canonical"], links=meta["links"])


def _metadata(tree: lxml.html.HtmlElement, url: str) -> dict:  # type: ignore[type-arg]
    metas = _meta_contents(tree)
    canonical = _first(tree.iter("link"), "rel", "canonical", "href") or metas.get(("property", "og:url"), "")
    lang = (tree.get("lang") or "").strip() if tree.tag == "html" else ""
    lang = lang or metas.get(("http-equiv", "content-language"), "")
    title = metas.get(("property", "og:title")) or _first_text(tree, "//article//h1//text()", "//h1//text()",
                                                                "//title/text()")
    published = None
    for name in _DATE_META:  # the first name present decides, as a page's own order of preference
        value = metas.get(("date", name), "")
        published = published or _parse_time(value)
    published = published or _parse_time(_first(tree.iter("time"), "datetime", None, "datetime"))
    body = tree.xpath("//article") or tree.xpath("//main") or [tree]
    links = tuple(dict.fromkeys(canonicalize(h, url) for h in body[0].xpath(".//p//a/@href")
                                if h.startswith(("http", "/"))))
    return {"canonical": canonicalize(canonical or url, url), "language": lang[:2].lower(),
            "title": title, "published": published, "links": links}


def _meta_contents(tree: lxml.html.HtmlElement) -> dict[tuple[str, str], str]:
    """Every <meta>'s content by (attribute, value), the first in document order winning: one pass
    over the page's meta elements instead of an XPath scan of the whole tree per name asked for.
    Date names answer to property, name or itemprop alike, under ("date", value)."""
    found: dict[tuple[str, str], str] = {}
    for meta in tree.iter("meta"):
        content = meta.get("content")
        if content is None:
            continue
        content = content.strip()
        for attr in ("property", "http-equiv"):
            value = meta.get(attr)
            if value is not None:
                found.setdefault((attr, value), content)
        for attr in ("property", "name", "itemprop"):
            value = meta.get(attr)
            if value is not None:
                found.setdefault(("date", value), content)
    return found


def _first(elements: Iterator[lxml.html.HtmlElement], attr: str, value: str | None, wanted: str) -> str:
    """`wanted` of the first element whose `attr` is `value` (or merely present, for None)."""
    for el in elements:
        have, got = el.get(attr), el.get(wanted)
        if have is not None and (value is None or have == value) and got is not None:
            return got.strip()
    return ""


def _first_text(tree: lxml.html.HtmlElement, *xpaths: str) -> str:
    for xpath in xpaths:
        found = tree.xpath(xpath)
        if found and str(found[0]).strip():
            return str(found[0]).strip()
    return ""


def _parse_time(value: str) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
