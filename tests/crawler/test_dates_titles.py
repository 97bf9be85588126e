"""Publication times and headlines: the forms pages write them in, and how sources are weighed."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from crawler import FeedEntry, Fetcher, fetch_article
from crawler.articles import reconcile_times
from crawler.dates import parse_stamp, url_stamp
from crawler.extract import extract_article
from crawler.titles import strip_affixes
from spreadwatch.localserver import LocalServer, static
from spreadwatch.settings import HttpSettings

UTC = timezone.utc


@pytest.mark.parametrize("value, when, has_time", [
    ("2023-04-28T10:15:00+02:00", datetime(2023, 4, 28, 8, 15, tzinfo=UTC), True),
    ("2023-04-28T10:15:00.000Z", datetime(2023, 4, 28, 10, 15, tzinfo=UTC), True),
    ("2024-02-19 08:42:00 +01:00", datetime(2024, 2, 19, 7, 42, tzinfo=UTC), True),
    ("2024-02-19T08:42:00+0100", datetime(2024, 2, 19, 7, 42, tzinfo=UTC), True),
    ("2024-02-19T08:42", datetime(2024, 2, 19, 8, 42, tzinfo=UTC), True),  # no offset: taken as UTC
    ("2024-02-19", datetime(2024, 2, 19, tzinfo=UTC), False),
    ("1739973600000", datetime(2025, 2, 19, 14, 0, tzinfo=UTC), True),  # epoch milliseconds
    ("1739973600", datetime(2025, 2, 19, 14, 0, tzinfo=UTC), True),  # epoch seconds
    ("Wed, 19 Feb 2025 06:10:00 GMT", datetime(2025, 2, 19, 6, 10, tzinfo=UTC), True),
    ("19.02.2025 - 14:05", datetime(2025, 2, 19, tzinfo=UTC), False),
    ("19.02.2025, 14:05", datetime(2025, 2, 19, 14, 5, tzinfo=UTC), True),
    ("20250219T061000Z", datetime(2025, 2, 19, 6, 10, tzinfo=UTC), True),
])
def test_times_in_the_forms_pages_write_them(value: str, when: datetime, has_time: bool) -> None:
    stamp = parse_stamp(value)
    assert stamp is not None and (stamp.when, stamp.has_time) == (when, has_time)


@pytest.mark.parametrize("value", ["", "heute", "2023-02-30", "1890-01-01", "2999-01-01T00:00:00Z", "99999999999999"])
def test_what_is_no_time_or_not_a_plausible_one(value: str) -> None:
    assert parse_stamp(value) is None


def test_dates_in_addresses() -> None:
    assert url_stamp("https://x.example/2023/04/28/a-story/").when == datetime(2023, 4, 28, tzinfo=UTC)  # type: ignore[union-attr]
    assert url_stamp("https://x.example/news/20230428-a-story").when == datetime(2023, 4, 28, tzinfo=UTC)  # type: ignore[union-attr]
    assert url_stamp("https://x.example/a-65470001") is None
    assert url_stamp("https://x.example/2023/13/45/x") is None


NAMES = ["dw", "dwcom", "deutschewelle", "welt", "telegrafi"]


@pytest.mark.parametrize("title, headline", [
    ("Kosovo: Italy weighs a larger KFOR role | DW | 28.04.2023", "Kosovo: Italy weighs a larger KFOR role"),
    ("Bundeswehr prüft längeren Einsatz im Kosovo - WELT", "Bundeswehr prüft längeren Einsatz im Kosovo"),
    ("WELT - Bundeswehr prüft längeren Einsatz im Kosovo", "Bundeswehr prüft längeren Einsatz im Kosovo"),
    ("Serbia, Kosovo and the EU: what comes next | Europe | DW", "Serbia, Kosovo and the EU: what comes next"),
    ("Bild: Italia përgatitet për tërheqjen - Telegrafi", "Bild: Italia përgatitet për tërheqjen"),
    ("Pour le néolibéralisme : la retraite est un archaïsme", "Pour le néolibéralisme : la retraite est un archaïsme"),
    ("A headline without any site name", "A headline without any site name"),
])
def test_site_affixes_come_off_and_headlines_stay_whole(title: str, headline: str) -> None:
    assert strip_affixes(title, NAMES) == headline


BODY = "<p>" + "Parlamenti miratoi buxhetin e ri pas një debati të gjatë mbi pagat dhe pensionet. " * 5 + "</p>"


def test_the_outlets_configured_name_takes_the_prefix_off() -> None:
    page = f"""<html><head><title>Portali Ynë | Buxheti u miratua</title></head>
    <body><div>{BODY}</div></body></html>""".encode()
    assert extract_article(page, "https://lajme.example/a").title == "Portali Ynë | Buxheti u miratua"
    assert extract_article(page, "https://lajme.example/a", site_names=["Portali Ynë"]).title == "Buxheti u miratua"


def test_a_meta_publication_time_beats_json_ld_and_a_modified_time_is_never_taken() -> None:
    """On the trafilatura evaluation pages the two disagreed on 3 pages, the meta tag right each time."""
    page = f"""<html><head>
    <meta property="article:modified_time" content="2024-03-01T10:00:00Z">
    <meta property="article:published_time" content="2024-02-27T09:00:00Z">
    <script type="application/ld+json">{{"@type":"NewsArticle","datePublished":"2024-02-25T08:00:00Z",
    "dateModified":"2024-03-01T10:00:00Z"}}</script></head><body><article>{BODY}</article></body></html>"""
    assert extract_article(page.encode(), "https://x.example/a").published_at == datetime(2024, 2, 27, 9, tzinfo=UTC)
    only_modified = page.replace('property="article:published_time"', 'property="og:updated_time"')
    only_modified = only_modified.replace('"datePublished":"2024-02-25T08:00:00Z",', "")
    assert extract_article(only_modified.encode(), "https://x.example/a").published_at is None


def test_meta_names_that_only_sound_like_publication_are_not_read_as_times() -> None:
    """'article:publisher' holds an address, and addresses hold dates: not the article's."""
    page = f"""<html><head><meta property="article:publisher" content="https://social.example/2019/01/02/outlet">
    <meta name="twitter:creator" content="@reporter"><meta name="content_create_date" content="2024-05-06T07:08:09Z">
    </head><body><article>{BODY}</article></body></html>"""
    assert extract_article(page.encode(), "https://x.example/a").published_at == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_the_listing_date_comes_first_and_lends_its_day_to_the_pages_time() -> None:
    feed = datetime(2025, 2, 19, 6, 10, tzinfo=UTC)
    page = datetime(2025, 2, 19, 6, 25, tzinfo=UTC)
    assert reconcile_times(feed, page) == (feed, None)  # minutes apart: the feed's stays
    assert reconcile_times(None, page) == (page, None)
    assert reconcile_times(feed, None) == (feed, None)
    day_only = datetime(2025, 2, 19, tzinfo=UTC)
    assert reconcile_times(day_only, page) == (page, None)  # the page gives the time of that day
    later = page + timedelta(days=3)
    kept, note = reconcile_times(feed, later)
    assert kept == feed and note and "2025-02-22" in note and "listing's date is kept" in note


