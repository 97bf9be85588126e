"""An article's headline as the page shows it, without the site's name, section or date around it.

Pages state their title four ways: the visible ``<h1>``, JSON-LD ``headline``, ``og:title`` (and
``twitter:title``) and ``<title>``. The last three are written for search engines and sharing and
often carry the outlet: ``… | DW | 28.04.2023``, ``… - WELT``, ``BBC News - …``. So:

1. An ``<h1>`` that another source confirms (equal to it once that source's affixes are off,
   that source starting or ending with it, or a shortened form of it) is the headline: it is what
   a reader sees.
2. Otherwise one of the page's first ``<h2>`` that a source confirms (equal to it, or as the
   source's first segment): blogs give the site's name the h1 and the post's title an h2.
3. Otherwise the page's one h1 (or its article's first) if it has three words or more, or no
   other source is that long.
4. Otherwise the first of JSON-LD headline, og:title, twitter:title and ``<title>``, each with
   its affixes taken off: a prefix or suffix segment, split at `` | ``, `` - ``, `` – ``, `` — ``,
   `` :: ``, `` · `` or `` » ``, that is the outlet's name (from the config, og:site_name, the
   JSON-LD publisher or the address's host), a date, or a section word next to such a name.
5. Otherwise the first ``<h1>`` that is not the site's name.

The h1's text is what it shows: hidden text, ruby readings, kickers and subtitles in elements of
their own are not the headline. An h1 marked as a breadcrumb's element is navigation; an h1 that
a source starts with only because the rest of it is another source's title (`Blog name: Post`)
is the site's part. The site's names of a web-archive capture are the archived site's.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import lxml.html

from crawler.dates import article_objects, original_url, parse_stamp, types_of

_SEPARATOR = re.compile(r"\s+(?:\||-|–|—|::|·|•|»|«|/)\s+|\s*(?:｜|\|)\s*")
_SECOND_LEVEL = frozenset({"co", "com", "org", "net", "ac", "gov", "edu", "or", "ne", "go"})
_ELLIPSIS = ("…", "...")
_KICKER = re.compile(r"kicker|dachzeile|roof-?line|top-?line|over-?line|top-?title|eyebrow|super-?title|"
                     r"pre-?title|entry-section|headline-intro|flag|rubri|"
                     # what follows a headline in its own element: the subtitle (Unterzeile, deck)
                     r"sub-?title|sub-?line|sub-?head|standfirst|\bdeck\b|\bdek\b|untertitel|unterzeile|"
                     # a forum's or blog's label before the title (XenForo's "Patch Notes")
                     r"\blabel\b", re.I)
_HIDDEN = re.compile(r"hidden|hide|invisible|sr-only|screen-?reader|visually|offscreen", re.I)
MAX_H2 = 3  # an h2 further down is a section or a related article's
MIN_HEADLINE_WORDS = 3  # an h1 no other source confirms must be this long, or have no rival this long
_PUNCTUATION_ONLY = re.compile(r"^[\W_]+$")
MAX_SECTION_WORDS = 3  # "Politik", "Nachrichten Inland": a segment this short next to the site name


def site_names(metas: dict[str, str], objects: list[dict[str, Any]], url: str,
               known: Iterable[str] = ()) -> list[str]:
    """Names the site goes by, as comparison keys: the config's, og:site_name, application-name,
    the JSON-LD publisher and WebSite, and the address's host and its registered name."""
    names = [n for n in known if n]
    for key in ("og:site_name", "application-name", "twitter:site", "apple-mobile-web-app-title",
                "publisher", "dc.publisher"):
        if metas.get(key):
            names.append(metas[key].lstrip("@"))
    for obj in objects:
        if "website" in types_of(obj).lower() and isinstance(obj.get("name"), str):
            names.append(obj["name"])
        publisher = obj.get("publisher")
        if isinstance(publisher, dict) and isinstance(publisher.get("name"), str):
            names.append(publisher["name"])
    names += _host_names(url)
    return [n for n in dict.fromkeys(_key(n) for n in names) if n]


def _host_names(url: str) -> list[str]:
    """'archiv.krimiblog.de' gives itself and 'krimiblog'; 'www.bbc.co.uk' gives 'bbc.co.uk', 'bbc';
    a web-archive capture gives the archived site's."""
    host = re.sub(r"^(www\d?|m|amp|mobile)\.", "", (urlsplit(original_url(url)).hostname or "").lower())
    labels = host.split(".")
    if len(labels) < 2:
        return [host] if host else []
    name = labels[-2]
    if name in _SECOND_LEVEL and len(labels) >= 3:
        name = labels[-3]
    return [host, name]


