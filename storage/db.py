"""Engine and sessions: SQLite (WAL) by default, any SQLAlchemy URL in production; migrations on start."""

from __future__ import annotations

import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from sqlalchemy import URL, Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

try:
    import fcntl
except ImportError:  # Windows has no fcntl: migrations there rely on SQLite's own locking
    fcntl = None  # type: ignore[assignment]

MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key held while migrating: two processes starting on a fresh database take
# turns, and the second finds the schema made (without it one died on alembic_version's key)
MIGRATION_LOCK = 0x5357_4D49_4752  # "SWMIGR"


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened: the message names it (password masked) and why."""


@dataclass
class WriteLog:
    """How this process's write transactions ended: whether the last ones reached the database, and
    how many rolled back, by what they were for. A database that answers reads but refuses writes
    (a read-only file, a full disk) is down for the daemon's purposes, and this is how health knows."""

    last_ok_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    failures: Counter[str] = field(default_factory=Counter)  # purpose -> transactions rolled back
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def succeeded(self) -> None:
        with self._lock:
            self.last_ok_at = datetime.now(timezone.utc)

    def failed(self, purpose: str, error: BaseException) -> None:
        with self._lock:
            self.failures[purpose] += 1
            if isinstance(error, DBAPIError):  # the database refused it, not our code
                self.last_error = f"{error.__class__.__name__}: {_first_line(error)}"
                self.last_error_at = datetime.now(timezone.utc)

    @property
    def failing(self) -> bool:
        """The last write the database saw failed, and none has succeeded since."""
        return self.last_error_at is not None and (self.last_ok_at is None or self.last_ok_at < self.last_error_at)


class Database:
    """One engine and its session factory. `with db.session() as s:` is one transaction."""

    def __init__(self, url: str, *, migrate: bool = True, echo: bool = False) -> None:
        self.url = url
        self.writes = WriteLog()
        try:
            self.engine = make_engine(url, echo=echo)
            self._sessions = sessionmaker(self.engine, expire_on_commit=False)
            event.listen(self._sessions, "after_flush", _note_write)
            event.listen(self._sessions, "do_orm_execute", _note_dml)
            if migrate:
                upgrade(self.engine)
        except (DBAPIError, OSError) as e:  # one line for a person, not a driver's traceback
            raise unavailable(url, e) from e

    @contextmanager
    def session(self, *, read_only: bool = False, purpose: str = "other") -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any error.

        On SQLite a session holds the write lock from its start, so writers from several processes
        (the daemon, a crawl, the alert sender) take turns instead of failing; `read_only=True`
        sessions (pages, listings) take no lock and never wait. Write sessions are counted in
        `writes` by their `purpose` ("ingest" for one article's transaction)."""
        try:
            with self._sessions.begin() as s:
                if read_only:
                    s.connection(execution_options={READ_ONLY: True})
                yield s
        except Exception as e:
            if not read_only:
                self.writes.failed(purpose, e)
            raise
        if s.info.get(WROTE):  # a session that only read says nothing about whether writes work
            self.writes.succeeded()

    def dispose(self) -> None:
        self.engine.dispose()


WROTE = "spreadwatch_wrote"  # Session.info key: this transaction changed rows


def _note_write(session: Session, _flush_context: object) -> None:
    session.info[WROTE] = True


def _note_dml(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[WROTE] = True


def engine_url(url: str) -> URL:
    """The URL as the engine is made with it: a bare postgresql:// means psycopg 3, which we install."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def masked(url: str) -> str:
    """The URL to show a person: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not even a URL: show it as given, it cannot hold a parsed password
        return url


def unavailable(url: str, error: BaseException) -> DatabaseUnavailable:
    """The one-line error for a database that cannot be reached (password masked)."""
    return DatabaseUnavailable(f"database {masked(url)}: {_first_line(error)}")


def _first_line(error: BaseException) -> str:
    """A driver's error in one line: its own message without the SQL, the hint or the link."""
    orig = getattr(error, "orig", None) or error
    text = str(orig).strip() or orig.__class__.__name__
    return text.splitlines()[0].strip()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    parsed = engine_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, echo=echo, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
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

    with _sqlite_migration_lock(engine):
        command.upgrade(alembic_config(engine), revision)


@contextmanager
def _sqlite_migration_lock(engine: Engine) -> Iterator[None]:
    """On a SQLite file, hold an exclusive lock on `<file>-migrate.lock` while migrating.

    Alembic runs each SQLite migration in a transaction of its own (SQLite's DDL is not
    transactional to it), so BEGIN IMMEDIATE serialised single steps, not the whole upgrade: four
    processes opening a fresh file together read the version between another's steps, and one
    created a table that was already there. PostgreSQL takes an advisory lock instead (env.py)."""
    db = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not db or db == ":memory:" or fcntl is None:
        yield
        return
    with open(f"{Path(db).expanduser()}-migrate.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes, or when the process dies
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def table_names(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())
