"""A generated newsroom for the benchmarks: outlets, events, articles, and their pages and feeds as bytes.

Everything is made up from the word lists below (written for this file) with a seeded random
generator, so a run is repeatable. The shape follows what the poller meets on real sites:

- article pages of 30-40 KB: a ~600-word body inside a header with a long menu, a cookie banner,
  inline scripts and JSON-LD, teasers for related and most-read stories, comments and a footer;
- RSS 2.0 feeds of up to 50 items, each with a summary and the first paragraphs as content:encoded,
  as WordPress feeds carry them;
- events reported by one outlet and copied (whole, or edited) by others within hours, and one event
  in twelve about the watched subject, so stories form and spread alerts fire.
"""

from __future__ import annotations

import html
import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

SQ = """qeveria ministria parlamenti kuvendi deputetet kryetari komuna buxheti energjia tregu investimet
shkolla spitali rruga zgjedhjet partia opozita gjykata prokuroria policia kufiri marrëveshja dialogu
raporti vendimi projekti fondet punëtorët pagat çmimet rritja ulja sot dje nesër javës muajit vitit
tha deklaroi njoftoi konfirmoi mohoi kërkoi paralajmëroi propozoi miratoi refuzoi takoi vizitoi
ndërsa megjithatë gjithashtu sipas pas para gjatë mbi nën pranë larg shumë pak disa të gjithë
qytetarët banorët studentët mjekët mësuesit fermerët bizneset institucionet autoritetet zyrtarët
ujit dritave ngrohjes transportit shëndetësisë arsimit bujqësisë turizmit sigurisë drejtësisë""".split()
EN = """government ministry parliament assembly deputies mayor municipality budget energy market
investment school hospital road election party opposition court prosecutor police border agreement
dialogue report decision project funds workers wages prices growth decline today yesterday tomorrow
week month year said declared announced confirmed denied asked warned proposed approved rejected
met visited while however also according after before during over under near far many few several
all citizens residents students doctors teachers farmers businesses institutions authorities
officials water electricity heating transport health education agriculture tourism security justice""".split()
TAGS = """Kurti Osmani Rama Vučić Brnabić Ahtisaari Bondsteel Mitrovica Prishtina Tirana Belgrade
Brussels Ferizaj Prizren Peja Gjakova Gjilan Skopje Podgorica Washington Berlin Rome Vienna Escobar
Lajčák Borrell Stoltenberg Rutte Ibar Gazimestan Zvečan Leposavić Dečani Gračanica Drenica""".split()
WATCH_SQ = ("Sipas {name}, trupat amerikane në KFOR do të fillojnë tërheqjen nga Kosova brenda "
            "pak muajve, ndërsa zyrtarët kërkuan sqarime.")
WATCH_EN = ("According to {name}, US troops serving in KFOR will begin a withdrawal from Kosovo within "
            "months, while officials asked for clarification.")
SYLLABLES = """ba be bi bo bu da de di do dra dre dri ka ke ki ko kra la le li lo lu ma me mi mo na ne ni no
ra re ri ro sa se si so sta ta te ti to tra va ve vi vo za ze zi zo ar er ir or an en in on el il ol""".split()
SECTIONS = ("Lajme", "Politikë", "Ekonomi", "Sport", "Kulturë", "Botë", "Video", "Opinion", "Shëndetësi",
            "Teknologji", "Rajoni", "Diaspora", "Showbiz", "Auto", "Foto", "Podcast")
T0 = datetime(2025, 3, 3, 6, 0, tzinfo=timezone.utc)
SPAN = timedelta(hours=60)  # every article's story is still live when the last one arrives
COPY_SHARE = 0.3  # articles that copy an earlier one, whole or edited
WATCH_EVERY = 12  # one origin event in this many is about the watched subject


@dataclass(frozen=True)
class Outlet:
    key: str
    name: str
    language: str


@dataclass(frozen=True)
class GenArticle:
    id: str
    outlet: str
    language: str
    published: datetime
    title: str
    paragraphs: tuple[str, ...]
    event: int
    kind: str  # origin | copy | edited
    watch: bool

    @property
    def path(self) -> str:
        return f"/{self.outlet}/{self.published:%Y/%m/%d}/{self.id}.html"