@functools.lru_cache(maxsize=4096)
def _key(text: str) -> str:
    """Case, accents, punctuation and spaces off: 'DW.COM' and 'dw com' and 'Dw' compare."""
    text = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in text if c.isalnum())


def _clean(text: str | None) -> str:
    """White space collapsed and entities a CMS escaped twice (`&#8211;` in og:title) undone."""
    text = html.unescape(text or "") if "&" in (text or "") else (text or "")
    return " ".join(text.replace("\u00ad", "").split())


def _is_name(segment: str, names: list[str]) -> bool:
    """A segment that is one of the site's names, or a name with a few more letters
    ('EFC Bayrische Bembel Regensburg' for bayrische-bembel.de, 'Krimiblog-Archiv')."""
    k = _key(segment)
    if not k:
        return True
    return any(k == n or (len(n) >= 3 and n in k and len(k) <= min(len(n) + 16, 3 * len(n)))
               or (len(k) >= 3 and n.startswith(k) and len(n) <= len(k) + 8) for n in names)


def _is_date(segment: str) -> bool:
    return len(segment) <= 40 and parse_stamp(segment) is not None and not re.search(r"[^\W\d_]{4,}", segment)


def strip_affixes(title: str, names: list[str]) -> str:
    """The title without the site's part: leading name or date segments, everything from the
    first later name segment on (taglines follow it), trailing dates, and short section
    segments around a single longer headline."""
    title = _cut_at_colon_name(title, names)
    parts, seps = _SEPARATOR.split(title), _SEPARATOR.findall(title)
    lo, hi = 0, len(parts)
    while hi - lo > 1 and (_is_name(parts[lo], names) or _is_date(parts[lo])):
        lo += 1
    cut = next((i for i in range(lo + 1, hi) if _is_name(parts[i], names)), hi)
    hi = cut
    while hi - lo > 1 and _is_date(parts[hi - 1]):
        hi -= 1
    long = [i for i in range(lo, hi) if len(parts[i].split()) > MAX_SECTION_WORDS]
    # a section is a word or two of letters; "SW082" (an episode's number) is part of the headline
    numbered = any(re.search(r"\d", parts[i]) for i in range(lo, hi) if i not in long)
    if hi - lo > 1 and len(long) == 1 and not numbered:
        return _without_colon_name(parts[long[0]], names)
    kept = parts[lo] + "".join(seps[i - 1] + parts[i] for i in range(lo + 1, hi))
    return _without_colon_name(kept.strip(), names)


def _cut_at_colon_name(title: str, names: list[str]) -> str:
    """'Headline :  Site | Tagline': a spaced colon followed by the site's name ends the headline."""
    for m in re.finditer(r"\s+:\s+", title):
        after = _SEPARATOR.split(title[m.end():], maxsplit=1)[0]
        if m.start() > 0 and _is_name(after, names):
            return title[: m.start()]
    return title


def _without_colon_name(title: str, names: list[str]) -> str:
    """'Headline : Site' and 'Site: Headline'; a colon alone is no separator (headlines have them)."""
    pieces = re.split(r"\s*:\s+", title)
    if len(pieces) > 1 and _is_name(pieces[-1], names):
        return title[: title.rindex(pieces[-1])].rstrip(" :")
    if len(pieces) > 1 and _is_name(pieces[0], names):
        return title[len(pieces[0]):].lstrip(" :")
    return title


