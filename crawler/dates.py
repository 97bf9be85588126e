"""Publication time of an article page, with its time of day, from where real pages put it.

Who published first decides a story's origin, so the order below prefers the publisher's own,
typed statements of *publication* and never takes a modification time for one:

1. ``<meta>`` publication names, case-insensitively (``article:published_time``,
   ``og:article:published_time``, ``article:published:time``, ``cXenseParse:publishtime``…), then
   any other meta name that says published/created/issued and not modified/updated. Values may be
   ISO 8601 in its variants, RFC 2822, ``28.04.2023 10:15`` or epoch seconds or milliseconds.
2. JSON-LD ``datePublished`` (then ``dateCreated``) of the page's article object (``NewsArticle``,
   ``Article``, ``BlogPosting``…, also inside ``@graph``; the one whose address is the page's
   first); then a ``WebPage``'s.
3. Microdata ``itemprop="datePublished"`` on any element.
4. A ``<time>`` of the article marked as the publication, or set with its headline (in its
   header, near its h1, in the byline block), none marked modified or updated, none in a teaser
   list or the comments.
5. The generic meta names (``date``, ``DC.date``, ``dcterms.date``…): "a date", which CMSs fill
   with the page's build or last edit as often as with its publication, so no earlier than it: a
   day written as text beside the headline (7) before it is taken instead.
6. Any other ``<time>`` of the article.
7. A date written as text in the h1's own block ("Written: 2023-11-07 15:03 / Updated: …").
8. The date in the page's address (``/2023/04/28/``), the publisher's own but without a time.
9. htmldate's search of the rest (original date, extensive), for pages that only show a date in
   their text.

A publication stamp later than the page's own modification stamp was written by a re-save (a
migration, a re-import): a header ``<time>`` more than a day before it is taken instead.

A value that carries only a day is completed by the first later source with a time on the same
day, so a page with ``<meta name="date" content="2024-02-19">`` and a precise JSON-LD time keeps
the time whichever comes first. Times without an offset are taken as UTC.
"""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import lxml.html
from htmldate import find_date

EARLIEST = datetime(1995, 1, 1, tzinfo=timezone.utc)  # before this no news page was published

# meta names of the publication time, most specific first (lower case)
PUBLISHED_NAMES = (
    "article:published_time", "og:article:published_time", "article:published:time", "og:published_time",
    "article:published", "og:article:published", "article.published", "datepublished", "date_published",
    "cxenseparse:publishtime", "cxenseparse:recs:publishtime", "content:publishdate", "parsely-pub-date",
    "sailthru.date", "dc.date.issued", "dcterms.issued", "dc.date.created", "dcterms.created", "dc.created",
    "citation_publication_date", "citation_date", "publishdate", "publish-date", "publish_date",
    "published_time", "published-date", "publication_date", "pubdate", "og:pubdate", "bt:pubdate",
    "rnews:datepublished", "article_date_original", "original-publish-date",
)
# meta names that say "a date" without saying which: CMSs fill them with the page's generation or
# last edit as often as with its publication, so they come after the typed statements
GENERIC_NAMES = ("dc.date", "dcterms.date", "dc:date", "date", "displaydate")
_PUBLISHED_WORD = re.compile(r"publi|pubdate|creat|issued|released?\b", re.I)
_MODIFIED_WORD = re.compile(r"modif|updat|edit|revis|expir|aktualis|ge(ä|ae)ndert|p[eë]rdit[eë]s|a[zž]urir|"
                            r"aggiorn|actualiz|mis à jour|lastmod", re.I)
_NOT_A_TIME = re.compile(r"publisher|creator|author|image|url|title|name|section", re.I)  # 'article:publisher'
_OUTSIDE_ARTICLE = re.compile(r"related|teaser|recommend|sidebar|comment|more-|most-|popular|also|weitere", re.I)
# the block under a headline that carries the byline and the date (WordPress's entry-meta, Drupal's
# article-meta, bylines, datelines)
_META_BLOCK = re.compile(r"(?:article|entry|post|story|news)[-_]?(?:meta|info|header|date)|byline|dateline|"
                         r"(?:^|[\s_-])meta(?:data)?(?:$|[\s_-])", re.I)
