"""Engine and sessions: SQLite (WAL) by default, any SQLAlchemy URL in production; migrations on start."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


class Database:
    """One engine and its session factory. `with db.session() as s:` is one transaction."""

    def __init__(self, url: str, *, migrate: bool = True, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            upgrade(self.engine)

    @contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any error.

        On SQLite a session holds the write lock from its start, so writers from several processes
        (the daemon, a crawl, the alert sender) take turns instead of failing; `read_only=True`
        sessions (pages, listings) take no lock and never wait."""
        with self._sessions.begin() as s:
            if read_only:
                s.connection(execution_options={READ_ONLY: True})
            yield s

    def dispose(self) -> None:
        self.engine.dispose()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        # psycopg 3 is what we install; a bare postgresql:// URL means it
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, echo=echo, pool_pre_ping=True)


READ_ONLY = "spreadwatch_read_only"  # execution option: begin a SQLite transaction without the write lock


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # pysqlite's own transaction handling is off: it emits no BEGIN before a SELECT or a SAVEPOINT,
    # so a savepoint taken before the first INSERT opened the transaction itself and its RELEASE
    # committed it, half an article at a time. _sqlite_begin begins every transaction instead.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # WAL lets the web page read while the daemon writes; NORMAL sync is safe with WAL
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    # IMMEDIATE takes the write lock at BEGIN (waiting up to busy_timeout for it): a transaction
    # that read first and writes later fails outright (SQLITE_BUSY) when another process committed
    # in between, instead of waiting its turn
    options = conn.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":  # asked for no transaction (VACUUM needs that)
        return
    conn.exec_driver_sql(f"BEGIN {'DEFERRED' if options.get(READ_ONLY) else 'IMMEDIATE'}")


def alembic_config(engine: Engine):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Apply the Alembic migrations up to `revision` (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def table_names(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())
