"""The real poller (`run --once` and the cycle behind it) against hostile servers on 127.0.0.1:
trickling feeds and pages, a cycle past its deadline, one bad byte in a UTF-8 feed, a feed of
10,000 items. Memory is measured inside the test where a response could blow it."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import yaml
from sqlalchemy import select

from spreadwatch.cycle import run_once
from spreadwatch.localserver import LocalServer, Request, Response, static
from spreadwatch.settings import HttpSettings, OutletConfig, PollSettings, Settings, load_settings
from storage import Article, Database, Feed
from tests.crawler.memory import MB, PeakMemory

T0 = datetime(2025, 2, 19, 6, 0, tzinfo=timezone.utc)
PAGE = """<!doctype html><html lang="sq"><head><title>{title} - Shembull</title></head><body>
<article><h1>{title}</h1><p>{body}</p><p>{body}</p><p>{body}</p></article></body></html>"""
BODY = ("Ushtarët e KFOR-it vazhduan patrullimet e rregullta në veri të Kosovës, ndërsa zyrtarët "
        "thanë se situata mbetet e qetë dhe nën kontroll.")


def rss(items: list[tuple[str, str, datetime, str]], channel: str = "Lajme") -> bytes:
    """An RSS 2.0 feed of (link, title, published, summary), in the order given."""
    body = "".join(f"<item><title>{t}</title><link>{link}</link><guid>{link}</guid>"
                   f"<pubDate>{format_datetime(when)}</pubDate><description>{s}</description></item>"
                   for link, t, when, s in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{channel}</title>'
            f"<link>https://example.org/</link><description>lajme</description>{body}</channel></rss>").encode()


def serve_outlet(server: LocalServer, key: str, n: int = 2) -> None:
    """A well-behaved outlet: a feed of n items and their pages."""
    items = []
    for i in range(n):
        link = server.url(f"/{key}/lajm-{i}/")
        title = f"Lajmi {i} nga {key}: patrullimet vazhdojnë"
        server.route(f"/{key}/lajm-{i}/", static(PAGE.format(title=title, body=BODY)))
        items.append((link, title, T0 + timedelta(minutes=i), "Përmbledhje e shkurtër."))
    server.route(f"/{key}.xml", static(rss(items), "application/rss+xml"))


def write_config(tmp_path: Path, feeds: dict[str, str], http: dict[str, object],
                 poll: dict[str, object]) -> Path:
    config = {"default_outlets": False, "database_url": f"sqlite:///{tmp_path / 'sw.db'}",
              "http": {"per_host_delay": 0, "per_host_concurrency": 8, "obey_robots": False,
                       "connect_timeout": 2, "backoff_base": 0.1, **http},
              "poll": {"jitter_seconds": 0, **poll},
              "outlets": [{"key": k, "name": k.title(), "language": "sq", "feeds": [u]} for k, u in feeds.items()]}
    path = tmp_path / "spreadwatch.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run_cli(config: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "spreadwatch", "run", "--once", "--config", str(config)],
                          capture_output=True, text=True, timeout=120)
    return done, time.monotonic() - t0


def startup_seconds(config: Path) -> float:
    """What the CLI costs before it polls anything (imports, config, database), on this machine now."""
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "spreadwatch", "check", "--config", str(config)],
                   capture_output=True, text=True, timeout=120)
    return time.monotonic() - t0


def feeds_by_url(db_url: str) -> dict[str, Feed]:
    with Database(db_url).session() as s:
        rows = list(s.scalars(select(Feed)))
        s.expunge_all()
    return {f.url: f for f in rows}


def stored(db_url: str) -> list[Article]:
    with Database(db_url).session() as s:
        rows = list(s.scalars(select(Article).order_by(Article.id)))
        s.expunge_all()
    return rows


def test_run_once_ends_at_its_cycle_deadline_whatever_one_server_does(server: LocalServer, tmp_path: Path) -> None:
    """A feed trickling one byte every half second would take minutes, and its request deadline
    (30 s) is set past the cycle's (4 s): the cycle stops it at 4 s, records why, keeps the rest."""
    serve_outlet(server, "mire")
    server.route("/trickle.xml", lambda r: Response(200, b"<rss>" + b" " * 400 + b"</rss>",
                                                     {"Content-Type": "application/rss+xml"}, trickle=0.5))
    config = write_config(tmp_path, {"mire": server.url("/mire.xml"), "pika": server.url("/trickle.xml")},
                          {"total_timeout": 30, "read_timeout": 10, "retries": 2}, {"cycle_deadline_seconds": 4})
    startup = startup_seconds(config)
    done, seconds = run_cli(config)
    assert done.returncode == 1, done.stderr  # a source failed (README: exit codes), the rest is stored
    assert seconds < startup + 4 + 5, (seconds, startup)  # the deadline plus a few seconds
    db_url = f"sqlite:///{tmp_path / 'sw.db'}"
    feeds = feeds_by_url(db_url)
    slow = feeds[server.url("/trickle.xml")]
    assert slow.failures == 1 and "deadline (4 s)" in (slow.last_error or "")
    assert feeds[server.url("/mire.xml")].last_ok_at is not None
    assert sorted(a.title for a in stored(db_url)) == ["Lajmi 0 nga mire: patrullimet vazhdojnë",
                                                       "Lajmi 1 nga mire: patrullimet vazhdojnë"]