_ARTICLE_TYPE = re.compile(r"article|blogposting|posting|report", re.I)
_PAGE_TYPE = re.compile(r"webpage|itempage|collectionpage", re.I)

_ISO = re.compile(
    r"(?P<y>(?:19|20)\d\d)[-/.](?P<m>[01]?\d)[-/.](?P<d>[0-3]?\d)"
    r"(?:(?:T|\s+|,\s*)(?P<H>[0-2]?\d)[:.h](?P<M>[0-5]\d)(?::(?P<S>[0-5]\d)(?:[.,]\d+)?)?)?"
    r"\s*(?P<tz>Z|UTC|GMT|[+-]\d\d(?::?\d\d)?)?", re.I)
_DMY = re.compile(
    r"(?P<d>[0-3]?\d)\.\s?(?P<m>[01]?\d)\.\s?(?P<y>(?:19|20)\d\d)"
    r"(?:,?\s+(?:um\s+)?(?P<H>[0-2]?\d)[:.](?P<M>[0-5]\d)(?::(?P<S>[0-5]\d))?)?")
_COMPACT = re.compile(r"^(?P<y>(?:19|20)\d\d)(?P<m>[01]\d)(?P<d>[0-3]\d)"
                      r"(?:T?(?P<H>[0-2]\d)(?P<M>[0-5]\d)(?P<S>[0-5]\d)?)?(?P<tz>Z)?$")
_EPOCH = re.compile(r"^\d{10}(?:\d{3})?(?:\.\d+)?$")
_URL_DATE = re.compile(r"/((?:19|20)\d\d)[/-]?(0[1-9]|1[0-2])[/-]?(0[1-9]|[12]\d|3[01])(?=[/._-]|$)|"
                       r"/((?:19|20)\d\d)/(0?[1-9]|1[0-2])/(0?[1-9]|[12]\d|3[01])/")


@dataclass(frozen=True)
class Stamp:
    """A point in time read from a page, and whether the page gave its time of day."""

    when: datetime  # aware UTC
    has_time: bool


def parse_stamp(value: str | None, *, now: datetime | None = None) -> Stamp | None:
    """A date or date-time in any of the forms pages use; None if it is none or not plausible."""
    value = (value or "").strip()
    if not value or len(value) > 80:
        return None
    stamp = _epoch(value) or _iso_like(value) or _rfc2822(value)
    if stamp is None:
        return None
    latest = (now or datetime.now(timezone.utc)) + timedelta(days=2)
    return stamp if EARLIEST <= stamp.when <= latest else None


def _epoch(value: str) -> Stamp | None:
    if not _EPOCH.match(value):
        return None
    seconds = float(value)
    if len(value.split(".")[0]) == 13:  # milliseconds, as JavaScript writes them
        seconds /= 1000
    try:
        return Stamp(datetime.fromtimestamp(seconds, tz=timezone.utc), True)
    except (OverflowError, OSError, ValueError):
        return None


def _iso_like(value: str) -> Stamp | None:
    m = _COMPACT.match(value) or _ISO.search(value) or _DMY.search(value)
    if m is None:
        return None
    g = m.groupdict()
    try:
        when = datetime(int(g["y"]), int(g["m"]), int(g["d"]), int(g["H"] or 0), int(g["M"] or 0),
                        int(g["S"] or 0), tzinfo=_zone(g.get("tz")))
    except ValueError:  # 31 February, hour 25
        return None
    return Stamp(when.astimezone(timezone.utc), g["H"] is not None)


def _zone(tz: str | None) -> timezone:
    if not tz or tz.upper() in ("Z", "UTC", "GMT"):
        return timezone.utc
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 14 or minutes > 59:
        return timezone.utc
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _rfc2822(value: str) -> Stamp | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return Stamp(when.astimezone(timezone.utc), True)


# ---------------------------------------------------------------- JSON-LD

def json_ld(tree: lxml.html.HtmlElement) -> list[dict[str, Any]]:
    """Every JSON-LD object of the page with a @type, top level and @graph first, then nested."""
    found: list[tuple[int, int, dict[str, Any]]] = []
    for script in tree.iter("script"):
        if "ld+json" not in (script.get("type") or "").lower():
            continue
        data = _load_json(script.text_content())
        if data is not None:
            found.extend((depth, len(found) + i, obj) for i, (depth, obj) in enumerate(_objects(data, 0)))
    return [obj for _, _, obj in sorted(found, key=lambda x: (x[0], x[1]))]