def test_a_page_too_short_to_store_still_lends_its_time_and_address(server: LocalServer) -> None:
    server.route("/short", static("""<html><head><link rel="canonical" href="https://outlet.example/short-news">
    <meta property="article:published_time" content="2025-02-19T07:00:00+01:00"></head>
    <body><article><h1>Lajm i shkurtër</h1><p>Vetëm një fjali.</p></article></body></html>"""))
    entry = FeedEntry(url=server.url("/short"), title="Lajm i shkurtër", summary="Përmbledhja.")

    async def go():  # type: ignore[no-untyped-def]
        async with Fetcher(HttpSettings(per_host_delay=0, retries=0, obey_robots=False)) as f:
            return await fetch_article(f, "shembull", entry)
    draft = asyncio.run(go())
    assert draft.text == "Përmbledhja." and "no article text" in (draft.extraction_note or "")
    assert draft.canonical_url == "https://outlet.example/short-news"
    assert draft.published_at == datetime(2025, 2, 19, 6, 0, tzinfo=UTC)


def _title(head: str, body: str) -> str:
    page = f"<html><head>{head}</head><body><article>{body}{BODY}</article></body></html>"
    return extract_article(page.encode(), "https://x.example/a").title


def test_what_an_h1_holds_besides_its_headline_is_not_the_headline() -> None:
    og = '<meta property="og:title" content="Bondsteel bleibt besetzt">'
    subtitle = '<h1><span class="entry-title-primary">Bondsteel bleibt besetzt</span> <span class="entry-subtitle">Was das Ministerium sagt</span></h1>'
    assert _title(og, subtitle) == "Bondsteel bleibt besetzt"
    ruby = '<h1><ruby>米軍<rt>べいぐん</rt></ruby>はコソボに<ruby>残<rt>のこ</rt></ruby>る</h1>'
    assert _title("", ruby) == "米軍はコソボに残る"
    line_break = '<h1><span itemprop="headline"><small>Analyse</small><br>Bondsteel bleibt besetzt</span></h1>'
    assert _title(og, line_break) == "Bondsteel bleibt besetzt"
    # the kicker is no separate segment anywhere: without the <small> marker the h1 stays whole
    assert _title("", "<h1>Analyse<br>Bondsteel bleibt besetzt</h1>") == "Analyse Bondsteel bleibt besetzt"


