"""The web app on 127.0.0.1: the JSON API's shapes, filters, the token, escaping; and a real headless
Chromium (Debian's package, driven by Playwright) loading the pages and counting what the timeline draws."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import uvicorn

from alerts.sinks import free_port
from bench.stories_eval import corpus_settings, drafts
from crawler.draft import ArticleDraft
from spreadwatch.ingest import ingest
from spreadwatch.replay import load_corpus
from storage import Database
from web.app import create_app

HOSTILE = "<script>alert(1)</script> Hostile headline"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM = "/usr/bin/chromium"


def serve(app, port: int) -> uvicorn.Server:  # type: ignore[no-untyped-def]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    return server


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[dict]:  # type: ignore[no-untyped-def]
    db_url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'w.db'}"
    corpus = load_corpus()
    settings = corpus_settings(corpus, db_url)
    db = Database(db_url)
    wanted = {"bild-kosovo-withdrawal", "football-withdrawal"}
    for label, draft in drafts(corpus):
        if corpus.article(label).labels.story in wanted:
            with db.session() as s:
                ingest(s, draft, settings)
    with db.session() as s:
        ingest(s, ArticleDraft(outlet_key="zeri", url="https://zeri.info/hostile/", canonical_url="https://zeri.info/hostile/",
                               title=HOSTILE, text="Nothing to see " * 40, language="en",
                               published_at=corpus.article("bild-geheimdienste-abzug").published), settings)
    port, locked = free_port(), free_port()
    servers = [serve(create_app(settings), port), serve(create_app(settings, token="s3cret"), locked)]
    yield {"base": f"http://127.0.0.1:{port}", "locked": f"http://127.0.0.1:{locked}", "corpus": corpus}
    for srv in servers:
        srv.should_exit = True


def test_api_shapes_and_filters(site: dict) -> None:
    stories = httpx.get(site["base"] + "/api/stories").json()
    top = stories[0]
    assert top["title"].startswith("Europa in Sorge") and top["outlet_count"] >= 15
    assert set(top) == {"id", "title", "status", "outlet_count", "article_count", "languages", "countries",
                        "watches", "first_seen", "last_seen", "origin_article_id"}
    h = httpx.get(f"{site['base']}/api/stories/{top['id']}").json()
    assert h["origin"]["outlet"] == "bild" and len(h["articles"]) == top["article_count"] and len(h["denials"]) == 3
    only_it = httpx.get(site["base"] + "/api/stories", params={"language": "it"}).json()
    assert [s["id"] for s in only_it] == [top["id"]]
    by_outlet = httpx.get(site["base"] + "/api/stories", params={"outlet": "noa"}).json()
    assert [s["id"] for s in by_outlet] == [top["id"]]
    watched = httpx.get(site["base"] + "/api/stories", params={"watch": "kfor-withdrawal"}).json()
    assert top["id"] in [s["id"] for s in watched] and len(watched) < len(stories)
    assert httpx.get(site["base"] + "/api/stories/999999").status_code == 404
    spec = httpx.get(site["base"] + "/openapi.json").json()
    assert "/api/stories/{story_id}" in spec["paths"]


def test_token_is_enforced(site: dict) -> None:
    assert httpx.get(site["locked"] + "/api/stories").status_code == 401
    assert httpx.get(site["locked"] + "/api/stories", params={"token": "s3cret"}).status_code == 200
    assert httpx.get(site["locked"] + "/", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert httpx.get(site["locked"] + "/", params={"token": "wrong"}).status_code == 401


def test_hostile_headline_is_escaped_in_html_and_svg(site: dict) -> None:
    page = httpx.get(site["base"] + "/").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    stories = httpx.get(site["base"] + "/api/stories").json()
    hostile = next(s for s in stories if s["title"] == HOSTILE)
    svg = httpx.get(f"{site['base']}/stories/{hostile['id']}/timeline.svg").text
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_browser_draws_the_timeline_and_shows_hostile_text_as_text(site: dict) -> None:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    stories = httpx.get(site["base"] + "/api/stories").json()
    top = stories[0]
    n = top["article_count"]
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(site["base"] + "/", timeout=15000)
        assert page.locator("tr.story-row").count() == len(stories)
        assert page.get_by_text(HOSTILE).count() == 1  # shown as text
        page.goto(f"{site['base']}/stories/{top['id']}", timeout=15000)
        assert page.locator("svg.sw-timeline .sw-point").count() == n
        assert page.locator("svg.sw-timeline .sw-denial").count() == 3
        assert page.locator("svg.sw-timeline .sw-arrow").count() == n - 1
        assert page.locator("tr.article-row").count() == n
        page.screenshot(path=str(ARTIFACTS / "story-page.png"), full_page=True)
        browser.close()
    assert dialogs == []
    assert (ARTIFACTS / "story-page.png").stat().st_size > 10_000