def _scoped(tree: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    return tree.xpath("//article//h1|//main//h1|//*[@itemprop='headline'][not(self::meta)]")


def _h1s(tree: lxml.html.HtmlElement, scoped: list[lxml.html.HtmlElement]) -> list[lxml.html.HtmlElement]:
    return scoped + [h for h in tree.iter("h1") if h not in scoped]


def _pieces(el: lxml.html.HtmlElement) -> list[tuple[lxml.html.HtmlElement | None, str]]:
    """The h1's text in its pieces, each with the child element it comes from (None: the h1's own
    text or a child's tail). An element that only wraps another (`<h1><a><span>kicker</span>
    headline</a></h1>`) is looked through; hidden children are no piece."""
    for _ in range(4):
        children = [c for c in el if isinstance(c.tag, str) and c.tag != "br"]
        if len(children) != 1 or (el.text or "").strip() or (children[0].tail or "").strip() or _is_kicker(children[0]):
            break
        el = children[0]
    pieces: list[tuple[lxml.html.HtmlElement | None, str]] = [(None, el.text or "")]
    for child in el:
        if isinstance(child.tag, str) and child.tag != "br" and not _hidden(child):
            pieces.append((child, visible_text(child)))
        pieces.append((None, child.tail or ""))
    return [(owner, t) for owner, t in ((o, _clean(x)) for o, x in pieces) if t]


def visible_text(el: lxml.html.HtmlElement) -> str:
    """The element's text as it shows: a line break is a space, ruby's readings are not the text,
    and what is hidden for screen readers only (`<span class="element-invisible"> | Site</span>`)
    is not there."""
    out = [el.text or ""]
    for child in el:
        if not isinstance(child.tag, str):
            pass
        elif child.tag == "br":
            out.append(" ")
        elif child.tag in ("rt", "rp"):  # ruby's reading aids (furigana) over the characters
            pass
        elif not _hidden(child):
            out.append(visible_text(child))
        out.append(child.tail or "")
    return "".join(out)


def _is_kicker(owner: lxml.html.HtmlElement | None) -> bool:
    if owner is None or not isinstance(owner.tag, str):
        return False
    marks = " ".join(owner.get(a) or "" for a in ("class", "id", "itemprop"))
    return owner.tag == "small" or bool(_KICKER.search(marks))


def _h1_headline(el: lxml.html.HtmlElement, refs: list[tuple[str, str]]) -> str:
    """The headline in an h1, without the kicker (Dachzeile) that news sites put before it in an
    element of its own (`<span class="kicker">Ukraine</span>: Headline`, `<small>`), or that
    another source shows as a separate segment; separator pieces (': ', ' - ') go with it."""
    text, pieces = _clean(visible_text(el)), _pieces(el)
    kept = [t for owner, t in pieces if not _is_kicker(owner)]
    if len(kept) < len(pieces):
        rest = _strip_separators(" ".join(t for t in kept if not _PUNCTUATION_ONLY.match(t)))
        if rest:
            return rest
    tail = _tail_of(text, refs)
    if tail:
        return tail
    if len(pieces) < 2 or any(text.casefold() == cleaned.casefold() for _, cleaned in refs):
        return text
    segments = {_key(p) for raw, _ in refs for p in _SEPARATOR.split(raw) + re.split(r"\s*:\s+", raw)}
    rest = _strip_separators(" ".join(t for _, t in pieces[1:]))
    if _key(pieces[0][1]) in segments and _key(rest) in segments:
        return rest
    if pieces[0][0] is not None and len(rest.split()) >= MIN_HEADLINE_WORDS and any(
            _key(rest) == _key(cleaned) for _, cleaned in refs):
        return rest  # `<h1><em>Holocaust-Gedenktag </em>Erinnerung an …</h1>` and og:title `Erinnerung an …`
    return text


def _tail_of(text: str, refs: list[tuple[str, str]]) -> str:
    """'"Reformstau lösen" / Irme Stetter-Karp ist neue ZdK-Präsidentin' when another source
    gives just the part after the separator, and none shows the part before it."""
    for _, cleaned in refs:
        if len(cleaned.split()) > 2 and len(text) > len(cleaned) + 2 and text.casefold().endswith(cleaned.casefold()):
            head = text[: len(text) - len(cleaned)]
            shown = any(_key(_strip_separators(head)) in _key(raw) for raw, _ in refs)
            if re.search(r"(?:[:|/–—-]|\s[-–—/|])\s*$", head) and not shown:
                return text[len(head):]
    return ""


def _strip_separators(text: str) -> str:
    return text.strip(" :|/-–—·•»").strip()


def _hidden(el: lxml.html.HtmlElement) -> bool:
    marks = " ".join(el.get(a) or "" for a in ("class", "id", "style"))
    return el.get("hidden") is not None or el.get("aria-hidden") == "true" or bool(
        _HIDDEN.search(marks) or "display:none" in marks.replace(" ", ""))


_NAVIGATION = re.compile(r"bread-?crumb", re.I)


def _navigation(el: lxml.html.HtmlElement) -> bool:
    """An h1 marked as a breadcrumb's element (fr.de's `<h1 class="id-Breadcrumb-element-link">`
    with the section's path over the article's h2 headline) is navigation, not the headline."""
    return bool(_NAVIGATION.search((el.get("class") or "") + " " + (el.get("id") or "")))


def _confirms(h1: str, raw: str, cleaned: str) -> bool:
    """Whether a source confirms the h1: equal once its affixes are off, or starting or ending
    with it, or shortened from it (cut with an ellipsis, or to the first words of a longer
    headline: `Ultium Cells erhöht Gigafactory-Kapazität` for the h1's `… in Tennessee`)."""
    k = _key(h1)
    if not k:
        return False
    return k == _key(cleaned) or _key(raw).startswith(k) or _key(raw).endswith(k) or (
        cleaned.endswith(_ELLIPSIS) and k.startswith(_key(cleaned))) or (
        len(cleaned.split()) >= MIN_HEADLINE_WORDS and h1.casefold().startswith(cleaned.casefold() + " "))


def _given(h1: str, refs: list[tuple[str, str]], names: list[str]) -> bool:
    """An h1 that looks like the site's name with a few more words ('Happy Coffee SIDAMO Bio Bohnen'
    on happycoffee.org) but that a source gives as the page's title, word for word, is the title."""
    k = _key(h1)
    return k not in names and any(k == _key(cleaned) for _, cleaned in refs)


def _beside(h1: str, raw: str, refs: list[tuple[str, str]]) -> bool:
    """Whether a source starts or ends with the h1 only because the h1 is the site's part of it:
    `EMACSPEAK The Complete Audio Desktop: Meta-Programming …` in <title>, the blog's name as the
    first h1, and the rest the post's title that og:title gives whole."""
    k, whole = _key(h1), _key(raw)
    if k == whole or not (whole.startswith(k) or whole.endswith(k)):
        return False
    rest = whole[len(k):] if whole.startswith(k) else whole[: len(whole) - len(k)]
    return bool(rest) and any(rest == _key(cleaned) for other, cleaned in refs if other != raw)


def _first_segment(text: str, raw: str) -> bool:
    """`Alles Neue mach der Mai…` in `Alles Neue mach der Mai… | Blog name`, `Der Purzelbaum` in
    `Der Purzelbaum (2021/5)`: the source starts with the text and goes on after a separator."""
    if len(text.split()) < 2 or not raw.casefold().startswith(text.casefold()) or len(raw) == len(text):
        return False
    rest = raw[len(text):]
    return bool(_SEPARATOR.match(rest) or re.match(r"\s+[(\[]", rest))


def _uncut(raws: list[str]) -> list[str]:
    """A content attribute cut at a quote the page did not escape (`content="… Biden de "incapacitado""`
    reads `… Biden de`): where another source goes on from it with a quote, that one's text."""
    out = list(raws)
    for i, r in enumerate(out):
        for other in raws:
            if r and len(other) > len(r) and other.startswith(r) and other[len(r):].lstrip()[:1] in tuple("\"“„«'"):
                out[i] = other
    return out


def headline(tree: lxml.html.HtmlElement, metas: dict[str, str], objects: list[dict[str, Any]], url: str,
             known_names: Iterable[str] = ()) -> str:
    """The page's headline, by the module's order."""
    names = site_names(metas, objects, url, known_names)
    ld = next((_clean(o["headline"]) for o in article_objects(objects, url) if isinstance(o.get("headline"), str)), "")
    title_el = tree.find(".//title")
    scoped = _scoped(tree)
    elements = _h1s(tree, scoped)
    visible = [h for h in elements if not _hidden(h) and not _navigation(h)]
    # an h1 hidden for screen readers is the page's title for them: a source like <title>
    raws = [ld, _clean(metas.get("og:title")), _clean(metas.get("twitter:title")),
            _clean(title_el.text_content() if title_el is not None else "")]
    raws += [_clean(h.text_content()) for h in elements if _hidden(h)]
    raws = _uncut(raws)
    refs = [(r, strip_affixes(r, names)) for r in raws if r]
    h1s = [t for t in (_h1_headline(h, refs) for h in visible) if t and not t.endswith(":") and (
        not _is_name(t, names) or _given(t, refs, names))]
    for h1 in h1s:
        if any(_confirms(h1, raw, cleaned) and not _beside(h1, raw, refs) for raw, cleaned in refs):
            return h1
    # blogs and older CMSs give the site's name the h1 and the post's title an h2: one of the first
    # h2s that another source confirms is the headline
    h2s = [t for t in (_h1_headline(h, refs) for h in list(tree.iter("h2"))[:MAX_H2] if not _hidden(h))
           if len(t.split()) >= 2 and not _is_name(t, names)]
    for h2 in h2s:  # an h2 is confirmed by a source equal to it or by its first segment, not by its first words
        if any(_key(h2) == _key(cleaned) or _first_segment(h2, raw) for raw, cleaned in refs):
            return h2
    rivals = any(len(cleaned.split()) >= MIN_HEADLINE_WORDS for _, cleaned in refs)
    if h1s and (len(visible) == 1 or (scoped and visible[0] is scoped[0])) and (
            len(h1s[0].split()) >= MIN_HEADLINE_WORDS or not rivals):
        return h1s[0]  # the one headline the page shows, even where its metadata words it otherwise
    for _, cleaned in refs:
        if cleaned and not _is_name(cleaned, names):
            return cleaned
    return h1s[0] if h1s else (refs[0][1] if refs else "")
