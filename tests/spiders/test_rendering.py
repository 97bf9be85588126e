"""JavaScript-rendered outlets through the real headless Chromium (Debian's, driven by scrapy-playwright)
against a recorded single-page-app portal on 127.0.0.1: a listing and articles that exist only after
their scripts ran, the same politeness and health as any request, a hanging script and an endless
one stopped at the deadline, blocked images/fonts/media, the page budget, and `check --network`."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from spiders import run_crawl
from spiders.rendering import chromium_missing, script_only, wait_selector
from spreadwatch.settings import HttpSettings
from tests.spiders.conftest import Sites
from tests.spiders.test_sites import USER_AGENT, errors_of, outlet_rows, settings_for, stored

# a short deadline: the hanging pages must be given up on it, and the good ones fit in it easily
HTTP = HttpSettings(user_agent=USER_AGENT, per_host_delay=0, per_host_concurrency=2, retries=0,
                    read_timeout=8, total_timeout=8, max_bytes=200_000)
GOOD = ("/lajme/kfor-shba-mbeten", "/lajme/patrulla-ne-ure")
NEVER_FETCHED = ("/img/kreu.jpg", "/fonts/portali.woff2", "/media/klip.mp4", "/private/lajme/draft")


@pytest.fixture(autouse=True)
def needs_chromium() -> None:
    missing = chromium_missing()
    if missing:  # a failure, not a skip: .ci/run installs it
        pytest.fail(missing)


def portal(sites: Sites, **outlet: Any) -> dict[str, Any]:
    site = sites["rendered"]
    listing = {"url": site.url("/"), "link_selector": "a.lajm::attr(href)"}
    return {"key": "portali", "name": "Portali", "country": "XK", "language": "sq", "render": True,
            "listings": [listing], **outlet}


def test_a_script_only_site_is_crawled_through_the_browser(sites: Sites, sqlite_url: str) -> None:
    settings = settings_for(sqlite_url, [portal(sites)]).with_overrides(http=HTTP)
    report = run_crawl(settings, timeout=240)
    assert report.error is None, report.summary()
    site = sites["rendered"]
    arts = stored(sqlite_url)
    kfor = arts[site.url(GOOD[0])]
    assert kfor.title == "KFOR: SHBA mbeten me mbi 600 ushtarë në Kosovë" and kfor.via == "spider"
    assert "më shumë se 600 ushtarë" in kfor.text and "Duke u ngarkuar" not in kfor.text
    assert kfor.published_at is not None
    assert kfor.published_at.replace(tzinfo=timezone.utc) == datetime(2025, 2, 19, 15, 20, tzinfo=timezone.utc)
    assert kfor.story_id is not None  # through ingest(), like every spider article
    assert set(arts) == {site.url(p) for p in GOOD}
    # the page's own API calls ran in the browser, with our User-Agent, as every request did
    assert site.hits("/api/te-fundit.json") and site.hits("/api/artikulli/kfor-shba-mbeten.json")
    assert {r.headers.get("user-agent") for r in site.server.requests} == {USER_AGENT}
    for path in NEVER_FETCHED:  # blocked resources, and the page robots.txt closes
        assert not site.hits(path), path
    # the hanging script and the endless one: given up at the deadline, named on the outlet
    errors = errors_of(report, "portali")
    for path in ("/lajme/pritje", "/lajme/cikel"):
        assert f"{site.url(path)}: the page did not finish in the browser in time" in errors, errors
    assert report.outlets["portali"].ingested == 2
    row = outlet_rows(sqlite_url)["portali"]
    assert row.failures == 2 and row.last_ok_at is not None
    assert "did not finish in the browser" in (row.last_error or "")
    again = run_crawl(settings, timeout=240)  # stored articles are not rendered again
    assert again.ingested == 0 and again.outlets["portali"].known == 2
    assert len(site.hits(GOOD[0])) == 1


def test_without_rendering_the_same_site_is_reported_not_stored(sites: Sites, sqlite_url: str) -> None:
    settings = settings_for(sqlite_url, [portal(sites, render=False)]).with_overrides(http=HTTP)
    report = run_crawl(settings, timeout=120)
    errors = errors_of(report, "portali")
    assert "the selector 'a.lajm::attr(href)' found no links" in errors
    assert stored(sqlite_url) == {} and not sites["rendered"].hits("/api/te-fundit.json")


def test_render_pattern_renders_only_the_pages_it_matches(sites: Sites, sqlite_url: str) -> None:
    site = sites["rendered"]
    outlet = portal(sites, render=False, render_pattern=r"/lajme/",
                    listings=[{"url": site.url("/arkivi/"), "link_selector": "a.lajm::attr(href)"}])
    settings = settings_for(sqlite_url, [outlet]).with_overrides(http=HTTP)
    report = run_crawl(settings, timeout=240)
    assert report.error is None and report.outlets["portali"].errors == []
    assert set(stored(sqlite_url)) == {site.url(p) for p in GOOD}


def test_the_page_budget_bounds_rendering_per_crawl(sites: Sites, sqlite_url: str) -> None:
    site = sites["rendered"]
    outlet = portal(sites, render=False, render_pattern=r"/lajme/",
                    listings=[{"url": site.url("/arkivi/"), "link_selector": "a.lajm::attr(href)"}])
    settings = settings_for(sqlite_url, [outlet]).with_overrides(http=HTTP)
    report = run_crawl(settings, timeout=240, render_pages=1)
    assert report.outlets["portali"].ingested == 1
    errors = report.outlets["portali"].errors
    assert len(errors) == 1 and "budget of 1 rendered pages (--render-pages) is spent" in errors[0]
    assert len(stored(sqlite_url)) == 1
    assert run_crawl(settings, timeout=240, render_pages=1).outlets["portali"].ingested == 1  # the next crawl


def test_without_chromium_rendered_outlets_say_so(sites: Sites, sqlite_url: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPREADWATCH_CHROMIUM", "/nonexistent/chromium")
    settings = settings_for(sqlite_url, [portal(sites)]).with_overrides(http=HTTP)
    report = run_crawl(settings, timeout=120)
    assert "there is no Chromium at /nonexistent/chromium" in errors_of(report, "portali")
    assert stored(sqlite_url) == {} and not sites["rendered"].server.requests  # nothing was even asked


def test_check_network_names_outlets_that_look_javascript_only(sites: Sites, tmp_path: Path) -> None:
    site = sites["rendered"]
    outlets = [portal(sites, render=False),
               {"key": "arkivi", "name": "Arkivi", "listings": [{"url": site.url("/arkivi/"),
                                                                  "link_selector": "a.lajm::attr(href)"}]},
               {"key": "rendered-already", "name": "Rendered", "render": True,
                "listings": [{"url": site.url("/"), "link_selector": "a.lajm::attr(href)"}]}]
    cfg = tmp_path / "check.yaml"
    cfg.write_text(yaml.safe_dump({"default_outlets": False, "database_url": f"sqlite:///{tmp_path / 'c.db'}",
                                   "outlets": outlets}), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "spreadwatch", "check", "--network", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "portali" in run.stdout and "looks JavaScript-only" in run.stdout and "render: true" in run.stdout
    assert "no link for 'a.lajm::attr(href)' without them" in run.stdout
    assert "arkivi" not in run.stdout.replace("/arkivi/", "") and "rendered-already" not in run.stdout


def test_script_only_pages_and_wait_selectors() -> None:
    shell = b"<html><body><div id=app></div><script src=/app.js></script></body></html>"
    assert script_only(shell, "https://x.example/") is not None
    assert script_only(shell, "https://x.example/", "a.story::attr(href)") is not None
    words = " ".join(["fjalë"] * 80)
    page = f"<html><body><p>{words}</p><a class=story href=/a>a</a><script></script></body></html>".encode()
    assert script_only(page, "https://x.example/") is None
    assert script_only(page, "https://x.example/", "a.story::attr(href)") is None
    assert script_only(b"<html><body><p>short</p></body></html>", "https://x.example/") is None  # no scripts
    assert wait_selector({"link_selector": "h2.entry-title a::attr(href)"}) == "h2.entry-title a"
    assert wait_selector({"link_selector": "//h3/a/@href"}) is None
    assert wait_selector({"link_selector": "a", "wait_for": "#app li"}) == "#app li"


def test_the_size_cap_holds_for_rendered_pages(sites: Sites, sqlite_url: str) -> None:
    small = HTTP.model_copy(update={"max_bytes": 25_000})  # the article shells render to about 31 KB
    site = sites["rendered"]
    outlet = portal(sites, render=False, render_pattern=r"/lajme/",
                    listings=[{"url": site.url("/arkivi/"), "link_selector": "a.lajm::attr(href)"}])
    report = run_crawl(settings_for(sqlite_url, [outlet]).with_overrides(http=small), timeout=240)
    errors = errors_of(report, "portali")
    for path in GOOD:
        assert f"{site.url(path)}: rendered page too large: " in errors and "over the 25000 byte limit" in errors
    assert stored(sqlite_url) == {}


def test_which_pages_render() -> None:
    from spiders.rendering import outlet_renders, renders_listing, renders_page
    from spreadwatch.settings import OutletConfig

    plain = OutletConfig(key="a", name="A", listings=[{"url": "https://a.example/"}])
    assert not outlet_renders(plain) and not renders_page(plain, "https://a.example/x")
    one = OutletConfig(key="b", name="B", listings=[{"url": "https://b.example/", "render": True},
                                                    {"url": "https://b.example/arkiv/"}])
    assert outlet_renders(one) and renders_listing(one, one.listings[0]) and not renders_listing(one, one.listings[1])
    assert not renders_page(one, "https://b.example/lajm/1")  # a rendered listing, plain articles
    every = OutletConfig(key="c", name="C", render=True, listings=[{"url": "https://c.example/", "render": False}])
    assert not renders_listing(every, every.listings[0]) and renders_page(every, "https://c.example/lajm/1")
    pattern = OutletConfig(key="d", name="D", render_pattern=r"/app/")
    assert renders_page(pattern, "https://d.example/app/1") and not renders_page(pattern, "https://d.example/1")
