"""One poller per PostgreSQL database: `spreadwatch run` or a pool of `spreadwatch worker`s, not both.

`run` polls every feed itself; beside a pool on the same database (or beside another `run`) every
outlet would get each request twice. So on PostgreSQL `run` holds a session-level advisory lock for
its whole life, and refuses to start while another `run` holds it or while pool workers are alive
(a heartbeat in procrastinate's worker table within `pool.stalled_seconds`); a worker refuses to
start while a `run` holds it. On SQLite there is no pool, and two `run`s take turns at the write
lock (storage/db.py): nothing is checked there.

Two processes starting in the same second can still both pass (the worker checks the lock once, at
its start); the check is for the operator's mistake, not a consensus protocol.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from spreadwatch.settings import Settings
from storage.db import engine_url, unavailable

RUN_LOCK = 0x5377_0002  # PostgreSQL advisory lock key: "Sw" + 2, held by `spreadwatch run`


class AnotherPoller(Exception):
    """Another process polls the feeds of this database."""


def _postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def _engine(url: str) -> Engine:
    return create_engine(engine_url(url), poolclass=NullPool, isolation_level="AUTOCOMMIT")


@contextmanager
def _connected(url: str) -> Iterator[Connection]:
    """A connection of its own (the lock lives as long as it); a database that cannot be reached
    is the one-line DatabaseUnavailable every command gives."""
    engine = _engine(url)
    try:
        try:
            conn = engine.connect()
        except (DBAPIError, OSError) as e:
            raise unavailable(url, e) from e
        with conn:
            yield conn
    finally:
        engine.dispose()


def live_workers(conn: Connection, stalled_seconds: float) -> int:
    """Pool workers whose heartbeat is recent (0 when the pool's tables were never made here)."""
    if conn.execute(text("SELECT to_regclass('procrastinate_workers')")).scalar() is None:
        return 0
    return int(conn.execute(text(
        "SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > now() - make_interval(secs => :s)"),
        {"s": stalled_seconds}).scalar() or 0)


@contextmanager
def sole_poller(settings: Settings) -> Iterator[None]:
    """Around `spreadwatch run`: on PostgreSQL, hold RUN_LOCK while it runs; AnotherPoller if a
    `run` or live workers poll this database already."""
    url = settings.database_url
    if not _postgres(url):
        yield
        return
    with _connected(url) as conn:  # the lock lives as long as this connection
        if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": RUN_LOCK}).scalar():
            raise AnotherPoller("another `spreadwatch run` polls this database already; "
                                "two would send every outlet each request twice")
        workers = live_workers(conn, settings.pool.stalled_seconds)
        if workers:
            raise AnotherPoller(f"{workers} `spreadwatch worker` process(es) of a pool poll this database "
                                "(heartbeat within pool.stalled_seconds); `run` beside them would poll every "
                                "feed again: stop them, or add workers instead (`spreadwatch workers` lists them)")
        yield


def refuse_beside_run(url: str) -> None:
    """At a worker's start: AnotherPoller if a `spreadwatch run` holds this database."""
    if not _postgres(url):
        return
    # the probe is shared: workers starting at the same moment do not see each other's probe as a
    # `run` (an exclusive probe made one of two workers started together refuse, in CI)
    with _connected(url) as conn:
        if conn.execute(text("SELECT pg_try_advisory_lock_shared(:k)"), {"k": RUN_LOCK}).scalar():
            conn.execute(text("SELECT pg_advisory_unlock_shared(:k)"), {"k": RUN_LOCK})
            return
    raise AnotherPoller("a `spreadwatch run` process polls this database; a pool beside it would poll every "
                        "feed again: stop it first (the pool does everything `run` does)")