def _load_json(text: str) -> Any:
    text = text.strip()
    text = re.sub(r"^\s*(?:<!\[CDATA\[|<!--)|(?:\]\]>|-->)\s*$", "", text).strip()
    try:
        return json.loads(text, strict=False)  # strict=False: raw newlines inside strings happen
    except ValueError:
        try:  # a trailing comma before } or ] is the usual hand-made mistake
            return json.loads(re.sub(r",\s*([}\]])", r"\1", text), strict=False)
        except ValueError:
            return None


def _objects(data: Any, depth: int) -> Iterator[tuple[int, dict[str, Any]]]:
    if depth > 6:
        return
    if isinstance(data, list):
        for item in data:
            yield from _objects(item, depth)
        return
    if not isinstance(data, dict):
        return
    if "@type" in data:
        yield depth, data
    for key, value in data.items():
        if key == "@graph":
            yield from _objects(value, depth)
        elif isinstance(value, (dict, list)) and key not in ("@context",):
            yield from _objects(value, depth + 1)


def types_of(obj: dict[str, Any]) -> str:
    t = obj.get("@type")
    return " ".join(str(x) for x in t) if isinstance(t, list) else str(t or "")


def article_objects(objects: list[dict[str, Any]], url: str) -> list[dict[str, Any]]:
    """The page's article objects, the one about this page's address first."""
    articles = [o for o in objects if _ARTICLE_TYPE.search(types_of(o))]
    return sorted(articles, key=lambda o: not _about(o, url))


def _about(obj: dict[str, Any], url: str) -> bool:
    def norm(u: Any) -> str:
        if isinstance(u, dict):
            u = u.get("@id") or u.get("url") or ""
        return str(u).split("#")[0].split("?")[0].rstrip("/").lower()
    page = norm(url)
    return bool(page) and any(norm(obj.get(k)) == page for k in ("url", "@id", "mainEntityOfPage"))


def _ld_published(objects: list[dict[str, Any]], url: str) -> Iterator[str]:
    pages = [o for o in objects if _PAGE_TYPE.search(types_of(o))]
    for obj in article_objects(objects, url) + pages:
        for key in ("datePublished", "dateCreated"):
            value = obj.get(key)
            if isinstance(value, (str, int, float)):
                yield str(value)


# ---------------------------------------------------------------- the page's sources, in order

def _meta_published(metas: dict[str, str]) -> Iterator[str]:
    for name in PUBLISHED_NAMES:
        if name in metas:
            yield metas[name]
    for name, value in metas.items():
        if (name not in PUBLISHED_NAMES and name not in GENERIC_NAMES and _PUBLISHED_WORD.search(name)
                and not _MODIFIED_WORD.search(name) and not _NOT_A_TIME.search(name)):
            yield value


def _meta_generic(metas: dict[str, str]) -> Iterator[str]:
    for name in GENERIC_NAMES:
        if name in metas:
            yield metas[name]


def _microdata(tree: lxml.html.HtmlElement) -> Iterator[str]:
    for el in tree.xpath('//*[@itemprop="datePublished" or @itemprop="dateCreated"][not(self::meta)]'):
        yield el.get("datetime") or el.get("content") or el.text_content()


def _time_elements(tree: lxml.html.HtmlElement) -> tuple[list[lxml.html.HtmlElement], list[lxml.html.HtmlElement]]:
    """The article's `<time>` elements, none marked modified nor outside it: those marked as the
    publication or set with the headline (its header, near its h1, the byline block), and the rest."""
    scope = _article_scope(tree)
    candidates = [t for t in scope.iter("time") if not _modified(t) and not _outside(t, scope)]
    marked = [t for t in candidates if t.get("pubdate") is not None or _PUBLISHED_WORD.search(_labels(t))]
    headed = [t for t in candidates if any(a.tag == "header" for a in t.iterancestors()) or _by_headline(t, scope)]
    placed = marked + [t for t in headed if t not in marked]
    return placed, [t for t in candidates if t not in placed]


