"""The replay newsroom: the bundled corpus served over HTTP on 127.0.0.1, shaped like real sites.

Per outlet: an RSS 2.0 or Atom feed (one deliberately malformed), article pages with the usual
boilerplate around the text (navigation, cookie banner, most-read, footer), and for outlets without
a feed a news sitemap and a listing page for the spiders. Feeds send ETag/Last-Modified and answer
304 to a conditional GET. Canonical URLs point at the outlets' real hosts, as the real pages' do, so
the same article keeps one identity whatever port the newsroom runs on.
"""

from __future__ import annotations

import hashlib
import html
from datetime import datetime, timezone
from email.utils import format_datetime

from spreadwatch.localserver import LocalServer, Request, Response
from spreadwatch.replay import Corpus, ReplayArticle, ReplayOutlet, load_corpus

ROBOTS = "User-agent: *\nDisallow: /noa/private/\nDisallow: /admin/\n"


class Newsroom:
    """``with Newsroom() as nr: nr.outlets_config()`` gives outlets pointing at this server."""

    def __init__(self, corpus: Corpus | None = None, *, port: int = 0, now: datetime | None = None) -> None:
        self.corpus = corpus or load_corpus()
        self.server = LocalServer(port=port)
        self.released_until = now
        self._route()

    # -------------------------------------------------------------- lifecycle and addresses
    def start(self) -> Newsroom:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Newsroom:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def article_path(self, a: ReplayArticle) -> str:
        return f"/{a.outlet}/{a.id}/"

    def article_url(self, article_id: str) -> str:
        return self.base_url + self.article_path(self.corpus.article(article_id))

    def canonical_url(self, a: ReplayArticle) -> str:
        return f"https://{self.corpus.outlet(a.outlet).domain}/{a.id}/"

    def feed_url(self, outlet_key: str) -> str:
        kind = self.corpus.outlet(outlet_key).feed
        return f"{self.base_url}/{outlet_key}/{'atom' if kind == 'atom' else 'feed'}.xml"

    def release_until(self, when: datetime | None) -> None:
        """Only articles published up to `when` appear in feeds, sitemaps and listings (None: all)."""
        self.released_until = when

    def released(self, outlet_key: str) -> list[ReplayArticle]:
        arts = [a for a in self.corpus.articles if a.outlet == outlet_key
                and (self.released_until is None or a.published <= self.released_until)]
        return sorted(arts, key=lambda a: a.published, reverse=True)

    def outlets_config(self) -> list[dict[str, object]]:
        """Outlet entries (valid OutletConfig dicts) that point at this newsroom."""
        out = []
        for o in self.corpus.outlets:
            entry: dict[str, object] = {"key": o.key, "name": o.name, "country": o.country, "language": o.language,
                                        "homepage": f"https://{o.domain}/", "aliases": list(o.aliases)}
            if o.feed != "none":
                entry["feeds"] = [{"url": self.feed_url(o.key)}]
            if o.spider == "sitemap":
                entry["sitemaps"] = [{"url": f"{self.base_url}/{o.key}/sitemap.xml", "max_age_hours": 0}]
            if o.spider == "listing":
                entry["listings"] = [{"url": f"{self.base_url}/{o.key}/lajme/", "link_selector": "h2 a::attr(href)",
                                      "next_selector": "a.next::attr(href)", "max_pages": 3}]
            out.append(entry)
        return out

    # -------------------------------------------------------------- routes
    def _route(self) -> None:
        srv = self.server
        srv.route("/robots.txt", lambda r: Response(200, ROBOTS.encode(), {"Content-Type": "text/plain"}))
        for o in self.corpus.outlets:
            if o.feed != "none":
                path = f"/{o.key}/{'atom' if o.feed == 'atom' else 'feed'}.xml"
                srv.route(path, self._feed_handler(o))
            if o.spider == "sitemap":
                srv.route(f"/{o.key}/sitemap.xml", self._conditional(lambda o=o: self._sitemap_index(o), "application/xml"))
                srv.route(f"/{o.key}/sitemap-news.xml", self._conditional(lambda o=o: self._news_sitemap(o), "application/xml"))
            if o.spider == "listing":
                srv.route(f"/{o.key}/lajme/", lambda r, o=o: self._listing(o, r))
        for a in self.corpus.articles:
            srv.route(self.article_path(a), lambda r, a=a: self._page(a))

    def _feed_handler(self, o: ReplayOutlet):  # type: ignore[no-untyped-def]
        content_type = "application/atom+xml" if o.feed == "atom" else "application/rss+xml"
        render = {"atom": self._atom, "rss": self._rss, "rss-malformed": self._malformed_rss}[o.feed]
        return self._conditional(lambda: render(o), content_type + "; charset=utf-8")

    def _conditional(self, render, content_type: str):  # type: ignore[no-untyped-def]
        def handler(req: Request) -> Response:
            body = render().encode("utf-8")
            etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
            arts = [a.published for a in self.corpus.articles
                    if self.released_until is None or a.published <= self.released_until]
            modified = format_datetime(max(arts), usegmt=True) if arts else None
            headers = {"ETag": etag, "Content-Type": content_type}
            if modified:
                headers["Last-Modified"] = modified
            if req.headers.get("if-none-match") == etag or (
                    "if-none-match" not in req.headers and modified and req.headers.get("if-modified-since") == modified):
                return Response(304, b"", {"ETag": etag})
            return Response(200, body, headers)
        return handler

    # -------------------------------------------------------------- feeds
    def _summary(self, a: ReplayArticle) -> str:
        first = a.paragraphs[0] if a.paragraphs else ""
        return first if len(first) < 300 else first[:297].rsplit(" ", 1)[0] + "…"

    def _rss(self, o: ReplayOutlet, *, broken: bool = False) -> str:
        e = html.escape
        items = []
        for a in self.released(o.key):
            title = a.title.replace("&", "& ") if broken else e(a.title)  # real feeds leak raw '&'
            items.append(
                f"<item><title>{title}</title><link>{e(self.base_url + self.article_path(a) + a.feed_url_suffix)}</link>"
                f"<guid isPermaLink=\"false\">{o.key}-{a.id}</guid>"
                f"<pubDate>{format_datetime(a.published, usegmt=True)}</pubDate>"
                f"<description>{e(self._summary(a))}</description></item>")
        tail = "" if broken else "</channel></rss>"  # a truncated feed: the closing tags are missing
        return (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>{e(o.name)}</title>'
                f"<link>https://{o.domain}/</link><description>{e(o.name)}</description>"
                f"<language>{o.language}</language>" + "\n".join(items) + tail)

    def _malformed_rss(self, o: ReplayOutlet) -> str:
        return self._rss(o, broken=True)

    def _atom(self, o: ReplayOutlet) -> str:
        e = html.escape
        arts = self.released(o.key)
        updated = (arts[0].published if arts else datetime(2020, 1, 1, tzinfo=timezone.utc)).isoformat()
        entries = "".join(
            f"<entry><title>{e(a.title)}</title><link rel=\"alternate\" href=\"{e(self.base_url + self.article_path(a))}\"/>"
            f"<id>tag:{o.domain},2025:{a.id}</id><published>{a.published.isoformat()}</published>"
            f"<updated>{a.published.isoformat()}</updated><summary>{e(self._summary(a))}</summary></entry>"
            for a in arts)
        return (f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{o.language}">'
                f"<title>{e(o.name)}</title><id>https://{o.domain}/</id><updated>{updated}</updated>"
                f'<link rel="self" href="{e(self.feed_url(o.key))}"/>{entries}</feed>')

    # -------------------------------------------------------------- spider surfaces
    def _sitemap_index(self, o: ReplayOutlet) -> str:
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f"<sitemap><loc>{self.base_url}/{o.key}/sitemap-news.xml</loc></sitemap></sitemapindex>")

    def _news_sitemap(self, o: ReplayOutlet) -> str:
        e = html.escape
        urls = "".join(
            f"<url><loc>{e(self.base_url + self.article_path(a))}</loc><news:news><news:publication>"
            f"<news:name>{e(o.name)}</news:name><news:language>{o.language}</news:language></news:publication>"
            f"<news:publication_date>{a.published.isoformat()}</news:publication_date>"
            f"<news:title>{e(a.title)}</news:title></news:news></url>" for a in self.released(o.key))
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
                'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">' + urls + "</urlset>")

    def _listing(self, o: ReplayOutlet, req: Request) -> Response:
        page = int(req.query.split("page=")[-1]) if "page=" in req.query else 1
        arts = self.released(o.key)
        per_page = 4
        chunk = arts[(page - 1) * per_page: page * per_page]
        items = "".join(f'<li><h2><a href="{self.article_path(a)}">{html.escape(a.title)}</a></h2></li>' for a in chunk)
        nxt = f'<a class="next" href="/{o.key}/lajme/?page={page + 1}">Më shumë</a>' if len(arts) > page * per_page else ""
        body = (f"<!doctype html><html lang=\"{o.language}\"><head><meta charset=\"utf-8\"><title>Lajme - {html.escape(o.name)}"
                f"</title></head><body><nav><a href=\"/{o.key}/private/\">Hyr</a></nav><ul>{items}</ul>{nxt}</body></html>")
        return Response(200, body.encode(), {"Content-Type": "text/html; charset=utf-8"})

    # -------------------------------------------------------------- article pages
    def _page(self, a: ReplayArticle) -> Response:
        o = self.corpus.outlet(a.outlet)
        body = render_page(a, o, canonical=self.canonical_url(a), link_for=self._link_for,
                           most_read=[x.title for x in self.released(o.key) if x.id != a.id][:5])
        return Response(200, body.encode(o.encoding, errors="replace"),
                        {"Content-Type": f"text/html; charset={o.encoding}"})

    def _link_for(self, article_id: str) -> str:
        return self.canonical_url(self.corpus.article(article_id))