def test_a_trickling_feed_and_page_cost_one_request_deadline_each(server: LocalServer, db_url: str) -> None:
    """Three attempts per request would cost 3 x 3 s for the feed, and as much again for the
    page behind a good feed; one deadline per request makes it 3 s each, one attempt each."""
    serve_outlet(server, "mire")
    server.route("/trickle.xml", lambda r: Response(200, b"<rss>" + b" " * 400 + b"</rss>",
                                                     {"Content-Type": "application/rss+xml"}, trickle=0.25))
    slow_page = server.url("/ngadalte/lajm/")
    server.route("/ngadalte.xml", static(rss([(slow_page, "Lajm i ngadaltë", T0, "Përmbledhja nga feed-i.")]),
                                         "application/rss+xml"))
    server.route("/ngadalte/lajm/", lambda r: Response(200, PAGE.format(title="x", body=BODY).encode(),
                                                        {"Content-Type": "text/html"}, trickle=0.25))
    settings = _settings(db_url, {"mire": server.url("/mire.xml"), "pika": server.url("/trickle.xml"),
                                  "ngadalte": server.url("/ngadalte.xml")},
                         HttpSettings(total_timeout=3, read_timeout=2, retries=2, backoff_base=0.1, per_host_delay=0,
                                      per_host_concurrency=8, obey_robots=False))
    t0 = time.monotonic()
    report = run_once(settings, db=Database(db_url))
    assert time.monotonic() - t0 < 3 + 3 + 4  # feed, then page: one deadline each, plus slack
    assert len(server.hits("/trickle.xml")) == 1 and len(server.hits("/ngadalte/lajm/")) == 1
    by_outlet = {f.outlet: f for f in report.feeds}
    assert by_outlet["pika"].status == "error" and "within the request's 3 s" in (by_outlet["pika"].error or "")
    assert by_outlet["mire"].new == 2 and by_outlet["ngadalte"].new == 1
    fallback = next(a for a in stored(db_url) if a.url == slow_page)
    assert fallback.text == "Përmbledhja nga feed-i." and "3 s" in (fallback.extraction_note or "")


def _settings(db_url: str, feeds: dict[str, str], http: HttpSettings, **poll: object) -> Settings:
    outlets = [OutletConfig(key=k, name=k.title(), language="sq", feeds=[{"url": u}]) for k, u in feeds.items()]
    return load_settings().with_overrides(database_url=db_url, outlets=outlets, http=http,
                                          poll=PollSettings(jitter_seconds=0, **poll))  # type: ignore[arg-type]


FAST = HttpSettings(per_host_delay=0, per_host_concurrency=8, retries=0, read_timeout=5, obey_robots=False)
ALBANIAN = ["Tërheqja e trupave amerikane nga Kosova, çfarë dihet deri tani",
            "Ministria e Mbrojtjes: lajmi për tërheqjen është dezinformatë"]
SERBIAN = ["Povlačenje američkih trupa sa Kosova: šta se zna", "Vučić: ne očekujemo promene u KFOR-u"]