def _times(elements: list[lxml.html.HtmlElement]) -> Iterator[str]:
    for t in elements:
        value = t.get("datetime")
        if value:
            yield value
        if not value or ":" not in value:  # a day in the attribute, the time in the text: `21.01.2022 - 13:30`
            yield re.sub(r"\s+[-–|]\s+(?=[0-2]?\d[:.][0-5]\d)", " ", t.text_content())


def _by_headline(el: lxml.html.HtmlElement, scope: lxml.html.HtmlElement) -> bool:
    """Whether `el` sits with the article's headline: within three levels above its h1, or in the
    block of byline and date under it."""
    for a in list(el.iterancestors())[:3]:
        if _META_BLOCK.search((a.get("class") or "") + " " + (a.get("id") or "")):
            return True
    h1 = next(scope.iter("h1"), None)
    if h1 is None:
        return False
    up = h1
    for _ in range(3):
        up = up.getparent()
        if up is None:
            return False
        if any(a is up for a in el.iterancestors()):
            return True
    return False


def _article_scope(tree: lxml.html.HtmlElement) -> lxml.html.HtmlElement:
    for xpath in ("//article[.//h1]", "//main", "//article"):
        found = tree.xpath(xpath)
        if found:
            return found[0]
    return tree


def _labels(el: lxml.html.HtmlElement) -> str:
    """The element's own markers: itemprop, class and id, and those of its parent."""
    parent = el.getparent()
    own = " ".join(el.get(a) or "" for a in ("itemprop", "class", "id"))
    return own + " " + (" ".join(parent.get(a) or "" for a in ("itemprop", "class", "id")) if parent is not None else "")


def _modified(el: lxml.html.HtmlElement) -> bool:
    if _MODIFIED_WORD.search(_labels(el)):
        return True
    parent = el.getparent()
    before = (parent.text or "") if parent is not None and parent.index(el) == 0 else ""
    prev = el.getprevious()
    if prev is not None:
        before = (prev.tail or "") + " " + prev.text_content()
    return bool(_MODIFIED_WORD.search(before[-40:] + " " + el.text_content()[:40]))


def _outside(el: lxml.html.HtmlElement, scope: lxml.html.HtmlElement) -> bool:
    for a in el.iterancestors():
        if a is scope:
            return False
        marks = (a.get("class") or "") + " " + (a.get("id") or "")
        if _OUTSIDE_ARTICLE.search(marks):
            return True
        if a.tag in ("aside", "nav", "footer") and not _META_BLOCK.search(marks):  # an <aside class="meta"> holds the byline
            return True
    return False


def _headline_text(tree: lxml.html.HtmlElement) -> Iterator[str]:
    """A date written as text beside the article's headline (`<p class="date">Written: 2023-11-07
    15:03 / Updated: …</p>` next to the h1), for pages with no machine-readable one: the short text
    elements in the h1's own block, the date taken from the first one not labelled as an update.
    Only the h1's block: a level further up is the article's body, where dates are citations."""
    for h1 in list(tree.iter("h1"))[:3]:  # the first may be the site's logo
        block = h1.getparent()
        if block is None:
            continue
        for el in block.iterdescendants():
            if not isinstance(el.tag, str) or el.tag in ("script", "style", "a", "h1") or h1 in el.iterancestors():
                continue
            text = " ".join(el.text_content().split())
            if not text or len(text) > 80 or _outside(el, block):
                continue
            m = _ISO.search(text) or _DMY.search(text)
            if m is None or _MODIFIED_WORD.search(text[:m.start()]):
                continue
            yield text[m.start():]
            return


# a capture in a web archive (`https://web.archive.org/web/20140226054445/http://www.site.com/…`)
# is the archived site's page: its names are that site's, not the archive's
_ARCHIVED = re.compile(r"^https?://(?:web\.)?archive\.org/web/\d{1,14}[a-z_]*/(?P<url>https?://.+)$", re.I)


def original_url(url: str) -> str:
    """The archived page's own address for a web-archive capture, else the address itself."""
    m = _ARCHIVED.match(url)
    return m.group("url") if m else url


def url_stamp(url: str) -> Stamp | None:
    """The date written in an address, /2023/04/28/ or /20230428/; a day, no time (of a web-archive
    capture, the archived address's: the capture's own stamp is when it was archived)."""
    m = _URL_DATE.search(original_url(url))
    if not m:
        return None
    y, mo, d = (g for g in m.groups() if g is not None)
    try:
        when = datetime(int(y), int(mo), int(d), tzinfo=timezone.utc)
    except ValueError:
        return None
    return Stamp(when, False) if EARLIEST <= when <= datetime.now(timezone.utc) + timedelta(days=2) else None


