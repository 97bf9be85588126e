"""The worker pool: one and two `spreadwatch worker` processes over the generated newsroom, against
the bare library pipeline measured in the same run, and the serialised step's rate (placements/s).

Each pool run starts its workers on a fresh PostgreSQL database (127.0.0.1, trust auth) and Redis,
and is timed from the workers' start until every article of the newsroom is stored and placed (worker start-up
included: the same for both). The serialised step is timed while its lock is held (from the grant of
the placement lock to the end of the article's transaction's work), summed over the workers: so
placements/s is what one database's placement lock lets through, waiting for it excluded. Each run
also gives, in seconds from the workers' start, the span of the articles' first-seen times (the
moments the polls stored them) and the span from the first lock grant that placed an
article to the last batch's end: whether the polls and placement overlapped.

    python -m bench.worker_bench [--articles 5000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from bench.pages import build_site
from bench.site import ServedSite

PG_ADMIN = os.environ.get("SPREADWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _fresh_db(admin: Any) -> tuple[str, str]:
    name = f"swbench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    return name, make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def _articles(url: str) -> int:
    from storage import Article, Database

    db = Database(url)
    try:
        with db.session(read_only=True) as s:  # stored and placed
            return s.scalar(select(func.count(Article.id)).where(Article.story_id.is_not(None))) or 0
    finally:
        db.dispose()


def _first_seen(url: str) -> tuple[float, float] | None:
    """The earliest and latest first-seen times of the stored articles, as epoch seconds."""
    from storage import Article, Database

    db = Database(url)
    try:
        with db.session(read_only=True) as s:
            lo, hi = s.execute(select(func.min(Article.first_seen_at), func.max(Article.first_seen_at))).one()
    finally:
        db.dispose()
    return (lo.timestamp(), hi.timestamp()) if lo is not None and hi is not None else None


def pool_run(outlets: list[dict[str, Any]], workers: int, concurrency: int, expected: int, tmp: Path,
             timeout: float, poll_batch: int = 50) -> dict[str, Any]:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name, url = _fresh_db(admin)
    try:
        cfg = tmp / f"pool-{workers}.yaml"
        cfg.write_text(yaml.safe_dump({
            "default_outlets": False, "database_url": url, "outlets": outlets,
            "http": {"per_host_delay": 0, "per_host_concurrency": concurrency * workers,
                     "max_concurrency": concurrency, "retries": 0},
            "poll": {"interval_minutes": 600, "jitter_seconds": 0, "max_entries_per_feed": 50},
            "pool": {"tick_seconds": 1, "poll_batch": poll_batch, "redis_prefix": f"swbench-{uuid.uuid4().hex[:8]}"},
            "alerts": {"channels": [{"name": "bench", "type": "console"}]}}))
        _articles(url)  # migrated before the clock starts
        procs, outs = [], []
        t0, epoch0 = time.perf_counter(), time.time()
        for i in range(workers):
            out = tmp / f"placement-{workers}-{i}.json"
            outs.append(out)
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "bench.worker_bench", "--child", str(cfg), str(out), str(concurrency)],
                stdout=(tmp / f"w{workers}-{i}.log").open("wb"), stderr=subprocess.STDOUT))
        while _articles(url) < expected and time.perf_counter() - t0 < timeout:
            time.sleep(0.5)
        wall = time.perf_counter() - t0
        stored = _articles(url)
        seen = _first_seen(url)
        stop_processes(procs)
        placed = [json.loads(o.read_text()) for o in outs if o.exists()]
        grants = [p["first_grant"] for p in placed if p.get("first_grant")]
        ends = [p["last_end"] for p in placed if p.get("last_end")]
        return {"workers": workers, "articles": stored, "seconds": wall,
                "placements": sum(p["placements"] for p in placed),
                "placement_seconds": sum(p["seconds"] for p in placed),
                # when, from the workers' start, the articles were stored (first seen) and the
                # placement lock was first granted and last let go: whether polls and placement
                # overlapped, measured
                "first_seen_from_s": seen[0] - epoch0 if seen else None,
                "first_seen_to_s": seen[1] - epoch0 if seen else None,
                "placing_from_s": min(grants) - epoch0 if grants else None,
                "placing_to_s": max(ends) - epoch0 if ends else None}
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def stop_processes(procs: list[subprocess.Popen[bytes]], wait: float = 60) -> None:
    """SIGTERM each (workers stop gracefully and write their totals), then kill what is still there."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def child(cfg: str, out: str, concurrency: int) -> None:
    """A worker whose serialised step is timed: from the moment the placement lock is granted
    (storage.stories_repo.lock_stories returns) to the end of the placement job's step for one
    batch of articles (spreadwatch.ingest.place_waiting; the commit that releases the lock is a few
    ms more).
    Its totals are written when it stops."""
    import threading

    import spreadwatch.ingest
    import storage.stories_repo
    from spreadwatch.pool import run_worker
    from spreadwatch.validation import load_config

    totals: dict[str, float] = {"placements": 0, "seconds": 0.0, "first_grant": 0.0, "last_end": 0.0}
    held = threading.local()
    lock, place_waiting = storage.stories_repo.lock_stories, spreadwatch.ingest.place_waiting

    def locked(*a: Any, **k: Any) -> Any:
        granted = getattr(held, "at", None)
        lock(*a, **k)
        if granted is None:  # the first grant of the batch's transaction (a batch asks once)
            held.at, held.epoch = time.perf_counter(), time.time()

    def timed(*a: Any, **k: Any) -> Any:  # the placement job's step: a batch placed, with alert rules
        held.at = None
        placed: list[Any] = []
        try:
            placed = place_waiting(*a, **k)
            return placed
        finally:
            if held.at is not None and placed:
                totals["seconds"] += time.perf_counter() - held.at
                totals["placements"] += len(placed)
                # the first grant that placed something (a grant may find every article held)
                totals["first_grant"] = totals["first_grant"] or held.epoch
                totals["last_end"] = time.time()
            held.at = None

    storage.stories_repo.lock_stories = locked  # type: ignore[assignment]
    spreadwatch.ingest.place_waiting = timed  # type: ignore[assignment]
    try:
        run_worker(load_config(Path(cfg), None), concurrency)
    finally:
        Path(out).write_text(json.dumps(totals))


