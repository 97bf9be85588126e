"""The spiders against real local servers: the replay newsroom's sitemap and listing outlets, and
a hand-made site with Pangea-style (/a/<slug>/<id>.html) and WordPress-style (/YYYY/MM/DD/<slug>/) article
addresses, robots rules, a 403, a redirect loop, an oversized page, windows-1250, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from spiders import run_crawl
from spreadwatch.localserver import LocalServer, Response, static
from spreadwatch.newsroom import Newsroom
from spreadwatch.settings import HttpSettings, OutletConfig, load_settings
from storage import Article, Database, Outlet

HTTP = HttpSettings(per_host_delay=0, per_host_concurrency=4, retries=0, read_timeout=3, total_timeout=5,
                    max_bytes=200_000)
BODY = " ".join(["Ushtarët e KFOR-it dhe policia patrulluan urën në Mitrovicë gjatë ditës së enjte."] * 12)


def page(title: str, body: str = BODY, charset: str = "utf-8") -> str:
    return (f'<!doctype html><html lang="sq"><head><meta charset="{charset}"><title>{title}</title></head>'
            f"<body><nav>Menu</nav><article><h1>{title}</h1><p>{body}</p></article></body></html>")


def settings_for(db_url: str, outlets: list[dict]) -> object:
    return load_settings().with_overrides(database_url=db_url, http=HTTP,
                                          outlets=[OutletConfig.model_validate(o) for o in outlets])


def titles(db_url: str) -> set[str]:
    with Database(db_url).session() as s:
        return set(s.scalars(select(Article.title)))


def test_newsroom_sitemap_and_listing_outlets_join_the_story(sqlite_url: str) -> None:
    with Newsroom() as nr:
        outlets = [o for o in nr.outlets_config() if o["key"] in ("oranews", "noa", "telegrafi")]
        settings = settings_for(sqlite_url, outlets)
        from spreadwatch.cycle import run_once

        run_once(settings)  # telegrafi by feed
        report = run_crawl(settings)  # oranews by sitemap, noa by listing
        assert report.error is None and report.ingested == 2, report
        assert not any(o.errors for o in report.outlets.values())
        source = nr.corpus.article("telegrafi-bild-terheqja").title
        with Database(sqlite_url).session() as s:
            arts = list(s.scalars(select(Article)))
            stories = {a.outlet.key: a.story_id for a in arts if a.outlet.key != "telegrafi"}
            stories["telegrafi"] = next(a.story_id for a in arts if a.title == source)
            vias = {a.outlet.key: a.via for a in arts}
        assert stories["oranews"] == stories["noa"] == stories["telegrafi"]
        assert vias["oranews"] == vias["noa"] == "spider"
        # the second crawl fetches no article page it already stored
        before = len(nr.server.hits("/oranews/oranews-terheqja-kopje/"))
        again = run_crawl(settings)
        assert again.ingested == 0 and again.skipped_known == 2
        assert len(nr.server.hits("/oranews/oranews-terheqja-kopje/")) == before


def test_robots_403_loop_oversize_encoding_and_json(server: LocalServer, sqlite_url: str) -> None:
    base = server.base_url
    server.route("/robots.txt", static("User-agent: *\nDisallow: /private/\n", "text/plain"))
    links = "".join(f'<h2><a href="{p}">x</a></h2>' for p in
                    ("/a/kfor-patrullon-ne-veri/33312345.html", "/private/secret/", "/a/loop/", "/a/huge/", "/a/cp1250/", "/a/spa/"))
    server.route("/lajme/", static(f"<html><body>{links}</body></html>"))
    server.route("/a/kfor-patrullon-ne-veri/33312345.html", static(page("Artikulli i parë")))
    server.route("/private/secret/", static(page("Secret")))
    server.route("/a/loop/", lambda r: Response(302, b"", {"Location": "/a/loop/"}))
    server.route("/a/huge/", static(page("Huge", BODY * 300)))  # ~300 KB, over max_bytes
    sr = page("Srpski članak", "Vučić je rekao da će povlačenje vojske biti završeno uskoro. " * 10, "windows-1250")
    server.route("/a/cp1250/", static(sr.encode("windows-1250"), "text/html; charset=windows-1250"))
    shell = "<html><body><div id='app'></div><script>" + "window.x=1;" * 4000 + "</script></body></html>"
    server.route("/a/spa/", static(shell))
    server.route("/api/home", static(json.dumps({"data": {"items": [{"link": "/2025/02/19/nga-json/"}]}}), "application/json"))
    server.route("/2025/02/19/nga-json/", static(page("Nga JSON")))
    server.route("/blocked/", lambda r: Response(403, b"go away"))
    outlets = [
        {"key": "site", "name": "Site", "language": "sq",
         "listings": [{"url": base + "/lajme/", "link_selector": "h2 a::attr(href)"}],
         "json_endpoints": [{"url": base + "/api/home", "items_path": "data.items", "url_field": "link"}]},
        {"key": "blocked", "name": "Blocked", "listings": [{"url": base + "/blocked/"}]},
    ]
    report = run_crawl(settings_for(sqlite_url, outlets))
    assert report.error is None
    got = titles(sqlite_url)
    assert {"Artikulli i parë", "Srpski članak", "Nga JSON"} <= got
    assert "Secret" not in got and server.hits("/private/secret/") == []  # robots.txt obeyed
    assert "Huge" not in got  # over max_bytes: not stored
    with Database(sqlite_url).session() as s:
        text = s.scalar(select(Article.text).where(Article.title == "Srpski članak"))
        blocked = s.scalar(select(Outlet).where(Outlet.key == "blocked"))
        assert "Vučić" in text and "povlačenje" in text
        assert blocked.failures >= 1 and "403" in blocked.last_error and "refused" in blocked.last_error
    assert any("403" in e for e in report.outlets["blocked"].errors)
    site_errors = " ".join(report.outlets["site"].errors)
    assert "JavaScript" in site_errors  # an app shell with no text is reported, not stored
    assert "robots" not in site_errors  # obeying robots.txt is not a failure of the outlet
    assert 1 <= len(server.hits("/a/loop/")) <= 9  # the redirect loop ended, bounded

    cfg = Path(sqlite_url.removeprefix("sqlite:///")).with_name("c.yaml")
    cfg.write_text(f"database_url: {sqlite_url}\n")
    shown = subprocess.run([sys.executable, "-m", "spreadwatch", "outlets", "--json", "--config", str(cfg)],
                           capture_output=True, text=True, timeout=60)
    rows = {r["key"]: r for r in json.loads(shown.stdout)}
    assert "403" in rows["blocked"]["last_error"] and rows["site"]["articles_24h"] == 3