def test_one_bad_byte_in_a_utf8_feed_costs_that_byte_only(server: LocalServer, db_url: str) -> None:
    """The pages are gone, so what is stored is the feed's own title and summary: every ë, ç, č,
    š, ž must survive the one invalid byte in the channel's description."""
    items = [(server.url(f"/gone/{i}/"), t, T0 + timedelta(minutes=i), f"{t} — përmbledhje, sažetak.")
             for i, t in enumerate(ALBANIAN + SERBIAN)]
    feed = rss(items).replace(b"<description>lajme</description>", b"<description>laj\xffme</description>")
    server.route("/feed.xml", static(feed, "application/rss+xml; charset=utf-8"))
    # a page with a stray byte and no charset anywhere: detection must not garble it either
    page = PAGE.format(title=SERBIAN[0], body=BODY + " Učešće je potvrđeno.").encode().replace(b"<p>", b"<p>\x92", 1)
    server.route("/gone/2/", static(page, "text/html"))
    settings = _settings(db_url, {"shembull": server.url("/feed.xml")}, FAST)
    run_once(settings, db=Database(db_url))
    articles = {a.url: a for a in stored(db_url)}
    assert sorted(a.title for a in articles.values()) == sorted(ALBANIAN + SERBIAN)
    for a in articles.values():
        if a.extraction_note:  # the feed's summary, stored as the feed wrote it
            assert a.text == f"{a.title} — përmbledhje, sažetak."
    assert "Učešće je potvrđeno" in articles[server.url("/gone/2/")].text
    warning = feeds_by_url(db_url)[server.url("/feed.xml")].last_warning or ""
    assert "1 byte sequence(s) invalid in its declared utf-8" in warning


def test_a_feed_of_10000_items_stores_the_newest_counts_the_rest_and_takes_them_later(
        server: LocalServer, db_url: str) -> None:
    """Listed oldest first, 10,000 items: the 50 newest are stored, the warning counts the 9,950
    left, the ETag is not kept so the next poll reads the feed whole and takes the next 50.
    The poll grows the process by less than 50 MB."""
    n = 10_000
    items = [(server.url(f"/a/{i}/"), f"Lajmi numër {i}: qeveria miraton vendimin", T0 + timedelta(minutes=i),
              f"Përmbledhje e shkurtër e lajmit {i}, me disa fjali për ngjarjen dhe reagimet e para.")
             for i in range(n)]
    big = rss(items)
    assert 3 * MB < len(big) < 5 * MB  # under the default size cap

    def feed(req: Request) -> Response:
        return Response(200, big, {"Content-Type": "application/rss+xml", "ETag": '"v1"'})
    server.route("/big.xml", feed)
    serve_outlet(server, "ngrohje", 3)  # the warm-up: imports and caches filled before measuring
    db = Database(db_url)
    run_once(_settings(db_url, {"ngrohje": server.url("/ngrohje.xml")}, FAST), db=db)
    settings = _settings(db_url, {"ngrohje": server.url("/ngrohje.xml"), "madh": server.url("/big.xml")}, FAST)

    with PeakMemory(trace=False) as peak:
        first = run_once(settings, db=db)
    peak.assert_below(50 * MB)
    report = next(f for f in first.feeds if f.outlet == "madh")
    assert report.entries == n and report.new == 50
    assert "10000 new entries" in (report.warning or "") and "9950 left for the next polls" in (report.warning or "")
    newest = {server.url(f"/a/{i}/") for i in range(n - 50, n)}
    assert {a.url for a in stored(db_url)} - _warmup(server) == newest
    row = feeds_by_url(db_url)[server.url("/big.xml")]
    assert row.etag is None and "9950 left" in (row.last_warning or "")

    second = run_once(settings, db=db)
    assert next(f for f in second.feeds if f.outlet == "madh").new == 50
    assert "if-none-match" not in server.hits("/big.xml")[-1].headers
    assert {a.url for a in stored(db_url)} - _warmup(server) == newest | {server.url(f"/a/{i}/") for i in range(n - 100, n - 50)}


def _warmup(server: LocalServer) -> set[str]:
    return {server.url(f"/ngrohje/lajm-{i}/") for i in range(3)}