def render_page(a: ReplayArticle, o: ReplayOutlet, *, canonical: str, link_for, most_read: list[str]) -> str:  # type: ignore[no-untyped-def]
    """A news page as real CMSs emit them: the article wrapped in navigation and clutter."""
    e = html.escape
    paras = [f"<p>{e(p)}</p>" for p in a.paragraphs]
    for n, target in enumerate(a.links):  # cite sources the way outlets do: a link in the text
        where = min(n + 1, len(paras) - 1) if paras else 0
        paras.insert(where, f'<p>Burimi / Source: <a href="{e(link_for(target))}">{e(link_for(target))}</a></p>')
    nav = "".join(f'<li><a href="/{o.key}/{s}/">{s.title()}</a></li>'
                  for s in ("lajme", "politike", "ekonomi", "sport", "kulture", "bote", "video"))
    reads = "".join(f"<li><a href=\"/{o.key}/\">{e(t)}</a></li>" for t in most_read)
    return f"""<!DOCTYPE html>
<html lang="{a.language}"><head><meta charset="{o.encoding}">
<title>{e(a.title)} | {e(o.name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="canonical" href="{e(canonical)}">
<meta property="og:title" content="{e(a.title)}"><meta property="og:url" content="{e(canonical)}">
<meta property="og:site_name" content="{e(o.name)}">
<meta property="article:published_time" content="{a.published.isoformat()}">
<script>window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push(arguments)}}</script>
</head><body>
<div class="cookie-banner">We use cookies to improve your experience. <button>Accept</button> <button>Settings</button></div>
<header><a class="logo" href="/{o.key}/">{e(o.name)}</a><ul class="menu">{nav}</ul>
<form class="search"><input name="q" placeholder="Search"></form></header>
<main><div class="breadcrumbs"><a href="/{o.key}/">Home</a> › <a href="/{o.key}/lajme/">News</a></div>
<article class="post"><h1>{e(a.title)}</h1>
<div class="meta"><time datetime="{a.published.isoformat()}">{a.published:%d.%m.%Y %H:%M}</time> · {e(o.name)}</div>
{"".join(paras)}
<div class="share">Share: Facebook · X · WhatsApp · Email</div>
</article>
<aside class="most-read"><h3>Most read</h3><ol>{reads}</ol></aside>
<section class="comments"><h3>Comments (0)</h3><p>Log in to comment.</p></section>
</main>
<footer><p>© {a.published.year} {e(o.name)}. All rights reserved. Reproduction without permission is prohibited.</p>
<ul><li>About us</li><li>Contact</li><li>Advertising</li><li>Privacy policy</li></ul></footer>
</body></html>"""
