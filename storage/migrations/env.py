"""Alembic environment: runs against the engine spreadwatch hands it (or sqlalchemy.url for the CLI)."""

from alembic import context
from sqlalchemy import create_engine, func, select

from storage.db import MIGRATION_LOCK
from storage.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs batch ALTERs
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # two processes starting together take turns; the version is read after the lock,
                # so the second finds the first one's schema (SQLite's BEGIN IMMEDIATE does the same)
                connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
            context.run_migrations()
        connection.commit()


run()
