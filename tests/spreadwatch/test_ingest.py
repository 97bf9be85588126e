"""ingest(): one article, one transaction; the same article reached twice is stored once."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from sqlalchemy import func, select

from crawler.draft import ArticleDraft
from spreadwatch.ingest import ingest
from spreadwatch.settings import load_settings
from storage import Article, Database, WatchMatch

WHEN = datetime(2025, 2, 19, 6, 10, tzinfo=timezone.utc)

GERMAN = ("Nach Informationen aus Geheimdienstkreisen bereitet sich Italien auf einen möglichen "
          "Truppenabzug der USA aus dem Kosovo vor. Die KFOR-Mission der NATO stünde dann ohne "
          "die amerikanischen Soldaten da, die derzeit über 600 Mann stellen.")
FOOTBALL = ("Der Fußballverein zieht seine Mannschaft vom Turnier in Pristina zurück. Der Rückzug "
            "aus dem Wettbewerb im Kosovo wurde mit Verletzungen begründet.")


def draft(url: str, title: str, text: str, outlet: str = "bild") -> ArticleDraft:
    return ArticleDraft(outlet_key=outlet, url=url, canonical_url=url, title=title, text=text,
                        language="de", published_at=WHEN)


def test_same_article_twice_is_stored_once(db_url: str) -> None:
    settings = load_settings()
    db = Database(db_url)
    with db.session() as s:
        first = ingest(s, draft("https://www.bild.de/politik/abzug-1", "Abzug?", GERMAN), settings)
    with db.session() as s:
        again = ingest(s, draft("https://WWW.bild.de/politik/abzug-1?utm_source=rss#top", "Abzug?", GERMAN),
                       settings)
    assert first.created and not again.created
    assert again.article_id == first.article_id
    with db.session() as s:
        assert s.scalar(select(func.count(Article.id))) == 1
        stored = s.get_one(Article, first.article_id)
        assert stored.canonical_url == "https://www.bild.de/politik/abzug-1"
        assert stored.published_at == WHEN


def test_watch_matches_are_stored_with_terms(db_url: str) -> None:
    settings = load_settings()
    db = Database(db_url)
    with db.session() as s:
        hit = ingest(s, draft("https://www.bild.de/a", "Europa in Sorge: Abzug der US-Truppen?", GERMAN), settings)
        miss = ingest(s, draft("https://www.bild.de/b", "Verein zieht sich zurück", FOOTBALL), settings)
    assert hit.watches == ["kfor-withdrawal"]
    assert miss.watches == []
    with db.session() as s:
        m = s.scalars(select(WatchMatch)).one()
        assert m.article_id == hit.article_id
        assert any("abzug" in t.lower() for t in m.terms)
        assert "KFOR" in m.snippet or "Truppenabzug" in m.snippet


def test_failed_ingest_rolls_back_whole_article(sqlite_url: str) -> None:
    settings = load_settings()
    db = Database(sqlite_url)
    try:
        with db.session() as s:
            ingest(s, draft("https://www.bild.de/c", "Abzug", GERMAN), settings)
            raise RuntimeError("crash after ingest, before commit")
    except RuntimeError:
        pass
    with db.session() as s:
        assert s.scalar(select(func.count(Article.id))) == 0
        assert s.scalar(select(func.count(WatchMatch.id))) == 0


def test_concurrent_ingest_of_one_url_stores_one_row(pg_url: str) -> None:
    settings = load_settings()
    Database(pg_url)  # migrate once
    barrier = threading.Barrier(4)
    results: list[bool] = []

    def worker() -> None:
        db = Database(pg_url, migrate=False)
        barrier.wait(timeout=10)
        with db.session() as s:
            results.append(ingest(s, draft("https://www.bild.de/race", "Abzug", GERMAN), settings).created)
        db.dispose()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [False, False, False, True]
    with Database(pg_url, migrate=False).session() as s:
        assert s.scalar(select(func.count(Article.id))) == 1


def test_each_article_gets_its_own_language_and_script(db_url: str) -> None:
    """Kosovo Online is configured as Serbian; its Albanian and Cyrillic editions are told apart,
    and the Albanian one is matched as Albanian."""
    settings = load_settings()
    albanian = ("Sipas gazetës gjermane Bild, Italia po përgatitet për tërheqjen e trupave amerikane nga "
                "Kosova, ndërsa në Prishtinë lajmi u prit me shqetësim të madh nga qeveria.")
    cyrillic = ("Општина Северна Митровица објавила је конкурс за доделу станова породицама у стању "
                "социјалне потребе, а рок за пријаве истиче крајем месеца.")
    db = Database(db_url)
    with db.session() as s:
        sq = ingest(s, draft("https://www.kosovo-online.com/sq/a", "", albanian, outlet="kosovo-online"), settings)
        sr = ingest(s, draft("https://www.kosovo-online.com/sr/b", "", cyrillic, outlet="kosovo-online"), settings)
        short = ingest(s, draft("https://www.kosovo-online.com/sr/c", "Uživo", "", outlet="kosovo-online"), settings)
    assert sq.watches == ["kfor-withdrawal"]
    with db.session() as s:
        got = {a.id: (a.language, a.script) for a in s.scalars(select(Article))}
    assert got[sq.article_id] == ("sq", "Latn")
    assert got[sr.article_id] == ("sr", "Cyrl")
    assert got[short.article_id] == ("sr", "Latn")  # too short to tell: the outlet's language