def test_an_h1_longer_than_its_shortened_metadata_headline_is_the_headline() -> None:
    head = '<meta property="og:title" content="Italien prüft größere KFOR-Rolle - Balkan-News.de">'
    assert _title(head, "<h1>Italien prüft größere KFOR-Rolle im Norden</h1><h1>Newsletter</h1>") == \
        "Italien prüft größere KFOR-Rolle im Norden"


def test_a_numbered_segment_is_part_of_the_headline_not_a_section() -> None:
    assert strip_affixes("EP082 – Was KFOR im Norden tut", NAMES) == "EP082 – Was KFOR im Norden tut"
    assert strip_affixes("Politik – Was KFOR im Norden tut", NAMES) == "Was KFOR im Norden tut"


def test_a_generic_meta_date_yields_to_the_bylines_time() -> None:
    """`<meta name="date">` is often the page's build or last edit; a `<time>` set with the headline
    or in the byline block is the publisher's own statement to the reader."""
    head = '<meta name="date" content="2025-02-24T10:00:00Z">'
    byline = '<h1>Bondsteel bleibt besetzt</h1><p class="byline">Von A. Autor <time datetime="2025-02-19T14:20:00+01:00">19.02.</time></p>'
    page = f"<html><head>{head}</head><body><article>{byline}{BODY}</article></body></html>"
    assert extract_article(page.encode(), "https://x.example/a").published_at == datetime(2025, 2, 19, 13, 20, tzinfo=UTC)
    # a typed publication name still comes first
    typed = head + '<meta property="article:published_time" content="2025-02-18T09:00:00Z">'
    page = f"<html><head>{typed}</head><body><article>{byline}{BODY}</article></body></html>"
    assert extract_article(page.encode(), "https://x.example/a").published_at == datetime(2025, 2, 18, 9, tzinfo=UTC)
    # and without any other date the generic one is taken
    page = f"<html><head>{head}</head><body><article><h1>Bondsteel bleibt besetzt</h1>{BODY}</article></body></html>"
    assert extract_article(page.encode(), "https://x.example/a").published_at == datetime(2025, 2, 24, 10, tzinfo=UTC)


