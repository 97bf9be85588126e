"""spreadwatch import FILE.warc.gz: a web archive written here with warcio from pages the replay
newsroom served over HTTP; each archived HTML response of a configured outlet goes through the
same extraction and ingest(), first seen when it was captured, published when the page says."""

from __future__ import annotations

import io
import subprocess
import sys
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import yaml
from sqlalchemy import func, select

from bench.stories_eval import corpus_settings
from spreadwatch.archive import ArchivedArticle, Skipped, import_archive, open_archive
from spreadwatch.newsroom import Newsroom
from spreadwatch.replay import ReplayArticle, load_corpus
from storage import Article, Database

KOSOVO = "bild-kosovo-withdrawal"
CAPTURE_DELAY = timedelta(minutes=25)  # the crawler that made the archive came by this long after


def iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Capture:
    """A WARC file being written, one gzip member per record, as crawlers (and warcio) write them."""

    def __init__(self, path: Path) -> None:
        from warcio.warcwriter import WARCWriter

        self.file = path.open("wb")
        self.writer = WARCWriter(self.file, gzip=True)

    def response(self, uri: str, status: str, headers: list[tuple[str, str]], body: bytes, when: datetime) -> None:
        from warcio.statusandheaders import StatusAndHeaders

        http = StatusAndHeaders(status, headers, protocol="HTTP/1.1")
        self.writer.write_record(self.writer.create_warc_record(
            uri, "response", payload=io.BytesIO(body), http_headers=http, warc_headers_dict={"WARC-Date": iso(when)}))

    def request(self, uri: str, when: datetime) -> None:
        from warcio.statusandheaders import StatusAndHeaders

        http = StatusAndHeaders(f"GET {uri} HTTP/1.1", [("User-Agent", "archiver")], is_http_request=True)
        self.writer.write_record(self.writer.create_warc_record(
            uri, "request", payload=io.BytesIO(b""), http_headers=http, warc_headers_dict={"WARC-Date": iso(when)}))

    def close(self) -> None:
        self.file.close()


def story_articles() -> list[ReplayArticle]:
    corpus = load_corpus()
    return sorted((a for a in corpus.articles if a.labels.story == KOSOVO), key=lambda a: a.published)


@pytest.fixture(scope="module")
def newsroom() -> Iterator[Newsroom]:
    with Newsroom() as nr:
        yield nr


def archive_of(newsroom: Newsroom, path: Path, articles: list[ReplayArticle]) -> Path:
    """What a crawler would have archived: each article page (the real bytes the newsroom serves,
    under the outlet's real address), the request before it, and around them pages that are no
    articles: a feed, a section front, a 404, another site's page; one article captured twice."""
    warc = Capture(path)
    for a in articles:
        page = httpx.get(newsroom.article_url(a.id), timeout=10)
        uri, when = newsroom.canonical_url(a), a.published + CAPTURE_DELAY
        warc.request(uri, when)
        warc.response(uri, "200 OK", [("Content-Type", page.headers["content-type"])], page.content, when)
    first = articles[0]
    outlet = newsroom.corpus.outlet(first.outlet)
    feed = httpx.get(newsroom.feed_url(first.outlet), timeout=10)
    late = first.published + timedelta(hours=6)
    warc.response(f"https://{outlet.domain}/feed/", "200 OK", [("Content-Type", "application/rss+xml")],
                  feed.content, late)
    front = b"<html><body><nav><a href='/politik/'>Politik</a></nav><p>Schlagzeilen</p></body></html>"
    warc.response(f"https://{outlet.domain}/politik/", "200 OK", [("Content-Type", "text/html")], front, late)
    warc.response(f"https://{outlet.domain}/gone/", "404 Not Found", [("Content-Type", "text/html")], b"no", late)
    warc.response("https://www.example.org/unrelated/", "200 OK", [("Content-Type", "text/html")],
                  httpx.get(newsroom.article_url(first.id), timeout=10).content, late)
    again = httpx.get(newsroom.article_url(first.id), timeout=10)  # a later capture of the same article
    warc.response(newsroom.canonical_url(first), "200 OK", [("Content-Type", again.headers["content-type"])],
                  again.content, late)
    warc.close()
    return path


