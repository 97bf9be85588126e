"""Transactions: one session is one transaction, savepoints included, with writers from several
connections at once (the daemon, a crawl child, the alert sender) taking turns, not failing."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from storage import Database, Outlet


class Crash(Exception):
    pass


def test_a_rolled_back_session_keeps_nothing_of_its_savepoints(db_url: str) -> None:
    db = Database(db_url)
    with db.session() as s:
        s.add(Outlet(key="kept", name="Kept"))
    with pytest.raises(Crash):
        with db.session() as s:
            s.scalar(select(Outlet).where(Outlet.key == "kept"))  # a read first, as ingest() does
            with s.begin_nested():  # ingest() inserts the article in a savepoint
                s.add(Outlet(key="half", name="Half"))
                s.flush()
            raise Crash("killed after the savepoint, before the transaction ended")
    with db.session(read_only=True) as s:
        assert list(s.scalars(select(Outlet.key))) == ["kept"]
    db.dispose()


def test_writers_that_read_first_take_turns_instead_of_failing(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for i in range(25):
                with db.session() as s:
                    n = s.scalar(select(func.count(Outlet.id)))  # read, then write on what was read
                    time.sleep(0.001)  # let the other writer interleave
                    s.add(Outlet(key=f"{name}-{i}-{n}", name=name))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(f"w{k}",)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    with db.session(read_only=True) as s:
        keys = list(s.scalars(select(Outlet.key)))
    # every write saw every earlier one: the counts read are 0..74, each once
    assert sorted(int(k.rsplit("-", 1)[1]) for k in keys) == list(range(75))
    db.dispose()


def test_an_open_read_only_session_does_not_hold_up_a_writer(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    wrote = threading.Event()

    def writer() -> None:
        with db.session() as s:
            s.add(Outlet(key="written", name="Written"))
        wrote.set()

    with db.session(read_only=True) as reader:
        reader.scalar(select(func.count(Outlet.id)))
        t = threading.Thread(target=writer)
        t.start()
        assert wrote.wait(timeout=10), "the writer waited for a reader"
        # the reader keeps its snapshot: it does not see the write made during its transaction
        assert reader.scalar(select(func.count(Outlet.id))) == 0
    t.join(timeout=10)
    db.dispose()


def test_the_write_log_tells_refused_writes_from_reads_that_still_answer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    from storage import DatabaseUnavailable

    path = tmp_path / "w.db"
    Database(f"sqlite:///{path}").dispose()
    subprocess.run(["chattr", "+i", str(path)], check=True)  # immutable: new connections open read-only
    try:
        db = Database(f"sqlite:///{path}", migrate=False)
        with db.session(read_only=True) as s:  # reads answer, as a health ping would see
            assert s.scalar(select(func.count(Outlet.id))) == 0
        with db.session() as s:  # a session that only reads says nothing about writes
            s.scalar(select(func.count(Outlet.id)))
        assert db.writes.last_ok_at is None and not db.writes.failing
        with pytest.raises(Exception, match="readonly"):
            with db.session(purpose="ingest") as s:
                s.add(Outlet(key="refused", name="Refused"))
        assert db.writes.failing and "readonly" in (db.writes.last_error or "")
        assert db.writes.failures == {"ingest": 1}
        db.dispose()
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    db = Database(f"sqlite:///{path}", migrate=False)
    db.writes.failed("ingest", RuntimeError("a bug, not the database"))  # counted, but not "failing"
    assert not db.writes.failing and db.writes.failures["ingest"] == 1
    with db.session() as s:
        s.add(Outlet(key="kept", name="Kept"))
    assert db.writes.last_ok_at is not None and not db.writes.failing
    with pytest.raises(DatabaseUnavailable, match=r"^database sqlite:///.*inside-a-file.db: \[Errno 17\] File exists"):
        Database(f"sqlite:///{path}/inside-a-file.db")  # one line naming the URL and what failed
    db.dispose()
