"""Article extraction: decode the bytes honestly, then trafilatura for the main text.

The page is parsed once with lxml, as trafilatura parses it (comments and processing instructions
dropped: text split by ``<!-- -->`` stays whole). Our metadata (canonical URL, language,
publication time in crawler/dates.py, headline in crawler/titles.py, body links) is read from that
tree, and trafilatura gets the same tree for the text, tables included, without its metadata
pass, which would double the cost.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime

import lxml.html
import trafilatura

from crawler.charsets import decode_page
from crawler.dates import json_ld, published_at
from crawler.errors import ExtractionError
from crawler.titles import headline
from crawler.urls import canonicalize, is_usable

__all__ = ["Extracted", "JS_PAGE_BYTES", "decode_page", "extract_article"]

MIN_TEXT_CHARS = 200  # below this there is no article body worth storing
JS_PAGE_BYTES = 20_000  # a page this large with no text is likely rendered by JavaScript
_PARSER = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, collect_ids=False, default_doctype=False)
# what libxml2 and the XML trafilatura builds cannot take: an XML declaration in a str (XHTML
# pages have one), a DOCTYPE at the very start of a str (lxml then parses to an empty tree on
# some pages), control characters XML 1.0 forbids (one BEL in a footnote loses the whole text)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>")
_LEADING_DOCTYPE = re.compile(r"^\s*<!doctype[^>]*>", re.I)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class Extracted:
    title: str
    text: str
    published_at: datetime | None  # aware UTC
    language: str
    canonical_url: str
    links: tuple[str, ...]


def extract_article(content: bytes, url: str, *, encoding: str | None = None,
                    site_names: Iterable[str] = ()) -> Extracted:
    """Main text, headline, publication time, language and canonical URL of an article page.
    `site_names` (the outlet's name and aliases) help take the site's name off the title."""
    tree = parse_page(decode_page(content, encoding), url)
    meta = _metadata(tree, url, site_names)
    doc = trafilatura.bare_extraction(tree, url=url, with_metadata=False, include_comments=False,
                                      include_tables=True)
    # NFC, as trafilatura.extract returns its text: one spelling per letter for hashing and matching
    text = unicodedata.normalize("NFC", (getattr(doc, "text", None) or "").strip() if doc is not None else "")
    found = Extracted(title=meta["title"], text=text, published_at=meta["published"],
                      language=meta["language"], canonical_url=meta["canonical"], links=meta["links"])
    if len(text) < MIN_TEXT_CHARS:
        if len(content) > JS_PAGE_BYTES:
            err = ExtractionError(url, f"almost no article text in a {len(content)} byte page: "
                                       "the page probably needs JavaScript to show its content")
        else:
            err = ExtractionError(url, f"no article text found ({len(text)} characters)")
        err.partial = replace(found, text="", links=())
        raise err
    return found


def parse_page(html: str, url: str) -> lxml.html.HtmlElement:
    """The page's tree, parsed as trafilatura parses (no comments), from text libxml2 accepts."""
    html = _LEADING_DOCTYPE.sub("", _XML_DECLARATION.sub("", html, count=1), count=1)
    try:
        return lxml.html.document_fromstring(_NOT_XML.sub("", html), parser=_PARSER)
    except (lxml.etree.ParserError, ValueError) as e:
        raise ExtractionError(url, f"not parseable as HTML: {e}") from None


def _metadata(tree: lxml.html.HtmlElement, url: str, site_names: Iterable[str]) -> dict:  # type: ignore[type-arg]
    metas = _meta_contents(tree)
    objects = json_ld(tree)
    canonical = _first(tree.iter("link"), "rel", "canonical", "href") or metas.get("og:url", "")
    canonical = canonicalize(canonical, url) if canonical else ""
    lang = (tree.get("lang") or "").strip() if tree.tag == "html" else ""
    lang = lang or metas.get("content-language", "")
    stamp = published_at(tree, metas, objects, url)
    body = tree.xpath("//article") or tree.xpath("//main") or [tree]
    links = tuple(dict.fromkeys(c for c in (canonicalize(h, url) for h in body[0].xpath(".//p//a/@href")
                                            if h.strip().startswith(("http", "/"))) if is_usable(c)))
    return {"canonical": canonical if is_usable(canonical) else canonicalize(url), "language": lang[:2].lower(),
            "title": unicodedata.normalize("NFC", headline(tree, metas, objects, url, site_names)), "links": links,
            "published": stamp.when if stamp else None}


def _meta_contents(tree: lxml.html.HtmlElement) -> dict[str, str]:
    """Every non-empty <meta> content by its lower-cased property, name, itemprop or http-equiv,
    the first in document order winning: one pass over the page's meta elements instead of an
    XPath scan per name asked for. Pages write `Date`, `DC.Date` and `og:Title` too."""
    found: dict[str, str] = {}
    for meta in tree.iter("meta"):
        content = (meta.get("content") or "").strip()
        if not content:
            continue
        for attr in ("property", "name", "itemprop", "http-equiv"):
            value = meta.get(attr)
            if value:
                found.setdefault(value.strip().lower(), content)
    return found


def _first(elements: Iterator[lxml.html.HtmlElement], attr: str, value: str | None, wanted: str) -> str:
    """`wanted` of the first element whose `attr` is `value` (or merely present, for None)."""
    for el in elements:
        have, got = el.get(attr), el.get(wanted)
        if have is not None and (value is None or have.strip().lower() == value) and got and got.strip():
            return got.strip()
    return ""