@dataclass
class Site:
    """The generated newsroom: its articles and every URL path's bytes."""

    outlets: list[Outlet]
    articles: list[GenArticle]
    files: dict[str, tuple[str, bytes]]  # path -> (content type, body)

    def feed_path(self, outlet_key: str) -> str:
        return f"/{outlet_key}/feed/"

    def pages(self) -> list[tuple[str, bytes]]:
        """(path, bytes) of every article page, in publication order."""
        return [(a.path, self.files[a.path][1]) for a in self.articles]

    def feeds(self) -> list[tuple[str, bytes]]:
        return [(self.feed_path(o.key), self.files[self.feed_path(o.key)][1]) for o in self.outlets]

    def outlets_config(self, base_url: str) -> list[dict[str, object]]:
        """OutletConfig entries whose feeds point at this site served at `base_url`."""
        return [{"key": o.key, "name": o.name, "language": o.language, "country": "XK",
                 "homepage": f"https://{o.key}.example/", "feeds": [{"url": base_url + self.feed_path(o.key)}]}
                for o in self.outlets]


def build_site(n_articles: int, base_url: str, *, seed: int = 8, per_feed: int = 50) -> Site:
    """A newsroom of `n_articles`, about `per_feed` per outlet, rendered to bytes for `base_url`."""
    rng = random.Random(seed)
    outlets = _outlets(max(4, -(-n_articles // per_feed)), rng)
    articles = _articles(n_articles, outlets, rng)
    files: dict[str, tuple[str, bytes]] = {"/robots.txt": ("text/plain", b"User-agent: *\nDisallow: /admin/\n")}
    by_outlet: dict[str, list[GenArticle]] = {o.key: [] for o in outlets}
    for a in articles:
        by_outlet[a.outlet].append(a)
    for o in outlets:
        mine = by_outlet[o.key]
        for i, a in enumerate(mine):
            teasers = [x.title for x in mine[max(0, i - 12):i]] + [x.title for x in articles[:6]]
            files[a.path] = ("text/html; charset=utf-8", render_page(a, o, teasers, rng).encode("utf-8"))
        files[f"/{o.key}/feed/"] = ("application/rss+xml; charset=utf-8",
                                        render_feed(o, mine[::-1][:per_feed], base_url).encode("utf-8"))
    return Site(outlets, articles, files)


def _outlets(n: int, rng: random.Random) -> list[Outlet]:
    # made-up names: an outlet named with common words would be "credited" in every text
    return [Outlet(key=f"o{i:03d}", name=f"{_name(rng)} {_name(rng)}", language="sq" if i % 3 else "en")
            for i in range(n)]


def _name(rng: random.Random) -> str:
    """A made-up proper name: 2-3 syllables ("Drevani", "Kolmar")."""
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


@dataclass(frozen=True)
class _Event:
    """What one story is about: its own people, places, numbers and words."""

    number: int
    names: tuple[str, ...]
    figures: tuple[str, ...]
    topic: tuple[str, ...]
    watch: bool


def _event(number: int, language: str, rng: random.Random) -> _Event:
    words = SQ if language == "sq" else EN
    figures = tuple(f"{rng.randint(1000, 99999):,}".replace(",", ".") for _ in range(2))
    return _Event(number, tuple(_name(rng) for _ in range(4)), figures, tuple(rng.sample(words, 30)),
                  number % WATCH_EVERY == 0)


def _sentence(rng: random.Random, words: list[str] | tuple[str, ...], event: _Event | None = None) -> str:
    """10-17 words, mostly the event's own, with one of its names and now and then one of its numbers."""
    picked = [rng.choice(event.topic if event and rng.random() < 0.7 else words) for _ in range(rng.randint(10, 17))]
    if event:
        picked.insert(rng.randint(1, len(picked) - 1), rng.choice(event.names))
        if rng.random() < 0.25:
            picked.insert(rng.randint(1, len(picked) - 1), rng.choice(event.figures))
    text = " ".join(picked)
    return text[0].upper() + text[1:] + "."  # str.capitalize() would lower-case the names


def _body(rng: random.Random, language: str, event: _Event) -> tuple[str, ...]:
    """Eight paragraphs of five sentences: about 600 words."""
    words = SQ if language == "sq" else EN
    paras = [" ".join(_sentence(rng, words, event) for _ in range(5)) for _ in range(8)]
    if event.watch:
        lead = WATCH_SQ if language == "sq" else WATCH_EN
        paras[0] = lead.format(name=event.names[0]) + " " + paras[0]
    return tuple(paras)


def _articles(n: int, outlets: list[Outlet], rng: random.Random) -> list[GenArticle]:
    arts: list[GenArticle] = []
    events = 0
    order = outlets
    for i in range(n):
        when = T0 + SPAN * (i / max(1, n))
        if i % len(outlets) == 0:  # every outlet publishes once per round, in a new order each round
            order = rng.sample(outlets, len(outlets))
        outlet = order[i % len(outlets)]
        recent = [a for a in arts[-60:] if a.kind == "origin" and a.outlet != outlet.key]
        if recent and rng.random() < COPY_SHARE:
            # stories about the watched subject are the ones that spread
            source = rng.choices(recent, weights=[6 if a.watch else 1 for a in recent])[0]
            arts.append(_copy(f"a{i:05d}", source, outlet, when, rng))
            continue
        event = _event(events, outlet.language, rng)
        words = SQ if outlet.language == "sq" else EN
        title = _sentence(rng, words, event)[:90].rsplit(" ", 1)[0]
        if event.watch:
            title = (f"{event.names[0]}: trupat amerikane drejt tërheqjes nga KFOR" if outlet.language == "sq"
                     else f"{event.names[0]}: US troops to withdraw from KFOR")
        arts.append(GenArticle(f"a{i:05d}", outlet.key, outlet.language, when, title,
                               _body(rng, outlet.language, event), events, "origin", event.watch))
        events += 1
    return arts


def _copy(article_id: str, src: GenArticle, outlet: Outlet, when: datetime, rng: random.Random) -> GenArticle:
    """Portals copy whole, or drop a paragraph and add a line of their own."""
    paras = list(src.paragraphs)
    kind = "copy"
    if rng.random() < 0.5:
        del paras[rng.randrange(1, len(paras))]
        paras.append(_sentence(rng, SQ if src.language == "sq" else EN))
        kind = "edited"
    return GenArticle(article_id, outlet.key, src.language, when, src.title, tuple(paras), src.event, kind, src.watch)


def render_page(a: GenArticle, o: Outlet, teasers: list[str], rng: random.Random) -> str:
    """A news page the way CMSs emit them: the article wrapped in navigation, scripts and clutter."""
    e = html.escape
    canonical = f"https://{o.key}.example{a.path}"
    menu = "".join(f'<li class="menu-item"><a href="/{o.key}/{s.lower()}/">{s}</a>'
                   f'<ul class="sub">{_submenu(o, s)}</ul></li>' for s in SECTIONS)
    body = "".join(f"<p>{e(p)}</p>" + (_inline_ad(k) if k in (2, 5) else "") for k, p in enumerate(a.paragraphs))
    related = "".join(f'<div class="teaser"><a href="/{o.key}/r{k}/"><img src="/img/{k}.jpg" alt="">'
                      f"<h4>{e(t)}</h4></a><span>{rng.randint(1, 59)} min</span></div>"
                      for k, t in enumerate(teasers[:8]))
    most_read = "".join(f'<li><a href="/{o.key}/m{k}/">{e(t)}</a></li>' for k, t in enumerate(teasers[-10:]))
    comments = "".join(f'<div class="comment"><b>{e(_name(rng))}</b> <time>{rng.randint(1, 23)}h</time>'
                       f"<p>{e(_sentence(rng, SQ)[:120])}</p><a href=\"#reply\">Reply</a></div>" for _ in range(4))
    footer = "".join(f'<li><a href="/{o.key}/info/{k}/">{w.capitalize()}</a></li>' for k, w in enumerate(SQ[:36]))
    ld = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle", "headline": a.title,
                     "datePublished": a.published.isoformat(), "mainEntityOfPage": canonical,
                     "publisher": {"@type": "Organization", "name": o.name}}, ensure_ascii=False)
    stamp = a.published.isoformat()
    return f"""<!DOCTYPE html>
<html lang="{a.language}"><head><meta charset="utf-8">
<title>{e(a.title)} - {e(o.name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="canonical" href="{canonical}"><link rel="stylesheet" href="/static/site.css?v=31">
<meta property="og:type" content="article"><meta property="og:title" content="{e(a.title)}">
<meta property="og:url" content="{canonical}"><meta property="og:site_name" content="{e(o.name)}">
<meta property="article:published_time" content="{stamp}">
<script type="application/ld+json">{ld}</script>
<script>{_TRACKER}</script><style>{_STYLE}</style>
</head><body class="single-post">
<div id="cookie-consent">Ky sajt përdor cookies për të përmirësuar përvojën tuaj. <button>Pranoj</button>
<button>Cilësimet</button> <a href="/{o.key}/privatesia/">Politika e privatësisë</a></div>
<div class="ticker"><b>Lajmi i fundit:</b> {e(teasers[0] if teasers else a.title)}</div>
<header class="site-header"><a class="logo" href="/{o.key}/">{e(o.name)}</a>
<nav class="main-menu"><ul>{menu}</ul></nav>
<form class="search" action="/{o.key}/kerko/"><input name="q" placeholder="Kërko"><button>Kërko</button></form></header>
<div class="ad ad-top" data-slot="top-970x250"><script>loadAd('top')</script></div>
<main class="container"><div class="breadcrumbs"><a href="/{o.key}/">Ballina</a> › <a href="/{o.key}/lajme/">Lajme</a></div>
<article class="post"><h1 class="entry-title">{e(a.title)}</h1>
<div class="meta"><time datetime="{stamp}">{a.published:%d.%m.%Y %H:%M}</time> · <span class="author">Redaksia</span></div>
<figure><img src="/img/{a.id}.jpg" alt="{e(a.title)}"><figcaption>Foto: {e(o.name)}</figcaption></figure>
<div class="entry-content">{body}</div>
<div class="tags">{"".join(f'<a href="/{o.key}/tag/{n.lower()}/">{n}</a>' for n in TAGS[:6])}</div>
<div class="share">Shpërndaje: <a href="#fb">Facebook</a> <a href="#x">X</a> <a href="#wa">WhatsApp</a></div>
</article>
<section class="related"><h3>Lexo edhe</h3>{related}</section>
<section class="comments"><h3>Komente ({4})</h3>{comments}<form><textarea></textarea><button>Dërgo</button></form></section>
<aside class="sidebar"><h3>Më të lexuarat</h3><ol>{most_read}</ol>
<div class="ad ad-side" data-slot="side-300x600"><script>loadAd('side')</script></div>
<div class="newsletter">Abonohu në buletinin tonë ditor <input type="email"><button>Abonohu</button></div></aside>
</main>
<footer class="site-footer"><ul>{footer}</ul>
<p>© {a.published.year} {e(o.name)}. Të gjitha të drejtat e rezervuara. Ndalohet riprodhimi pa leje.</p></footer>
<script src="/static/app.js?v=31" defer></script>
</body></html>"""


def _submenu(o: Outlet, section: str) -> str:
    return "".join(f'<li><a href="/{o.key}/{section.lower()}/{k}/">{section} {k}</a></li>' for k in range(1, 5))


def _inline_ad(k: int) -> str:
    return f'<div class="ad ad-inline" data-slot="inline-{k}"><span>Reklama</span><script>loadAd("in{k}")</script></div>'


def render_feed(o: Outlet, newest_first: list[GenArticle], base_url: str) -> str:
    """RSS 2.0 with a summary and, as WordPress feeds do, the first paragraphs as content:encoded."""
    e = html.escape
    items = []
    for a in newest_first:
        lead = "".join(f"<p>{e(p)}</p>" for p in a.paragraphs[:3])
        items.append(
            f"<item><title>{e(a.title)}</title><link>{base_url}{a.path}</link>"
            f'<guid isPermaLink="false">{o.key}-{a.id}</guid><dc:creator>Redaksia</dc:creator>'
            f"<pubDate>{format_datetime(a.published, usegmt=True)}</pubDate>"
            f"<category>Lajme</category><category>{e(TAGS[a.event % len(TAGS)])}</category>"
            f"<description>{e(a.paragraphs[0][:280])}…</description>"
            f"<content:encoded><![CDATA[{lead}]]></content:encoded></item>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<channel><title>{e(o.name)}</title><link>https://{o.key}.example/</link>"
            f"<description>{e(o.name)}</description><language>{o.language}</language>"
            + "\n".join(items) + "</channel></rss>")


_TRACKER = ("window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}"
            "gtag('js',new Date());gtag('config','G-XXXX');" * 12
            + "function loadAd(s){var d=document.createElement('div');d.className='slot-'+s;"
              "document.currentScript.parentNode.appendChild(d)}")
_STYLE = "".join(f".c{k}{{margin:{k % 7}px;padding:{k % 5}px;color:#{k:03x}}}" for k in range(200))
