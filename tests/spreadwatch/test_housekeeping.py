"""Retention drops old article text but keeps the article, its story and links; statistics refresh."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bench.stories_eval import corpus_settings, drafts
from spreadwatch.housekeeping import housekeep
from spreadwatch.ingest import ingest
from spreadwatch.replay import load_corpus
from storage import Article, Database, utcnow
from storage.stories_repo import story_history


def test_retention_keeps_history_and_drops_only_old_text(db_url: str) -> None:
    corpus = load_corpus()
    settings = corpus_settings(corpus, db_url)
    db = Database(db_url)
    for label, draft in drafts(corpus)[:6]:
        with db.session() as s:
            ingest(s, draft, settings)
    with db.session() as s:
        first = s.scalars(select(Article).order_by(Article.id)).first()
        first.first_seen_at = utcnow() - timedelta(days=100)  # one old article
        story_id, title = first.story_id, first.title
    keep = settings.with_overrides(poll=settings.poll.model_copy(update={"retention_days": 30}))
    report = housekeep(db, keep)
    assert report.texts_dropped == 1 and report.analyzed
    with db.session() as s:
        old = s.scalars(select(Article).where(Article.title == title)).one()
        assert old.text == "" and "retention" in (old.extraction_note or "") and old.minhash
        assert sum(1 for a in s.scalars(select(Article)) if a.text) == 5
        assert story_history(s, story_id) is not None
    assert housekeep(db, settings).texts_dropped == 0  # retention 0: keep everything


def test_space_freed_by_retention_is_given_back_where_due(db_url: str) -> None:
    corpus = load_corpus()
    settings = corpus_settings(corpus, db_url)
    db = Database(db_url)
    for label, draft in drafts(corpus)[:6]:
        with db.session() as s:
            ingest(s, draft, settings)
    quiet = housekeep(db, settings)  # nothing dropped: statistics only, no vacuum
    assert quiet.analyzed and not quiet.vacuumed and quiet.texts_dropped == 0
    with db.session() as s:  # six long articles, all past retention
        s.execute(update(Article).values(text="lajm " * 60_000, first_seen_at=utcnow() - timedelta(days=100)))
    keep = settings.with_overrides(poll=settings.poll.model_copy(update={"retention_days": 30}))
    before = database_bytes(db)
    report = housekeep(db, keep)
    assert report.texts_dropped == 6 and report.analyzed and report.vacuumed
    if db.engine.dialect.name == "sqlite":
        assert report.free_share > 0.25
        assert database_bytes(db) < before / 4  # the file shrank: 1.8 MB of text went
    with db.session() as s:
        assert all(a.text == "" and a.minhash for a in s.scalars(select(Article)))


def database_bytes(db: Database) -> int:
    with db.engine.connect() as c:
        if db.engine.dialect.name == "sqlite":  # the database's logical size, WAL included
            return int(c.exec_driver_sql("PRAGMA page_count").scalar() or 0) * int(
                c.exec_driver_sql("PRAGMA page_size").scalar() or 0)
        return int(c.exec_driver_sql("SELECT pg_database_size(current_database())").scalar() or 0)
