"""Migration 0004 (digests) on SQLite and PostgreSQL: it keeps the outbox's rows, matches the
models, and goes down and up again."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from storage.db import alembic_config, make_engine, upgrade
from storage.models import Base

ROWS = [
    "INSERT INTO outlet (id, key, name, country, language, homepage, failures) VALUES (1, 'o', 'O', '', '', '', 0)",
    "INSERT INTO story (id, title, first_seen_at, last_seen_at, outlet_count, languages, countries, watches, status,"
    " fingerprint) VALUES (1, 't', '2025-02-19 06:10:00', '2025-02-19 06:10:00', 3, '[]', '[]', '[]', 'active', '{}')",
    "INSERT INTO alert (id, story_id, rule, level, created_at, summary) VALUES (1, 1, 'spreading', '3',"
    " '2025-02-19 07:00:00', '{}')",
    "INSERT INTO delivery (id, alert_id, channel, state, attempts, next_try_at) VALUES (1, 1, 'desk', 'pending', 0,"
    " '2025-02-19 07:00:00')",
]


def test_digest_migration_keeps_pending_deliveries_matches_the_models_and_reverses(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0003")
        with engine.begin() as c:
            for row in ROWS:
                c.execute(text(row))
        upgrade(engine)
        with engine.begin() as c:
            assert c.execute(text("SELECT id, channel, state, digest_id FROM delivery")).all() == [
                (1, "desk", "pending", None)]
        with engine.connect() as c:
            diffs = compare_metadata(MigrationContext.configure(c), Base.metadata)
        ours = [d for d in diffs if "digest" in repr(d) or "'delivery'" in repr(d)]
        assert ours == []
        command.downgrade(alembic_config(engine), "0003")
        assert "digest" not in inspect(engine).get_table_names()
        upgrade(engine)
        with engine.begin() as c:
            assert c.execute(text("SELECT count(*) FROM delivery")).scalar() == 1
    finally:
        engine.dispose()
