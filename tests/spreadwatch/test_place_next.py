"""ingest(place=False) then place_next(): the worker pool's placement job places the waiting
articles earliest published first, and makes the stories that ingest() in publication order makes."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select

from spreadwatch.ingest import ingest, place_next
from spreadwatch.settings import load_settings
from storage import Article, Database
from tests.spreadwatch.test_ingest import FOOTBALL, GERMAN, WHEN, draft

ALBANIAN = ("Sipas gazetës gjermane Bild, Italia po përgatitet për një tërheqje të mundshme të trupave "
            "amerikane nga Kosova. Misioni KFOR i NATO-s do të mbetej pa ushtarët amerikanë, që sot janë mbi 600.")


def _drafts() -> list:  # type: ignore[type-arg]
    out = [draft("https://www.bild.de/politik/abzug", "Abzug der US-Truppen aus dem Kosovo?", GERMAN),
           draft("https://telegrafi.com/bild-shba", "Bild: SHBA mund të tërheqin trupat nga Kosova", ALBANIAN,
                 outlet="telegrafi"),
           draft("https://www.bild.de/sport/rueckzug", "Verein zieht sich zurück", FOOTBALL)]
    return [d.__class__(**{**d.__dict__, "published_at": WHEN + timedelta(hours=i)}) for i, d in enumerate(out)]


def _stories(db: Database) -> set[frozenset[str]]:
    groups: dict[int, set[str]] = defaultdict(set)
    with db.session() as s:
        for sid, url in s.execute(select(Article.story_id, Article.canonical_url)):
            assert sid is not None
            groups[sid].add(url)
    return {frozenset(g) for g in groups.values()}


def test_waiting_articles_are_placed_earliest_first_as_ingest_places_them(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings()
    db = Database(db_url)
    for d in reversed(_drafts()):  # stored latest first, as a feed lists them
        with db.session() as s:
            r = ingest(s, d, settings, place=False)
            assert r.created and r.story_id is None
    with db.session() as s:
        assert all(a.story_id is None for a in s.scalars(select(Article)))
    placed = []
    for _ in range(10):  # bounded: three articles wait
        with db.session() as s:
            r = place_next(s, settings)
        if r is None:
            break
        placed.append(r.article_id)
    with db.session() as s:
        order = [s.get_one(Article, aid).canonical_url for aid in placed]
    assert order == [d.canonical_url for d in _drafts()]  # earliest published first
    with db.session() as s:
        assert place_next(s, settings) is None

    direct = Database(f"sqlite:///{tmp_path / 'direct.db'}")
    for d in _drafts():
        with direct.session() as s:
            ingest(s, d, settings)
    assert _stories(db) == _stories(direct)
    assert frozenset({"https://www.bild.de/politik/abzug", "https://telegrafi.com/bild-shba"}) in _stories(db)


def test_a_batch_places_in_one_transaction_what_one_at_a_time_places(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """place_waiting(): the pool's `place` job places pool.place_batch articles per transaction. The
    batch takes the placement lock once (on PostgreSQL: one pg_advisory_xact_lock statement for all
    of its articles), stops at its limit, and makes the stories that place_next() one at a time makes."""
    from sqlalchemy import event

    from spreadwatch.ingest import place_waiting

    settings = load_settings()
    db = Database(db_url)
    for d in reversed(_drafts()):
        with db.session() as s:
            ingest(s, d, settings, place=False)
    locks: list[str] = []
    event.listen(db.engine, "before_cursor_execute",
                 lambda conn, cur, st, *a: locks.append(st) if "pg_advisory_xact_lock" in st else None)
    with db.session() as s:
        first = place_waiting(s, settings, limit=2)
    assert len(first) == 2 and all(r.story_id is not None for r in first)
    with db.session() as s:
        rest = place_waiting(s, settings, limit=25)
        assert place_waiting(s, settings, limit=25) == []  # nothing waits; the lock is not asked again
    assert len(rest) == 1
    if db.engine.dialect.name == "postgresql":
        assert len(locks) == 2  # one per transaction, not one per article
    with db.session() as s:
        order = [s.get_one(Article, r.article_id).canonical_url for r in first + rest]
    assert order == [d.canonical_url for d in _drafts()]

    one_by_one = Database(f"sqlite:///{tmp_path / 'one.db'}")
    for d in reversed(_drafts()):
        with one_by_one.session() as s:
            ingest(s, d, settings, place=False)
    for _ in range(10):
        with one_by_one.session() as s:
            if place_next(s, settings) is None:
                break
    assert _stories(db) == _stories(one_by_one)


def test_while_polls_run_only_articles_up_to_the_settled_mark_are_placed(db_url: str) -> None:  # type: ignore[no-untyped-def]
    """The pool's order window at placement (spreadwatch.ingest.settled_mark): the latest published
    article that has waited the window since it was stored sets the mark; it and everything
    published before it may be placed, a later one waits; none waited that long: nothing goes."""
    from spreadwatch.ingest import place_waiting, settled_mark

    settings = load_settings()
    db = Database(db_url)
    bild, telegrafi, football = _drafts()  # published at WHEN, +1 h, +2 h
    stored_at = WHEN + timedelta(days=1)
    for d, seen in ((telegrafi, stored_at), (football, stored_at + timedelta(seconds=50)),
                    (bild, stored_at + timedelta(seconds=55))):  # the earliest published came last
        with db.session() as s:
            ingest(s, d, settings, now=seen, place=False)
    with db.session() as s:
        assert settled_mark(s, 60, now=stored_at + timedelta(seconds=30)) is None  # none has waited 60 s
        assert place_waiting(s, settings, through=None) == []
        mark = settled_mark(s, 60, now=stored_at + timedelta(seconds=70))  # only telegrafi's has waited
        assert mark == telegrafi.published_at
        placed = place_waiting(s, settings, through=mark)
        urls = [s.get_one(Article, r.article_id).canonical_url for r in placed]
    # bild's, published before the mark, goes too (and first), although it was stored last
    assert urls == [bild.canonical_url, telegrafi.canonical_url]
    with db.session() as s:
        waiting = s.scalars(select(Article.canonical_url).where(Article.story_id.is_(None))).all()
    assert waiting == [football.canonical_url]