def test_a_date_in_the_bodys_text_is_no_date_beside_the_headline() -> None:
    """Only the h1's own block is read for a text date: further up is the article, where dates are
    citations ("abgerufen am 29.09.2021"); an update's date is not taken for the publication."""
    import lxml.html

    from crawler.dates import _headline_text

    cited = lxml.html.fromstring('<div><div class="head"><h1>Die Haubenfahrzeuge</h1></div>'
                                 '<div class="text"><p>Quelle: Archiv, abgerufen am 29.09.2021</p></div></div>')
    assert list(_headline_text(cited)) == []
    beside = lxml.html.fromstring('<div><div class="title"><h1>KFOR bleibt</h1><p class="date">Updated: '
                                  '2025-02-21 09:10</p><p class="date">Written: 2025-02-20 15:03</p></div></div>')
    assert list(_headline_text(beside)) == ["2025-02-20 15:03"]


def test_an_inline_element_before_the_headline_that_no_source_shows_is_a_kicker() -> None:
    head = '<meta property="og:title" content="Erinnerung an die Opfer der Kämpfe im Norden">'
    h1 = "<h1><em>Gedenktag </em>Erinnerung an die Opfer der Kämpfe im Norden</h1>"
    assert _title(head, h1) == "Erinnerung an die Opfer der Kämpfe im Norden"
    # with a source that shows the whole h1, it stays whole
    whole = '<meta property="og:title" content="Gedenktag Erinnerung an die Opfer der Kämpfe im Norden">'
    assert _title(whole, h1) == "Gedenktag Erinnerung an die Opfer der Kämpfe im Norden"


def test_a_web_archive_capture_is_dated_and_named_by_the_archived_address() -> None:
    capture = "https://web.archive.org/web/20250301120000/https://www.balkanblick.example/2025/02/19/geruecht/"
    assert url_stamp(capture) == parse_stamp("2025-02-19")
    assert url_stamp("https://web.archive.org/web/20250301/https://www.balkanblick.example/ueber-uns/") is None
    page = f"""<html><head><title>Balkanblick » Blog Archiv » Streit um die Brücke von Mitrovica</title></head>
    <body><div id="header"><h1>Balkanblick</h1></div><div>{BODY}</div></body></html>""".encode()
    assert extract_article(page, capture).title == "Streit um die Brücke von Mitrovica"


def test_an_h1_a_source_gives_word_for_word_is_the_headline_even_with_the_sites_name_in_it() -> None:
    """'Happy Coffee SIDAMO Bio Bohnen' on happycoffee.org: the name and three words, as og:title gives it,
    against a promotion's h1 inside the article."""
    page = f"""<html><head><title>Kosovo Online Podcast 12 - Kosovo Online</title>
    <meta property="og:title" content="Kosovo Online Podcast 12"></head>
    <body><h1 class="product_name">Kosovo Online Podcast 12</h1>
    <article><h1 class="headline">Mit dem Abo lesen</h1>{BODY}</article></body></html>""".encode()
    assert extract_article(page, "https://kosovo-online.example/podcast/12").title == "Kosovo Online Podcast 12"


def test_a_scheduled_article_keeps_its_publication_time_after_its_last_edit() -> None:
    """Its last edit comes before its publication too, but its header shows the publication itself: only a
    header time more than a day earlier overrides a publication stamp later than the modification."""
    page = f"""<html><head>
    <meta property="article:published_time" content="2025-02-20T06:00:00Z">
    <meta property="article:modified_time" content="2025-02-19T22:14:00Z"></head>
    <body><article><header><h1>Patrullat e KFOR-it vazhdojnë në veri</h1>
    <time datetime="2025-02-20T07:00:00+01:00">20.02.2025 07:00</time></header>{BODY}</article></body></html>""".encode()
    assert extract_article(page, "https://lajme.example/a").published_at == datetime(2025, 2, 20, 6, tzinfo=UTC)
