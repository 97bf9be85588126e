"""Feed parsing and article extraction on the replay newsroom's real HTTP output and broken inputs."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from crawler import (
    ExtractionError,
    FeedEntry,
    FeedError,
    Fetcher,
    canonicalize,
    extract_article,
    fetch_article,
    poll_feed,
)
from spreadwatch.localserver import LocalServer, static
from spreadwatch.newsroom import Newsroom
from spreadwatch.settings import HttpSettings

HTTP = HttpSettings(per_host_delay=0, retries=0, read_timeout=3, obey_robots=False, max_bytes=2_000_000)


def run(coro_fn):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        async with Fetcher(HTTP) as f:
            return await coro_fn(f)
    return asyncio.run(go())


@pytest.fixture(scope="module")
def newsroom():  # type: ignore[no-untyped-def]
    with Newsroom() as nr:
        yield nr


def test_rss_and_atom_feeds_parse_with_dates(newsroom: Newsroom) -> None:
    rss = run(lambda f: poll_feed(f, newsroom.feed_url("bild")))
    atom = run(lambda f: poll_feed(f, newsroom.feed_url("n1")))
    assert rss.warning is None and len(rss.entries) == len(newsroom.released("bild")) and rss.etag
    assert atom.warning is None and len(atom.entries) >= 5
    origin = next(e for e in rss.entries if "geheimdienste" in e.url)
    assert origin.published_at == datetime(2025, 2, 19, 6, 10, tzinfo=timezone.utc)
    assert all(e.published_at and e.published_at.tzinfo for e in atom.entries)


def test_second_poll_with_etag_is_304(newsroom: Newsroom) -> None:
    first = run(lambda f: poll_feed(f, newsroom.feed_url("telegrafi")))
    again = run(lambda f: poll_feed(f, newsroom.feed_url("telegrafi"), etag=first.etag))
    assert not first.not_modified and again.not_modified and again.entries == []


def test_malformed_feed_yields_entries_and_a_warning(newsroom: Newsroom) -> None:
    poll = run(lambda f: poll_feed(f, newsroom.feed_url("gazeta-express")))
    assert poll.warning and "malformed" in poll.warning
    expected = len(newsroom.released("gazeta-express"))
    assert expected >= 3 and len(poll.entries) == expected and all(e.url.startswith(newsroom.base_url) for e in poll.entries)


def test_html_page_instead_of_feed_is_a_clear_error(server: LocalServer) -> None:
    server.route("/feed", static("<!DOCTYPE html><html><body><h1>Welcome</h1></body></html>"))
    with pytest.raises(FeedError, match="HTML page, not a feed"):
        run(lambda f: poll_feed(f, server.url("/feed")))


def test_garbage_is_not_a_feed(server: LocalServer) -> None:
    server.route("/feed", static(b"\x00\x01 binary junk", "application/octet-stream"))
    with pytest.raises(FeedError, match="not a readable feed"):
        run(lambda f: poll_feed(f, server.url("/feed")))


def test_extraction_drops_boilerplate_and_keeps_the_body(newsroom: Newsroom) -> None:
    page = run(lambda f: f.get(newsroom.article_url("bild-geheimdienste-abzug")))
    ex = extract_article(page.content, page.final_url, encoding=page.encoding)
    assert "Italien" in ex.text and "Camp Bondsteel" in ex.text
    for clutter in ("cookies", "Most read", "All rights reserved", "Log in to comment"):
        assert clutter not in ex.text
    assert ex.title.startswith("Europa in Sorge")
    assert ex.language == "de"
    assert ex.canonical_url == "https://www.bild.de/bild-geheimdienste-abzug/"
    assert ex.published_at == datetime(2025, 2, 19, 6, 10, tzinfo=timezone.utc)


def test_windows_1250_page_keeps_its_diacritics(newsroom: Newsroom) -> None:
    page = run(lambda f: f.get(newsroom.article_url("b92-bild-prenosi")))
    assert page.encoding == "windows-1250"
    with pytest.raises(UnicodeDecodeError):
        page.content.decode("utf-8")
    ex = extract_article(page.content, page.final_url, encoding=page.encoding)
    assert "Vučića" in ex.text and "povlačenja" in ex.text and "Uroševca" in ex.text
    # with no HTTP charset, the page's own <meta charset> must be enough
    assert "Vučića" in extract_article(page.content, page.final_url).text


def test_links_in_body_are_canonical(newsroom: Newsroom) -> None:
    page = run(lambda f: f.get(newsroom.article_url("telegrafi-bild-terheqja")))
    ex = extract_article(page.content, page.final_url)
    assert "https://www.bild.de/bild-geheimdienste-abzug/" in ex.links


def test_broken_html_still_extracts() -> None:
    body = " ".join(["Ushtarët e KFOR-it patrulluan sot në veri të Kosovës pa incidente."] * 8)
    html = f"<html><body><div><article><p>{body}<p>Paragrafi tjetër <b>pa mbyllje".encode()
    ex = extract_article(html, "https://example.org/a")
    assert "patrulluan" in ex.text


def test_empty_and_javascript_pages_raise() -> None:
    with pytest.raises(ExtractionError, match="no article text"):
        extract_article(b"<html><body><nav>Menu</nav></body></html>", "https://example.org/e")
    app_shell = b"<html><body><div id='root'></div><script>" + b"var x=1;" * 5000 + b"</script></body></html>"
    with pytest.raises(ExtractionError, match="JavaScript"):
        extract_article(app_shell, "https://example.org/spa")


def test_fetch_article_falls_back_to_the_feed_summary(server: LocalServer) -> None:
    entry = FeedEntry(url=server.url("/missing"), title="Titulli", summary="Përmbledhja nga feed-i.",
                      published_at=datetime(2025, 2, 19, tzinfo=timezone.utc))
    draft = run(lambda f: fetch_article(f, "shembull", entry))
    assert draft.text == "Përmbledhja nga feed-i." and draft.title == "Titulli"
    assert draft.extraction_note and "404" in draft.extraction_note


@pytest.mark.parametrize("raw, expected", [
    ("HTTPS://WWW.Bild.DE:443/politik/a?utm_source=rss&id=7#comments", "https://www.bild.de/politik/a?id=7"),
    ("https://telegrafi.com/lajm/?fbclid=xyz", "https://telegrafi.com/lajm/"),
    ("http://example.org", "http://example.org/"),
    ("/a/b?ref=tw&page=2", "https://n1info.rs/a/b?page=2"),
])
def test_canonicalize(raw: str, expected: str) -> None:
    assert canonicalize(raw, base="https://n1info.rs/x/") == expected


BODY = "<p>" + "Parlamenti miratoi buxhetin e ri pas një debati të gjatë mbi pagat. " * 6 + "</p>"


def test_metadata_comes_from_the_first_usable_tag_in_page_order() -> None:
    page = f"""<html lang=" SR-latn "><head>
    <link rel="canonical"><link rel="canonical" href=" /lajme/a?utm_source=x ">
    <meta property="og:url" content="https://other.example/u">
    <meta property="og:title" content="  ">
    <meta content="no name at all">
    <meta name="pubdate" content="not a date">
    <meta itemprop="datePublished" content="2023-01-01T08:00:00+01:00">
    <meta property="article:published_time" content="2024-01-02T03:04:05Z">
    <meta name="article:published_time" content="2025-05-05T00:00:00Z">
    </head><body><h1>Lajme</h1><article><h1> Buxheti i ri </h1>{BODY}</article></body></html>"""
    ex = extract_article(page.encode(), "https://site.example/lajme/a")
    assert ex.canonical_url == "https://site.example/lajme/a"  # the first canonical link with an href
    assert ex.language == "sr"
    assert ex.title == "Buxheti i ri"  # a blank og:title is skipped; the article's h1 before the page's
    # article:published_time comes first among the date names, and its first tag wins
    assert ex.published_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def test_metadata_fallbacks_og_url_content_language_and_time() -> None:
    page = f"""<html><head><meta http-equiv="content-language" content="DE-de">
    <meta property="og:url" content="https://site.example/b"><title> Titel </title></head>
    <body><main><time>heute</time><time datetime="2022-02-02T10:00:00">x</time>{BODY}</main></body></html>"""
    ex = extract_article(page.encode(), "https://site.example/b?x=1")
    assert (ex.canonical_url, ex.language, ex.title) == ("https://site.example/b", "de", "Titel")
    assert ex.published_at == datetime(2022, 2, 2, 10, 0, tzinfo=timezone.utc)