def test_archived_pages_of_configured_outlets_are_extracted_and_ingested(newsroom: Newsroom, db_url: str,
                                                                         tmp_path: Path) -> None:
    articles = story_articles()[:6]
    path = archive_of(newsroom, tmp_path / "crawl.warc.gz", articles)
    settings = corpus_settings(newsroom.corpus, db_url)
    db = Database(db_url)
    records = list(open_archive(path, settings=settings).records())
    assert [r.line for r in records if isinstance(r, ArchivedArticle)] == [2, 4, 6, 8, 10, 12, 17]  # responses
    assert {r.reason for r in records if isinstance(r, Skipped)} == {
        "not HTML", "no article text (a section front, a gallery, a page that needs JavaScript)", "HTTP 404",
        "not a configured outlet's page"}
    report = import_archive(db, settings, records)
    assert (report.stored, report.known, report.bad, sum(report.skipped.values())) == (6, 1, [], 4)
    with db.session() as s:
        stored = {a.canonical_url: a for a in s.scalars(select(Article))}
        for a in articles:
            row = stored[newsroom.canonical_url(a)]
            assert row.via == "import" and row.url == newsroom.canonical_url(a)
            assert row.first_seen_at == a.published + CAPTURE_DELAY  # the capture time, not the import's
            assert row.published_at == a.published  # the page's own date
            assert row.title == a.title and "cookies" not in row.text  # extracted as a fetched page is
        # Bild's claim and its Albanian copies: one story, through the same placement as polled pages
        assert len({row.story_id for row in stored.values()}) == 1
    again = import_archive(db, settings, open_archive(path, settings=settings).records())
    assert (again.stored, again.known) == (0, 7)


def test_a_web_archive_that_breaks_off_keeps_what_came_before(newsroom: Newsroom, tmp_path: Path) -> None:
    articles = story_articles()[:3]
    whole = archive_of(newsroom, tmp_path / "whole.warc.gz", articles).read_bytes()
    cut = tmp_path / "cut.warc.gz"
    member = _gzip_members(whole)[2]  # the third record starts here
    cut.write_bytes(whole[:member] + b"this is not a gzip member or a WARC record" * 20)
    db_url = f"sqlite:///{tmp_path / 'cut.db'}"
    cfg = tmp_path / "newsroom.yaml"
    cfg.write_text(yaml.safe_dump({"default_outlets": False, "outlets": newsroom.outlets_config()}), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "spreadwatch", "import", str(cut), "--db", db_url, "--config",
                          str(cfg), "--no-alerts"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert run.stdout.startswith("1 stored, 0 already known, 0 bad lines")
    assert "record 3: not a readable WARC record" in run.stderr and "run it again to store the rest" in run.stderr
    whole_path = tmp_path / "whole.warc.gz"
    ok = subprocess.run([sys.executable, "-m", "spreadwatch", "import", str(whole_path), "--db", db_url,
                         "--config", str(cfg), "--no-alerts"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("2 stored, 2 already known, 0 bad lines, 4 skipped")
    assert "skipped: 1 not HTML, " in ok.stdout
    with Database(db_url).session() as s:
        assert s.scalar(select(func.count(Article.id))) == 3


def _gzip_members(data: bytes) -> list[int]:
    """Where each gzip member of a .warc.gz starts (each record is one member). Found by inflating
    them, not by looking for the gzip magic bytes, which a member's compressed bytes can hold."""
    starts, at = [], 0
    while at < len(data):
        starts.append(at)
        member = zlib.decompressobj(16 + zlib.MAX_WBITS)
        member.decompress(data[at:])
        at = len(data) - len(member.unused_data)
    return starts
