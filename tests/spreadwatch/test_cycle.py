"""The polling cycle against a real local HTTP server: poll state, 304s, failures, nothing lost."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from sqlalchemy import func, select

from spreadwatch.cycle import backoff, run_once
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


def settings_for(db_url: str, feeds: dict[str, str]) -> Settings:
    base = load_settings()
    outlets = [OutletConfig(key=k, name=k.title(), country="XK", language="sq", feeds=[{"url": u}])
               for k, u in feeds.items()]
    http = HttpSettings(per_host_delay=0, per_host_concurrency=4, retries=1, backoff_base=0.05,
                        read_timeout=3, connect_timeout=2, obey_robots=False)
    return base.with_overrides(database_url=db_url, outlets=outlets, http=http)


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


def test_backoff_grows_and_is_capped() -> None:
    settings = load_settings()
    steps = [backoff(n, settings).total_seconds() for n in range(1, 12)]
    assert steps == sorted(steps)
    assert steps[-1] == settings.poll.max_backoff_minutes * 60