def run(articles: int, concurrency: int, timeout: float, poll_batch: int = 50) -> dict[str, Any]:
    from bench.e2e_bench import _child

    with ServedSite(lambda base: build_site(articles, base)) as served, \
            tempfile.TemporaryDirectory(prefix="swbench-pool-") as tmp_:
        assert served.site is not None
        tmp = Path(tmp_)
        outlets = served.site.outlets_config(served.base_url)
        spec = tmp / "spec.json"
        spec.write_text(json.dumps({"outlets": outlets, "concurrency": concurrency, "per_feed": 50, "dir": tmp_}))
        bare = _child("bare", spec, timeout)
        expected = bare["articles"]
        one = pool_run(outlets, 1, concurrency, expected, tmp, timeout, poll_batch)
        two = pool_run(outlets, 2, concurrency, expected, tmp, timeout, poll_batch)
    rate = {k: v["articles"] / v["seconds"] for k, v in (("bare", bare), ("one", one), ("two", two))}
    placement_rate = (one["placements"] + two["placements"]) / max(1e-9, one["placement_seconds"] + two["placement_seconds"])
    return {"articles": articles, "bare_articles_per_s": rate["bare"], "one_worker_articles_per_s": rate["one"],
            "two_workers_articles_per_s": rate["two"], "two_over_one": rate["two"] / rate["one"],
            "one_over_bare": rate["one"] / rate["bare"], "two_over_bare": rate["two"] / rate["bare"],
            "placements_per_s": placement_rate, "runs": {"bare": bare, "one": one, "two": two},
            "cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg()}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--poll-batch", type=int, default=50, help="pool.poll_batch: feeds per poll job at most")
    args = ap.parse_args()
    result = run(args.articles, args.concurrency, args.timeout, args.poll_batch)
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    print(json.dumps(result["runs"], indent=2, default=str))


if __name__ == "__main__":
    main()