def _htmldate(tree: lxml.html.HtmlElement, url: str) -> Stamp | None:
    """htmldate's search of what is left, without the page's declared modification times: with
    nothing better it would take one (from a meta tag, or a JSON-LD dateModified found by its
    text search), and a modified time is no publication time. These elements go from the tree
    itself: they are read already, and the text does not need them."""
    for meta in tree.xpath("//meta"):
        name = " ".join(meta.get(a) or "" for a in ("name", "property", "itemprop"))
        if _MODIFIED_WORD.search(name):
            meta.drop_tree()
    for script in tree.xpath("//script[contains(translate(@type, 'LDJSON', 'ldjson'), 'ld+json')]"):
        script.drop_tree()
    try:
        found = find_date(tree, extensive_search=True, original_date=True, url=url)
    except Exception:  # htmldate on a hostile page must not cost us the article
        return None
    return parse_stamp(found) if found else None


# ---------------------------------------------------------------- the decision

def published_at(tree: lxml.html.HtmlElement, metas: dict[str, str], objects: list[dict[str, Any]],
                 url: str) -> Stamp | None:
    """The page's publication time: the first source in the module's order, its time of day
    completed from a later source on the same day when it gave only the day."""
    sourced = _structured(tree, metas, objects, url)
    kind, first = next(sourced, ("", None))
    structured = (st for _, st in sourced)
    if first is None:
        return _beside_headline(tree) or url_stamp(url) or _htmldate(tree, url)
    if kind == "generic":
        # "a date" a CMS writes is its build or last edit as often as the publication, so it is no
        # earlier than the publication: a date written beside the headline before it is the one
        beside = _beside_headline(tree)
        if beside is not None and beside.when.date() < first.when.date():
            return beside
    first = _unless_resaved(tree, metas, objects, first)
    if first.has_time:
        return first
    day = first.when.date()
    return next((s for s in structured if s.has_time and s.when.date() == day), first)


def _unless_resaved(tree: lxml.html.HtmlElement, metas: dict[str, str], objects: list[dict[str, Any]],
                    first: Stamp) -> Stamp:
    """A declared publication time *later* than the page's declared modification time was written
    when the page was saved again (a migration, a re-import), not when it was published: if the
    article's header shows a `<time>` more than a day before it, that is the publication. (A
    scheduled article also has its last edit before its publication, but its header then shows the
    publication time itself.)"""
    modified = [v for k, v in metas.items() if _MODIFIED_WORD.search(k) and not _NOT_A_TIME.search(k)]
    modified += [str(o["dateModified"]) for o in objects if isinstance(o.get("dateModified"), (str, int))]
    stamps = [st for v in modified if (st := parse_stamp(v)) is not None and st.has_time]
    if not first.has_time or not any(st.when < first.when for st in stamps):
        return first
    placed, _ = _time_elements(tree)
    shown = [st for v in _times(placed) if (st := parse_stamp(v)) is not None]
    earlier = [st for st in shown if EARLIEST <= st.when < first.when - timedelta(days=1)]
    return earlier[0] if earlier and len({st.when.date() for st in shown}) == 1 else first


def _structured(tree: lxml.html.HtmlElement, metas: dict[str, str], objects: list[dict[str, Any]],
                url: str) -> Iterator[tuple[str, Stamp]]:
    rest: list[lxml.html.HtmlElement] = []

    def placed_times() -> Iterator[str]:  # the elements are looked for only when the sources before gave nothing
        placed, others = _time_elements(tree)
        rest.extend(others)
        yield from _times(placed)

    for kind, source in (("typed", _meta_published(metas)), ("typed", _ld_published(objects, url)),
                         ("typed", _microdata(tree)), ("typed", placed_times()), ("generic", _meta_generic(metas)),
                         ("time", _times(rest))):
        for value in source:
            stamp = parse_stamp(value)
            if stamp is not None:
                yield kind, stamp


def _beside_headline(tree: lxml.html.HtmlElement) -> Stamp | None:
    return next((st for v in _headline_text(tree) if (st := parse_stamp(v)) is not None), None)
