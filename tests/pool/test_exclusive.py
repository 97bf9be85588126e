"""One poller per PostgreSQL database (spreadwatch/exclusive.py): `spreadwatch run` refuses beside a
live pool or another `run`, and a worker refuses beside a `run`; real processes on the real PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from spreadwatch.exclusive import RUN_LOCK
from tests.pool.test_workers import REPO, new_pg, start_worker, stop_all, wait_for, write_config  # noqa: F401

pytestmark = pytest.mark.postgres


def _cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spreadwatch", *args, "--config", str(cfg)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _scalar(url: str, sql: str) -> int:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as c:
            return int(c.execute(text(sql)).scalar() or 0)
    finally:
        engine.dispose()


def test_run_refuses_beside_live_workers_and_starts_once_they_are_gone(tmp_path: Path, new_pg: Callable[[], str]) -> None:
    url = new_pg()
    cfg = write_config(tmp_path / "pool.yaml", url, [])
    worker = start_worker(cfg, tmp_path / "worker.log")
    try:
        assert wait_for(lambda: _scalar(url, "SELECT count(*) FROM pg_tables WHERE tablename = 'procrastinate_workers'") > 0
                        and _scalar(url, "SELECT count(*) FROM procrastinate_workers") > 0, 60), \
            (tmp_path / "worker.log").read_text()
        refused = _cli(cfg, "run", "--once")
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "1 `spreadwatch worker`" in refused.stderr and "poll every feed again" in refused.stderr
    finally:
        stop_all([worker])
    assert _scalar(url, "SELECT count(*) FROM procrastinate_workers") == 0  # a clean stop leaves no heartbeat
    ran = _cli(cfg, "run", "--once")
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_a_running_run_keeps_workers_and_a_second_run_away(tmp_path: Path, new_pg: Callable[[], str]) -> None:
    url = new_pg()
    cfg = write_config(tmp_path / "one.yaml", url, [])
    with (tmp_path / "run.log").open("wb") as log:
        daemon = subprocess.Popen([sys.executable, "-m", "spreadwatch", "run", "--config", str(cfg)], cwd=REPO,
                                  stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    held = f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = {RUN_LOCK} AND granted"
    try:
        assert wait_for(lambda: _scalar(url, held) == 1, 60), (tmp_path / "run.log").read_text()
        worker = _cli(cfg, "worker")
        assert worker.returncode == 3, worker.stdout + worker.stderr
        assert "a `spreadwatch run` process polls this database" in worker.stderr
        second = _cli(cfg, "run", "--once")
        assert second.returncode == 3 and "another `spreadwatch run`" in second.stderr, second.stderr
        assert daemon.poll() is None  # the first one carries on
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    assert _scalar(url, held) == 0  # the lock went with its process
    again = _cli(cfg, "run", "--once")
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_workers_start_probe_does_not_keep_another_worker_away(new_pg: Callable[[], str]) -> None:
    """Two workers started together each probe the `run` lock: a probe held by one (shared) lets the
    other start; the lock held by a `run` (exclusive) keeps it away."""
    from spreadwatch.exclusive import AnotherPoller, refuse_beside_run

    url = new_pg()
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as other:
            assert other.execute(text("SELECT pg_try_advisory_lock_shared(:k)"), {"k": RUN_LOCK}).scalar()
            refuse_beside_run(url)  # another worker's probe at the same moment: no refusal
            other.execute(text("SELECT pg_advisory_unlock_shared(:k)"), {"k": RUN_LOCK})
            assert other.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": RUN_LOCK}).scalar()  # as `run` holds it
            with pytest.raises(AnotherPoller):
                refuse_beside_run(url)
            other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": RUN_LOCK})
        refuse_beside_run(url)
    finally:
        engine.dispose()
