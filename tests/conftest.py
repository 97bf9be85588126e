"""Shared fixtures: real SQLite files, a fresh database on the real PostgreSQL, a local HTTP server."""

from __future__ import annotations

import os
import uuid
from typing import Iterator

import pytest

from spreadwatch.localserver import LocalServer

PG_ADMIN_URL = os.environ.get("SPREADWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def sqlite_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    return f"sqlite:///{tmp_path / 'spreadwatch.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty database on the local PostgreSQL server, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"sw_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # a missing server is a failure, not a skip: CI starts it
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({e.__class__.__name__}): start it "
                    "(see .ci/run) or set SPREADWATCH_TEST_PG")
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request) -> str:  # type: ignore[no-untyped-def]
    """Both backends: storage-touching tests run against SQLite and the real PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        yield srv
