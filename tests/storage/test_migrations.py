"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL, and the
newest one reverses and re-applies without losing the story index."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from storage import Base
from storage.db import alembic_config, make_engine, upgrade


def test_migrated_schema_is_the_models_schema(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        with engine.connect() as c:
            assert compare_metadata(MigrationContext.configure(c), Base.metadata) == []
    finally:
        engine.dispose()


def test_term_recency_migration_dates_existing_terms_and_reverses(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0004")
        with engine.begin() as c:
            c.execute(text("INSERT INTO story (id, title, first_seen_at, last_seen_at, outlet_count, languages, "
                           "countries, watches, status, fingerprint) VALUES (1, 't', '2025-02-19 06:10:00', "
                           "'2025-02-21 09:00:00', 2, '[]', '[]', '[]', 'active', '{}')"))
            c.execute(text("INSERT INTO story_term (story_id, term) VALUES (1, 'kfor'), (1, '#600')"))
        upgrade(engine, "0005")
        with engine.connect() as c:
            days = c.execute(text("SELECT DISTINCT last_day FROM story_term")).scalars().all()
        assert days == [20140]  # 2025-02-21 is day 20140 since 1970-01-01
        command.downgrade(alembic_config(engine), "0004")
        assert "last_day" not in {col["name"] for col in inspect(engine).get_columns("story_term")}
        upgrade(engine, "0005")
        with engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM story_term")).scalar() == 2
        # 0006: the old engine's index terms (4-letter stems) are dropped; articles keep their features
        upgrade(engine)
        with engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM story_term")).scalar() == 0
        assert "features" in {col["name"] for col in inspect(engine).get_columns("article")}
        command.downgrade(alembic_config(engine), "0005")
        assert "features" not in {col["name"] for col in inspect(engine).get_columns("article")}
    finally:
        engine.dispose()


def test_desk_migration_keeps_alerts_and_reverses(db_url: str) -> None:
    """0010 adds corrections, mutes and acknowledgement to a database with alerts, and goes back."""
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0009")
        with engine.begin() as c:
            c.execute(text("INSERT INTO story (id, title, first_seen_at, last_seen_at, outlet_count, languages, "
                           "countries, watches, status, fingerprint) VALUES (1, 't', '2025-02-19 06:10:00', "
                           "'2025-02-21 09:00:00', 2, '[]', '[]', '[]', 'active', '{}')"))
            c.execute(text("INSERT INTO alert (id, story_id, rule, level, created_at, summary) "
                           "VALUES (1, 1, 'spreading', '3', '2025-02-19 07:00:00', '{}')"))
            c.execute(text("INSERT INTO delivery (id, alert_id, channel, state, attempts, next_try_at) "
                           "VALUES (1, 1, 'desk', 'pending', 0, '2025-02-19 07:00:00')"))  # refers to the alert
        upgrade(engine, "0010")
        with engine.begin() as c:
            assert c.execute(text("SELECT acknowledged_at FROM alert")).scalar() is None
            c.execute(text("INSERT INTO correction (kind, story_id, together, rest, detail, who, created_at) "
                           "VALUES ('merge', 1, '[1]', '[]', '{}', 'ana', '2025-02-20 10:00:00')"))
            c.execute(text("INSERT INTO story_mute (story_id, who, created_at) VALUES (1, 'ana', '2025-02-20 10:00:00')"))
        command.downgrade(alembic_config(engine), "0009")
        tables = set(inspect(engine).get_table_names())
        assert "correction" not in tables and "story_mute" not in tables
        assert "acknowledged_at" not in {col["name"] for col in inspect(engine).get_columns("alert")}
        upgrade(engine, "0010")
        with engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM alert")).scalar() == 1
            assert c.execute(text("SELECT count(*) FROM delivery")).scalar() == 1
            assert c.execute(text("SELECT count(*) FROM correction")).scalar() == 0
    finally:
        engine.dispose()
