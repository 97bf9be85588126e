"""The polling cycle against a real local HTTP server: poll state, 304s, failures, nothing lost."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import event, func, select

from crawler.draft import ArticleDraft
from spreadwatch.cycle import backoff, poll_due, publication_order, run_once
from spreadwatch.localserver import LocalServer, Request, Response, static
from spreadwatch.settings import HttpSettings, OutletConfig, Settings, load_settings
from storage import Article, Database, Feed, Outlet

PAGE = """<!doctype html><html lang="sq"><head><meta charset="utf-8"><title>{title}</title>
<link rel="canonical" href="{canonical}"></head><body>
<nav><a href="/">Ballina</a> <a href="/lajme">Lajme</a> <a href="/sport">Sport</a></nav>
<article><h1>{title}</h1>
<p>{body}</p>
<p>Ministria e Mbrojtjes nuk ka komentuar ende lajmin, ndërsa analistët kërkojnë qetësi dhe
presin një deklaratë zyrtare nga Uashingtoni gjatë ditëve në vijim.</p>
<p>Në misionin e KFOR-it shërbejnë mijëra ushtarë nga dhjetëra vende, ndër to edhe Shtetet e Bashkuara.</p>
</article><footer>© Portali shembull, të gjitha të drejtat e rezervuara.</footer></body></html>"""

BODIES = {
    "a1": ("SHBA mund të tërheqin trupat nga KFOR",
           "Sipas gazetës gjermane Bild, Italia po përgatitet për një tërheqje të mundshme të trupave "
           "amerikane nga Kosova, ku SHBA kanë mbi 600 ushtarë në KFOR."),
    "a2": ("Moti i ftohtë vazhdon në Prishtinë",
           "Temperaturat do të mbeten nën zero gjatë gjithë javës, paralajmërojnë meteorologët."),
}


def rss(base: str, ids: list[str]) -> str:
    items = "".join(
        f"<item><title>{BODIES[i][0]}</title><link>{base}/lajme/{i}/?utm_source=rss</link>"
        f"<guid>{i}</guid><pubDate>Wed, 19 Feb 2025 08:0{n}:00 GMT</pubDate>"
        f"<description>{BODIES[i][1][:60]}</description></item>"
        for n, i in enumerate(ids))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Shembull</title>'
            f"<link>{base}/</link><description>lajme</description>{items}</channel></rss>")


def serve_newsroom(srv: LocalServer, ids: list[str]) -> None:
    def feed(req: Request) -> Response:
        body = rss(srv.base_url, ids).encode()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        if req.headers.get("if-none-match") == etag:
            return Response(304, b"", {"ETag": etag})
        return Response(200, body, {"Content-Type": "application/rss+xml", "ETag": etag})

    srv.route("/feed.xml", feed)
    for i, (title, body) in BODIES.items():
        canonical = f"{srv.base_url}/lajme/{i}/"
        srv.route(f"/lajme/{i}/", static(PAGE.format(title=title, body=body, canonical=canonical)))


def settings_for(db_url: str, feeds: dict[str, str | dict[str, object]], **http: object) -> Settings:
    base = load_settings()
    outlets = [OutletConfig(key=k, name=k.title(), country="XK", language="sq",
                            feeds=[u if isinstance(u, dict) else {"url": u}])
               for k, u in feeds.items()]
    limits = HttpSettings(**{"per_host_delay": 0, "per_host_concurrency": 4, "retries": 1, "backoff_base": 0.05,
                             "read_timeout": 3, "connect_timeout": 2, "obey_robots": False, **http})
    return base.with_overrides(database_url=db_url, outlets=outlets, http=limits)


def test_cycle_stores_articles_and_second_poll_is_304(server: LocalServer, db_url: str) -> None:
    serve_newsroom(server, ["a1", "a2"])
    settings = settings_for(db_url, {"shembull": server.url("/feed.xml")})
    db = Database(db_url)
    first = run_once(settings, db=db)
    assert [f.status for f in first.feeds] == ["ok"]
    assert first.new == 2 and first.feeds[0].matched == 1
    with db.session() as s:
        urls = sorted(s.scalars(select(Article.canonical_url)))
        feed = s.scalars(select(Feed)).one()
        assert feed.etag and feed.failures == 0 and feed.last_ok_at is not None
    assert urls == [server.url("/lajme/a1/"), server.url("/lajme/a2/")]  # tracking params gone

    second = run_once(settings, db=db)
    assert [f.status for f in second.feeds] == ["not-modified"] and second.new == 0
    assert server.hits("/feed.xml")[-1].headers["if-none-match"] == feed.etag
    assert len(server.hits("/lajme/a1/")) == 1  # not fetched again


def test_failing_feed_is_recorded_and_backs_off_without_losing_anything(server: LocalServer, db_url: str) -> None:
    serve_newsroom(server, ["a1"])
    server.route("/broken.xml", static("server on fire", "text/plain", status=500))
    settings = settings_for(db_url, {"shembull": server.url("/feed.xml"), "broken": server.url("/broken.xml")})
    db = Database(db_url)
    run_once(settings, db=db)
    report = run_once(settings, db=db)
    by_outlet = {f.outlet: f for f in report.feeds}
    assert by_outlet["broken"].status == "error" and "500" in (by_outlet["broken"].error or "")
    with db.session() as s:
        broken = s.scalars(select(Feed).where(Feed.url == server.url("/broken.xml"))).one()
        outlet = s.scalars(select(Outlet).where(Outlet.key == "broken")).one()
        assert broken.failures == 2 and "500" in (broken.last_error or "")
        assert broken.next_poll_at is not None and broken.next_poll_at > datetime.now(timezone.utc)
        assert outlet.last_error and outlet.failures == 2
        assert s.scalar(select(func.count(Article.id))) == 1  # the good feed's article is intact
    # and the operator sees it
    shown = subprocess.run([sys.executable, "-m", "spreadwatch", "outlets", "--json", "--db", db_url],
                           capture_output=True, text=True, timeout=60, check=True)
    rows = {r["key"]: r for r in json.loads(shown.stdout)}
    assert rows["broken"]["failures"] == 2 and "500" in rows["broken"]["last_error"]
    assert rows["broken"]["feeds"][0]["failures"] == 2 and "500" in rows["broken"]["feeds"][0]["last_error"]
    retry_at = datetime.fromisoformat(rows["broken"]["feeds"][0]["next_poll_at"].replace("Z", "+00:00"))
    assert retry_at > datetime.now(timezone.utc)  # the feed's backoff, shown to the operator
    assert rows["shembull"]["failures"] == 0 and rows["shembull"]["last_error"] is None


def test_backoff_grows_and_is_capped() -> None:
    settings = load_settings()
    steps = [backoff(n, settings).total_seconds() for n in range(1, 12)]
    assert steps == sorted(steps)
    assert steps[-1] == settings.poll.max_backoff_minutes * 60


def test_a_feed_hanging_to_its_timeout_holds_up_no_other_feed(server: LocalServer, db_url: str) -> None:
    serve_newsroom(server, ["a1", "a2"])
    server.route("/slow.xml", lambda req: Response(200, b"<rss/>", {"Content-Type": "application/rss+xml"}, delay=6))
    # the good feed is polled every few seconds; the slow one would be too, were it not failing
    good = {"url": server.url("/feed.xml"), "interval_minutes": 0.02}
    settings = settings_for(db_url, {"shembull": good, "slow": {"url": server.url("/slow.xml"), "interval_minutes": 0.02}},
                            read_timeout=4, retries=0)
    settings = settings.with_overrides(poll=settings.poll.model_copy(update={"jitter_seconds": 0}))
    db = Database(db_url)
    report = run_once(settings, db=db)
    by_outlet = {f.outlet: f for f in report.feeds}
    assert by_outlet["slow"].status == "error" and "no complete answer" in (by_outlet["slow"].error or "")
    assert by_outlet["shembull"].status == "ok" and by_outlet["shembull"].new == 2
    with db.session() as s:
        feeds = {f.url: f for f in s.scalars(select(Feed))}
        fast, slow = feeds[server.url("/feed.xml")], feeds[server.url("/slow.xml")]
        # the good feed's fetch, two pages and two ingests were all recorded while the slow one hung
        assert fast.last_ok_at is not None and slow.last_polled_at is not None
        assert fast.last_ok_at < slow.last_polled_at
        assert slow.failures == 1 and slow.last_ok_at is None
        assert slow.next_poll_at is not None and slow.next_poll_at >= slow.last_polled_at + backoff(1, settings, 0.02)

    time.sleep(2)  # the good feed falls due again; the slow one is still backing off
    again = run_once(settings, db=db, force=False)
    assert [(f.outlet, f.status) for f in again.feeds] == [("shembull", "not-modified")]
    assert len(server.hits("/slow.xml")) == 1


def test_not_modified_answers_are_written_in_one_update_per_batch(server: LocalServer, db_url: str) -> None:
    serve_newsroom(server, ["a1"])
    feeds = {f"o{n}": server.url(f"/feed.xml?n={n}") for n in range(30)}
    # a generous read timeout: the first cycle's one article is placed on the event loop, and the
    # first placement loads the language resources, which under load held the loop past 3 s and
    # timed out feeds that then had no ETag to send
    settings = settings_for(db_url, feeds, retries=0, per_host_concurrency=8, read_timeout=30)
    db = Database(db_url)
    first = run_once(settings, db=db)  # ETags stored (and the one article, once)
    assert [f.status for f in first.feeds].count("error") == 0, [f.error for f in first.feeds if f.error]
    statements: list[tuple[str, bool]] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append((" ".join(statement.split()[:3]).upper(), executemany))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        report = asyncio.run(poll_due(db, settings, force=True))
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert [f.status for f in report.feeds] == ["not-modified"] * 30
    feed_updates = [m for st, m in statements if st.startswith("UPDATE FEED")]
    assert feed_updates == [True], statements  # one executemany for all 30 rows
    assert sum(st.startswith("UPDATE OUTLET") for st, _ in statements) <= 2
    work = [st for st, _ in statements if not st.startswith("BEGIN")]
    assert len(work) <= 4, statements  # the due feeds' read, the writes: not one per feed
    assert len(statements) - len(work) <= 2  # two transactions (on SQLite, storage says BEGIN itself)
    with db.session() as s:
        rows = list(s.scalars(select(Feed)))
        assert {f.last_status for f in rows} == {304} and len(rows) == 30
        assert all(f.next_poll_at and f.next_poll_at > datetime.now(timezone.utc) + timedelta(minutes=5) for f in rows)
        assert s.scalar(select(func.count(Article.id))) == 1


def test_a_feeds_entries_are_stored_oldest_first_undated_after_in_reverse_feed_order() -> None:
    def draft(name: str, hour: int | None) -> ArticleDraft:
        when = datetime(2025, 2, 19, hour, tzinfo=timezone.utc) if hour is not None else None
        return ArticleDraft("o", f"https://o.example/{name}", f"https://o.example/{name}", name, "", published_at=when)

    feed = [draft("n1", None), draft("d9", 9), draft("n2", None), draft("d7", 7), draft("d8", 8)]  # newest first
    assert [d.title for d in publication_order(feed)] == ["d7", "d8", "d9", "n2", "n1"]
    assert publication_order([]) == []
