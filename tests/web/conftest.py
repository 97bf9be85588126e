"""One database for the web tests, served on 127.0.0.1 twice (open, and behind a token).

It holds two stories of the labelled replay corpus (the Bild rumour with its copies, translations
and three denials; the football story), and three hand-made ones: a hostile headline, a copy whose
title is a spreadsheet formula and whose address is a javascript: URL, and a small story spreading
right now (two outlets within the hour), which must top the list although it is narrow.
"""

from __future__ import annotations

import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from alerts.sinks import free_port
from bench.stories_eval import corpus_settings, drafts
from crawler.draft import ArticleDraft
from spreadwatch.ingest import ingest
from spreadwatch.replay import Corpus, load_corpus
from spreadwatch.settings import Settings
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage import Article, Database, Story
from web.app import create_app

HOSTILE = "<script>alert(1)</script> Hostile [/bold] headline"
FORMULA = '=HYPERLINK("https://evil.example/","click me")'
ESCAPES = "Breaking \x1b[2J\x07 news\u202e desrever"  # a terminal escape, a bell, a right-to-left override
ESCAPES_SHOWN = "Breaking  [2J  news desrever"  # what a reader sees: controls as spaces, the override gone
BAD_URL = "javascript:alert(document.domain)//"
TOKEN = "s3cret token/with&odd=chars"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CORPUS_STORIES = {"bild-kosovo-withdrawal", "football-withdrawal"}


@dataclass
class Site:
    base: str
    locked: str
    db_url: str
    settings: Settings
    corpus: Corpus
    app: FastAPI

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.base + path, timeout=30, **kw)

    def story_titled(self, title: str) -> dict[str, Any]:
        return next(s for s in self.get("/api/stories", params={"limit": 500}).json() if s["title"] == title)


CHROMIUM = "/usr/bin/chromium"  # Debian's package (.ci/run installs it); Playwright downloads nothing
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium through Playwright, closed on the way out; a clear failure if it is missing."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, timeout=30000)
        try:
            yield browser
        finally:
            browser.close()


def serve(app: FastAPI, port: int) -> uvicorn.Server:
    """Start uvicorn in a thread and wait (at most 15 s) until it listens."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, f"uvicorn did not start on 127.0.0.1:{port}"
    return server


def fill(db: Database, settings: Settings, corpus: Corpus) -> None:
    """The corpus stories, then the hand-made ones."""
    for label, draft in drafts(corpus):
        if corpus.article(label).labels.story in CORPUS_STORIES:
            with db.session() as s:
                ingest(s, draft, settings)
    when = corpus.article("bild-geheimdienste-abzug").published
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for draft in hand_made(when, now):
        with db.session() as s:
            ingest(s, draft, settings)
            stored_raw(s, draft)


def stored_raw(s: Session, draft: ArticleDraft) -> None:
    """The title as a database from before ingest cleaned titles holds it: what the rendering must
    still make safe."""
    article = s.scalars(select(Article).where(Article.canonical_url == draft.canonical_url)).one()
    s.execute(update(Story).where(Story.id == article.story_id, Story.title == article.title).values(title=draft.title))
    article.title = draft.title


def hand_made(when: datetime, now: datetime) -> list[ArticleDraft]:
    formula_text = "A municipal tender for school heating was cancelled after a complaint " * 12
    fresh_text = "Flooding closed the mountain road between two villages early this morning " * 12
    return [
        _draft("zeri", "https://zeri.info/hostile/", HOSTILE, "Nothing to see here at all " * 40, when),
        _draft("telegrafi", "https://telegrafi.com/tender/", ESCAPES, formula_text, when + timedelta(hours=30)),
        _draft("noa", BAD_URL, FORMULA, formula_text, when + timedelta(hours=31)),
        _draft("ntv", "https://ntv.al/flood/", "Road closed by floods", fresh_text, now - timedelta(hours=2)),
        _draft("zeri", "https://zeri.info/flood/", "Rruga e mbyllur nga përmbytjet", fresh_text,
               now - timedelta(hours=1)),
    ]


def _draft(outlet: str, url: str, title: str, text: str, published: datetime) -> ArticleDraft:
    return ArticleDraft(outlet_key=outlet, url=url, canonical_url=url, title=title, text=text, language="sq",
                        published_at=published)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    db_url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'web.db'}"
    corpus = load_corpus()
    settings = corpus_settings(corpus, db_url)
    fill(Database(db_url), settings, corpus)
    open_app, locked_app = create_app(settings), create_app(settings, token=TOKEN)
    port, locked = free_port(), free_port()
    servers = [serve(open_app, port), serve(locked_app, locked)]
    yield Site(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{locked}", db_url, settings, corpus, locked_app)
    for srv in servers:
        srv.should_exit = True


@pytest.fixture(scope="session")
def rumour(site: Site) -> dict[str, Any]:
    """The Bild rumour's history, as the API gives it."""
    top = next(s for s in site.get("/api/stories", params={"limit": 500}).json() if s["outlet_count"] >= 15)
    return site.get(f"/api/stories/{top['id']}").json()
