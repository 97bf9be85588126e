"""The bundled replay corpus is consistent, and the newsroom serves it like real sites do."""

from __future__ import annotations

from datetime import datetime, timezone

import feedparser
import httpx

from spreadwatch.newsroom import Newsroom
from spreadwatch.replay import load_corpus


def test_corpus_is_large_varied_and_consistent() -> None:
    c = load_corpus()
    assert len(c.articles) >= 60
    assert {a.language for a in c.articles} >= {"de", "sq", "sr", "en", "it"}
    assert len(c.stories) >= 8
    kinds = {a.labels.kind for a in c.articles}
    assert kinds >= {"origin", "copy", "edited-copy", "translation", "attribution", "same-event", "denial"}
    by_id = {a.id: a for a in c.articles}
    for a in c.articles:  # every labelled source is earlier and in the same story (checked on load too)
        if a.labels.source:
            assert by_id[a.labels.source].published < a.published
    cyrillic = [a for a in c.articles if any("\u0400" <= ch <= "\u04ff" for ch in a.body)]
    assert cyrillic, "Serbian Cyrillic copies are part of the point"


def test_copies_share_their_source_text() -> None:
    c = load_corpus()
    copy = c.article("ntv-terheqja-kopje")
    assert copy.body == c.article("telegrafi-bild-terheqja").body and copy.title != c.article(
        "telegrafi-bild-terheqja").title


def test_feeds_pages_and_conditional_get() -> None:
    with Newsroom() as nr, httpx.Client() as http:
        r = http.get(nr.feed_url("telegrafi"))
        feed = feedparser.parse(r.content)
        assert r.status_code == 200 and not feed.bozo and len(feed.entries) == len(nr.released("telegrafi"))
        assert http.get(nr.feed_url("telegrafi"), headers={"If-None-Match": r.headers["etag"]}).status_code == 304

        atom = feedparser.parse(http.get(nr.feed_url("n1")).content)
        assert atom.version == "atom10" and atom.entries

        broken = feedparser.parse(http.get(nr.feed_url("gazeta-express")).content)
        assert broken.bozo and broken.entries

        page = http.get(nr.article_url("b92-bild-prenosi"))
        assert page.headers["content-type"] == "text/html; charset=windows-1250"
        assert "Vučić" in page.content.decode("windows-1250")

        assert "Disallow: /noa/private/" in http.get(nr.base_url + "/robots.txt").text
        sitemap = http.get(nr.base_url + "/oranews/sitemap-news.xml").text
        assert "news:publication_date" in sitemap and "oranews-terheqja-kopje" in sitemap


def test_release_until_publishes_over_time() -> None:
    with Newsroom(now=datetime(2025, 2, 19, 7, 0, tzinfo=timezone.utc)) as nr, httpx.Client() as http:
        before = http.get(nr.feed_url("telegrafi"))
        titles = [e.title for e in feedparser.parse(before.content).entries]
        assert "Bild: Italia përgatitet për tërheqjen e trupave amerikane nga Kosova" in titles  # 06:52
        assert not any("Rutte" in t or "Politico" in t for t in titles)  # not yet published
        nr.release_until(datetime(2025, 3, 11, tzinfo=timezone.utc))  # the Rutte copy is out by then
        after = http.get(nr.feed_url("telegrafi"), headers={"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
        assert len(feedparser.parse(after.content).entries) > len(titles)
