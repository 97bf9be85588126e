"""The spiders against recorded sites shaped like the real ones (WordPress, Pangea, two custom CMSs, a
JSON API, a bot wall), served over HTTP on 127.0.0.1: what is stored, what is recorded on each
outlet, what is never requested, and that nothing already stored is lost."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select

from crawler.draft import ArticleDraft
from spiders import CrawlReport, run_crawl
from spreadwatch.ingest import ingest
from spreadwatch.settings import HttpSettings, OutletConfig, Settings, load_settings
from storage import Article, Database, Outlet
from tests.spiders.conftest import RecordedSite, Sites, start_all

USER_AGENT = "spreadwatch-tests/1.0 (+https://example.org/spreadwatch; media monitoring)"
HTTP = HttpSettings(user_agent=USER_AGENT, per_host_delay=0, per_host_concurrency=4, retries=0,
                    read_timeout=5, total_timeout=10, max_bytes=200_000)
CUTOFF = datetime(2025, 2, 18, tzinfo=timezone.utc)  # the recorded sitemaps' "recent" begins here
SITEMAP_AGE = (datetime.now(timezone.utc) - CUTOFF).total_seconds() / 3600

WP_KNOWN = "/kfor-patrullon-ne-veri-te-kosoves/"  # stored from the feed before any crawl
ARTICLE_PATHS = {
    "wordpress": ["/bild-shba-mund-te-terheqin-trupat-nga-kosova/", "/ministria-e-mbrojtjes-lajmi-i-bild-eshte-dezinformate/",
                  "/kfor-pergjigjet-per-ushtaret-amerikane/", "/kfor-patrullon-ne-veri-te-kosoves/"],
    "pangea": ["/a/ministria-e-mbrojtjes-shkrimi-i-bild-dezinformate/33321401.html",
               "/a/serbia-reagon-per-trupat-amerikane/33321600.html", "/a/kfor-shba-mbeten-ne-kosove/33321455.html"],
    "custom": ["/lajmi/2025/02/231456.html"],
    "tanjug": ["/srbija/politika/1163452/vucic-nismo-dobili-nikakvo-obavestenje-o-povlacenju-americkih-vojnika/vest"],
    "trt": ["/ballkani/kfor-vazhdon-misionin-ne-kosove-pavaresisht-spekulimeve-19502.html",
            "/bota/trump-dhe-nato-ja-debati-per-trupat-ne-evrope-19497.html"],
}


def outlets_for(sites: dict[str, RecordedSite]) -> list[dict[str, Any]]:
    """One outlet per recorded site, configured as a user would in outlets.yaml."""
    wp, pangea, noa = sites["wordpress"].base_url, sites["pangea"].base_url, sites["custom"].base_url
    return [
        {"key": "gazeta-express", "name": "Gazeta Express", "country": "XK", "language": "sq",
         "listings": [{"url": wp + "/", "link_selector": "h2.entry-title a",
                       "next_selector": "a.next.page-numbers::attr(href)", "max_pages": 2}]},
        {"key": "evropaelire", "name": "Radio Evropa e Lirë", "country": "XK", "language": "sq",
         "sitemaps": [{"url": pangea + "/sitemap.xml", "url_pattern": r"/a/[^/]+/\d+\.html$",
                       "max_age_hours": SITEMAP_AGE}]},
        {"key": "noa", "name": "Noa.al", "country": "AL", "language": "sq",
         "listings": [{"url": noa + "/", "link_selector": '//div[@class="news-list"]//h3/a/@href',
                       "url_pattern": r"/lajmi/\d{4}/\d{2}/\d+\.html"},
                      {"url": noa + "/arkiva/", "link_selector": "h3 a::attr(href)"}]},
        {"key": "tanjug", "name": "Tanjug", "country": "RS", "language": "sr",
         "sitemaps": [{"url": sites["tanjug"].url("/sitemap/news.xml"), "max_age_hours": SITEMAP_AGE}]},
        {"key": "trt-balkan-sq", "name": "TRT Balkan Albanian", "country": "TR", "language": "sq",
         "json_endpoints": [{"url": sites["trt"].url("/api/homepage"), "items_path": "data.latest", "url_field": "path"}]},
        {"key": "kosovapress", "name": "KosovaPress", "country": "XK", "language": "sq",
         "listings": [{"url": sites["kosovapress"].url("/"), "link_selector": "h2 a"}]},
    ]


def settings_for(db_url: str, outlets: list[dict[str, Any]]) -> Settings:
    return load_settings().with_overrides(database_url=db_url, http=HTTP,
                                          outlets=[OutletConfig.model_validate(o) for o in outlets])


def store_beforehand(settings: Settings, sites: dict[str, RecordedSite]) -> dict[str, str]:
    """Articles already in the database before any crawl (found earlier by a feed): url -> text."""
    drafts = [
        ArticleDraft(outlet_key="gazeta-express", url=sites["wordpress"].url(WP_KNOWN),
                     canonical_url=sites["wordpress"].url(WP_KNOWN), via="feed",
                     title="KFOR patrullon në veri të Kosovës pas tensioneve në Ibër",
                     text="Teksti nga feed-i: ushtarët e KFOR-it kanë shtuar patrullat në urën mbi Ibër."),
        ArticleDraft(outlet_key="kosovapress", url="https://kosovapress.com/kfor-shton-patrullat-ne-mitrovice/",
                     canonical_url="https://kosovapress.com/kfor-shton-patrullat-ne-mitrovice/", via="feed",
                     title="KFOR shton patrullat në Mitrovicë",
                     text="KFOR-i ka shtuar patrullat në Mitrovicë, njofton misioni, pas tensioneve të javës së kaluar."),
    ]
    with Database(settings.database_url).session() as s:
        for d in drafts:
            assert ingest(s, d, settings).created
    return {d.url: d.text for d in drafts}


def stored(db_url: str) -> dict[str, Article]:
    """Every stored article by the address it was found at (detached, fields loaded)."""
    with Database(db_url).session() as s:
        arts = list(s.scalars(select(Article)))
        for a in arts:
            _ = a.outlet.key
        s.expunge_all()
    return {a.url: a for a in arts}


def outlet_rows(db_url: str) -> dict[str, Outlet]:
    with Database(db_url).session() as s:
        rows = list(s.scalars(select(Outlet)))
        s.expunge_all()
    return {o.key: o for o in rows}


def errors_of(report: CrawlReport, key: str) -> str:
    return "\n".join(report.outlets[key].errors)


def test_recorded_sites_crawl_store_and_record(sites: Sites, sqlite_url: str) -> None:
    settings = settings_for(sqlite_url, outlets_for(start_all(sites)))
    before = store_beforehand(settings, sites)
    report = run_crawl(settings, timeout=240)
    assert report.error is None, report.summary()
    arts = stored(sqlite_url)
    wp, pangea, noa = sites["wordpress"], sites["pangea"], sites["custom"]

    # WordPress: two listing pages (max_pages 2), the shortlink kept as found, the stored one not asked for
    assert arts[wp.url("/bild-shba-mund-te-terheqin-trupat-nga-kosova/")].title.startswith("Bild: SHBA mund")
    shortlink = arts[wp.url("/?p=48215")]
    assert shortlink.canonical_url == wp.url("/ministria-e-mbrojtjes-lajmi-i-bild-eshte-dezinformate/")
    assert wp.url("/kfor-pergjigjet-per-ushtaret-amerikane/") in arts  # from page 2
    assert wp.hits("/page/2/") and not wp.hits("/page/3/")  # the page limit
    assert not wp.hits(WP_KNOWN)  # already stored: no request at all
    assert not wp.hits("/premium/analize-cfare-do-te-thote-largimi-i-amerikaneve/")  # robots.txt
    assert not wp.hits("/arkiva-shkurt-2025-buxheti-i-komunave/")  # only in the sidebar and on page 3
    wp_text = " ".join(a.text for a in arts.values() if a.outlet.key == "gazeta-express")
    assert "600 ushtarë" in wp_text
    for clutter in ("Përshëndetje nga Gjermania", "Menaxho pëlqimin", "Të ngjashme", "Lini një koment"):
        assert clutter not in wp_text  # comments, cookie banner, related posts, comment form
    assert report.outlets["gazeta-express"].errors == []

    # Pangea: index -> news sitemap and the gzipped February archive; January and old entries skipped
    assert {pangea.url(p) for p in ARTICLE_PATHS["pangea"][:2]} <= set(arts)
    assert len(pangea.hits("/sitemap_2025_02.xml.gz")) == 1 and not pangea.hits("/sitemap_2025_01.xml.gz")
    assert not pangea.hits("/a/numerimi-i-votave-ne-qkk/33290010.html")  # older than max_age_hours
    assert not pangea.hits("/av/ushtaret-amerikane-ne-bondsteel/33321500.html")  # a video: url_pattern
    assert len(pangea.hits(ARTICLE_PATHS["pangea"][0])) == 1  # in two sitemaps, requested once
    assert "HTTP 429" in errors_of(report, "evropaelire") and "rate limited" in errors_of(report, "evropaelire")
    rel = arts[pangea.url(ARTICLE_PATHS["pangea"][0])]
    assert rel.published_at is not None and rel.published_at.replace(tzinfo=timezone.utc) == \
        datetime(2025, 2, 19, 10, 12, tzinfo=timezone.utc)
    assert "Ky uebfaqe përdor cookies" not in rel.text and "4.700 ushtarë" in rel.text

    # custom CMS: one good article, and each broken page named on the outlet
    assert noa.url("/lajmi/2025/02/231456.html") in arts
    noa_errors = errors_of(report, "noa")
    assert "redirect loop" in noa_errors and "231460.html" in noa_errors
    assert 1 <= len(noa.hits("/lajmi/2025/02/231460.html")) <= 2  # stopped at the first repeat
    assert "larger than the 200000 byte limit" in noa_errors and "231470.html" in noa_errors
    assert "needs JavaScript" in noa_errors and "231475.html" in noa_errors
    assert "robots.txt forbids" in noa_errors and not noa.hits("/arkiva/")
    assert not any(a.url.endswith(("231460.html", "231470.html", "231475.html")) for a in arts.values())
    assert not noa.hits("/promo/oferta-shkurt")

    # windows-1250 declared only in <meta>
    tanjug = arts[sites["tanjug"].url(ARTICLE_PATHS["tanjug"][0])]
    assert "Predsednik Srbije Aleksandar Vučić" in tanjug.text and "međunarodnih snaga" in tanjug.text
    assert tanjug.title.startswith("Vučić: Nismo dobili") and "\ufffd" not in tanjug.text
    assert not sites["tanjug"].hits("/region/kosovo/1150021/izbori-na-kosovu-zakazani-za-februar/vest")

    # JSON endpoint: a relative and an absolute path; the item without one is skipped
    assert {sites["trt"].url(p) for p in ARTICLE_PATHS["trt"]} <= set(arts)

    # the bot wall: a 403 on the outlet, and its earlier article untouched
    assert "HTTP 403" in errors_of(report, "kosovapress")

    # every article went through ingest(): via spider, placed in a story
    spidered = [a for a in arts.values() if a.via == "spider"]
    assert len(spidered) == 9 and all(a.story_id for a in spidered)
    assert report.ingested == 9
    for url, text in before.items():
        assert arts[url].text == text and arts[url].via == "feed"

    # the honest User-Agent on every request, robots.txt included
    for site in sites.values():
        assert site.server.requests and {r.headers.get("user-agent") for r in site.server.requests} == {USER_AGENT}

    rows = outlet_rows(sqlite_url)
    assert rows["kosovapress"].failures == 1 and "403" in (rows["kosovapress"].last_error or "")
    assert rows["kosovapress"].last_ok_at is None
    assert rows["noa"].failures == 4 and rows["noa"].last_ok_at is not None
    assert rows["gazeta-express"].failures == 0 and rows["gazeta-express"].last_error is None
    assert "429" in (rows["evropaelire"].last_error or "")

    shown = show_outlets(sqlite_url)
    assert "403" in shown["kosovapress"]["last_error"] and shown["kosovapress"]["last_ok_at"] is None
    assert shown["gazeta-express"]["articles_24h"] == 4 and shown["gazeta-express"]["last_ok_at"]
    assert shown["noa"]["failures"] == 4

    crawl_again_fetches_no_article(settings, sites, sqlite_url, len(arts))


def crawl_again_fetches_no_article(settings: Settings, sites: dict[str, RecordedSite], db_url: str,
                                   count: int) -> None:
    """A second crawl in the same process: discovery pages again, no stored article page again."""
    hits = {(name, p): len(sites[name].hits(p)) for name, paths in ARTICLE_PATHS.items() for p in paths}
    again = run_crawl(settings, timeout=240)
    assert again.error is None and again.ingested == 0
    assert again.outlets["gazeta-express"].known == 4  # the shortlink included, by the address found
    assert again.outlets["trt-balkan-sq"].known == 2 and again.outlets["tanjug"].known == 1
    assert again.outlets["evropaelire"].known == 2  # one of them is in two sitemaps: counted once
    for (name, path), n in hits.items():
        if path != ARTICLE_PATHS["pangea"][2]:  # the 429 is not stored, so it is asked for again
            assert len(sites[name].hits(path)) == n, path
    assert len(sites["pangea"].hits(ARTICLE_PATHS["pangea"][2])) == 2
    assert len(stored(db_url)) == count


def show_outlets(db_url: str) -> dict[str, dict[str, Any]]:
    """`spreadwatch outlets --json`, run as a user would."""
    cfg = Path(db_url.removeprefix("sqlite:///")).with_name("outlets-cmd.yaml")
    cfg.write_text(f"database_url: {db_url}\n")
    shown = subprocess.run([sys.executable, "-m", "spreadwatch", "outlets", "--json", "--config", str(cfg)],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    return {r["key"]: r for r in json.loads(shown.stdout)}
