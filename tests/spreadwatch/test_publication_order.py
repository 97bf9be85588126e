"""A cycle stores its feeds' new articles in publication order across feeds (spreadwatch.cycle.PublicationOrder)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from sqlalchemy import select

import spreadwatch.ingest as ingest_module
from crawler.draft import ArticleDraft, FeedEntry
from spreadwatch.cycle import PublicationOrder, run_once
from spreadwatch.localserver import LocalServer, Response, static
from storage import Article, Database

from tests.spreadwatch.test_cycle import PAGE, settings_for

T0 = datetime(2025, 2, 19, 6, 0, tzinfo=timezone.utc)
TOPICS = ["Buxheti i komunës së Ferizajt u miratua pas një debati të gjatë në kuvend",
          "Stuhia e borës mbylli rrugën nga Prizreni për në Brezovicë për dy ditë",
          "Klubi i basketbollit nga Peja fitoi ndeshjen e tretë radhazi në kampionat",
          "Spitali rajonal në Gjilan mori pajisje të reja për repartin e kardiologjisë"]


def _serve(server: LocalServer, feeds: int, per_feed: int, slow_feed: int) -> dict[str, str]:
    """`feeds` outlets whose entries interleave in time (feed k publishes at hours k, k+feeds, ...);
    the pages of `slow_feed` answer late, so feed by feed its articles would be stored last."""
    urls = {}
    for k in range(feeds):
        items = []
        for j in range(per_feed):
            n = k + j * feeds
            path = f"/o{k}/a{n}/"
            when = T0 + timedelta(hours=n)
            items.append(f"<item><title>Lajm {n}</title><link>{server.url(path)}</link><guid>{n}</guid>"
                         f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate></item>")
            body = f"{TOPICS[n % len(TOPICS)]}, njoftoi zyra numër {n * 37 + 101} sot në mëngjes."
            html = PAGE.format(title=f"Lajm {n}: {TOPICS[n % len(TOPICS)][:40]}", body=body, canonical=server.url(path))
            if k == slow_feed:
                server.route(path, lambda req, h=html: Response(200, h.encode(), {"Content-Type": "text/html"}, delay=0.4))
            else:
                server.route(path, static(html))
        feed = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>O{k}</title>'
                f"<link>{server.url('/')}</link><description>x</description>{''.join(reversed(items))}</channel></rss>")
        server.route(f"/o{k}.xml", static(feed, "application/rss+xml"))
        urls[f"o{k}"] = server.url(f"/o{k}.xml")
    return urls


@pytest.mark.parametrize("window", [60.0, 0.0])
def test_a_cycle_stores_its_feeds_articles_in_publication_order(server: LocalServer, db_url: str, window: float,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(db_url, _serve(server, feeds=3, per_feed=4, slow_feed=0))
    settings = settings.with_overrides(poll=settings.poll.model_copy(update={"order_window_seconds": window}))
    replayed: list[int] = []
    real = ingest_module.place_article

    def counting(*a, **k):  # type: ignore[no-untyped-def]
        p = real(*a, **k)
        replayed.append(p.replayed)
        return p

    monkeypatch.setattr(ingest_module, "place_article", counting)
    db = Database(db_url)
    report = run_once(settings, db=db)
    assert report.new == 12 and all(f.status == "ok" for f in report.feeds)
    with db.session() as s:
        stored = [a.title for a in s.scalars(select(Article).order_by(Article.id))]
    by_time = [f"Lajm {n}" for n in range(12)]
    if window:
        assert [t.split(":")[0] for t in stored] == by_time  # across feeds, earliest published first
        assert sum(replayed) == 0
    else:  # feed by feed, each in its own order: a feed's four articles stored together
        assert [t.split(":")[0] for t in stored] != by_time
        feeds = [int(t.split(":")[0].split()[1]) % 3 for t in stored]
        assert [feeds[i] for i in (0, 4, 8)] == [feeds[i + 3] for i in (0, 4, 8)]
        assert sorted(feeds[i] for i in (0, 4, 8)) == [0, 1, 2]


def _draft(hours: float) -> ArticleDraft:
    return ArticleDraft("x", f"https://x.example/{hours}", f"https://x.example/{hours}", f"t{hours}", "",
                        published_at=T0 + timedelta(hours=hours))


def test_an_article_waits_only_for_feeds_that_can_bring_an_earlier_one() -> None:
    async def scenario() -> list[str]:
        order = PublicationOrder(window=30)
        stored: list[str] = []

        def store(d: ArticleDraft) -> str:
            stored.append(d.title)
            return d.title

        order.expect(1, [FeedEntry("u", published_at=T0 + timedelta(hours=2))])
        order.expect(2, [FeedEntry("v", published_at=T0 + timedelta(hours=1)),
                         FeedEntry("w", published_at=T0 + timedelta(hours=3))])
        second = asyncio.ensure_future(order.store(2, [_draft(3), _draft(1)], store))
        for _ in range(50):
            await asyncio.sleep(0.01)
        # 1h is older than anything feed 1 can bring: stored; 3h waits for feed 1's 2h
        assert stored == ["t1"] and not second.done()
        first = await order.store(1, [_draft(2)], store)
        assert first == ["t2"] and await second == ["t1", "t3"]
        order.close()
        return stored

    assert asyncio.run(scenario()) == ["t1", "t2", "t3"]


def test_a_feed_that_never_hands_in_holds_the_others_for_the_window_only() -> None:
    async def scenario() -> tuple[list[str], float]:
        order = PublicationOrder(window=0.3)
        stored: list[str] = []
        order.expect(1, [FeedEntry("u", published_at=T0)])  # its pages never come
        order.expect(2, [FeedEntry("v", published_at=T0 + timedelta(hours=1))])
        t = time.monotonic()
        result = await asyncio.wait_for(order.store(2, [_draft(1)], lambda d: stored.append(d.title) or d.title), 10)
        waited = time.monotonic() - t
        order.close()
        return result, waited

    result, waited = asyncio.run(scenario())
    assert result == ["t1"] and waited >= 0.3


def test_one_articles_error_is_its_feeds_and_the_others_are_stored() -> None:
    async def scenario() -> tuple[BaseException | list[str], list[str]]:
        order = PublicationOrder(window=30)

        def store(d: ArticleDraft) -> str:
            if d.title == "t2":
                raise RuntimeError("database is on fire")
            return d.title

        order.expect(1, [FeedEntry("u", published_at=T0 + timedelta(hours=2))])
        order.expect(2, [FeedEntry("v", published_at=T0 + timedelta(hours=1))])
        one, two = await asyncio.gather(order.store(1, [_draft(2), _draft(4)], store),
                                        order.store(2, [_draft(1), _draft(3)], store), return_exceptions=True)
        order.close()
        return one, two  # type: ignore[return-value]

    one, two = asyncio.run(scenario())
    assert isinstance(one, RuntimeError) and "on fire" in str(one)
    assert two == ["t1", "t3"]
