"""Retention drops old article text but keeps the article, its story and links; statistics refresh."""

from __future__ import annotations

import math
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


def _analyzed(db: Database) -> dict[str, bool]:
    from sqlalchemy import text

    with db.engine.connect() as c:
        rows = c.execute(text("SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables "
                              "WHERE relname IN ('article', 'story', 'story_term', 'lsh_band')")).all()
    return {name: bool(done) for name, done in rows}


def test_placement_tables_are_analyzed_by_the_rule_where_the_server_does_not(db_url: str) -> None:
    """PostgreSQL with autovacuum off (this machine's) never ANALYZEs: the keeper does, by its count
    of placements; with autovacuum on, or on SQLite, it leaves it to the server and housekeeping."""
    from sqlalchemy import text

    from spreadwatch.housekeeping import PLACEMENT_TABLES, PlannerStatistics, planner_statistics

    corpus = load_corpus()
    settings = corpus_settings(corpus, db_url)
    db = Database(db_url)
    keeper = PlannerStatistics(db, threshold=4, scale=0.5)
    ran, rows = [], []
    for label, draft in drafts(corpus)[:12]:
        with db.session() as s:
            ingest(s, draft, settings)
        ran.append(keeper.placed(1))
        rows.append(keeper.rows)
    assert planner_statistics(db) is planner_statistics(db)  # one keeper per Database object
    if db.engine.dialect.name != "postgresql":
        assert keeper.active is False and not any(ran)
        return
    with db.engine.connect() as c:
        server_does = str(c.execute(text("SHOW autovacuum")).scalar()) == "on"
    if server_does:
        assert keeper.active is False and not any(ran) and keeper.runs == 0
        return
    with db.session() as s:
        stories_after_4 = s.scalar(text("SELECT count(DISTINCT story_id) FROM article WHERE id <= 4"))
    # 4 placements, then 4 + half the stories counted then: 2 stories (6 more) or 3 (5.5) ...
    second = 4 + math.ceil(4 + 0.5 * stories_after_4)
    assert keeper.active is True and [i + 1 for i, r in enumerate(ran) if r] == [4, second] and keeper.runs == 2
    assert rows[3] == stories_after_4  # the story count the next threshold is scaled by
    assert _analyzed(db) == dict.fromkeys(PLACEMENT_TABLES, True)
    assert keeper.placed(0) is False and keeper.since == 12 - second
