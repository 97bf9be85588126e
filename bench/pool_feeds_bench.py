"""The worker pool polling many mostly unchanged feeds: once per interval each, never twice, per minute.

N feeds (default 10,000, ten per outlet) on one local server in its own process, which answers 304
to a request carrying the ETag it gave and counts every request per feed. One and then two
`spreadwatch worker` processes run on a fresh PostgreSQL database with the feeds' interval at one
minute: the first round stores every feed's ETag (a 200 each), the second round is all 304s. Timed
per round: from its first request to the N-th feed's; and how late each feed's second poll came
after it fell due (one interval after its first). The floor is one process: `poll_bench`'s figure
for the same N, or `--with-run` to run `spreadwatch run --once` twice here on SQLite. Requests are
counted at the server: the pool must make exactly one per feed per round, as one process does.

    python -m bench.pool_feeds_bench [--feeds 10000] [--workers 1,2] [--concurrency 32] [--batch 50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import create_engine, text

from bench.worker_bench import PG_ADMIN, _fresh_db, stop_processes

SERVER = r'''
import hashlib, json, sys, threading, time
from http.server import ThreadingHTTPServer
from spreadwatch.localserver import LocalServer, Response
ThreadingHTTPServer.request_queue_size = 1024
FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://x/</link><description>d</description></channel></rss>'
ETAG = '"' + hashlib.sha1(FEED).hexdigest()[:16] + '"'
lock = threading.Lock()
seen = {}  # feed id -> [(monotonic time, status)]
def feed(req):
    fid = req.query.split("=", 1)[-1]
    status = 304 if req.headers.get("if-none-match") == ETAG else 200
    with lock:
        seen.setdefault(fid, []).append((time.monotonic(), status))
    if status == 304:
        return Response(304, b"", {"ETag": ETAG})
    return Response(200, FEED, {"ETag": ETAG, "Content-Type": "application/rss+xml"})
def stats(req):
    with lock:
        return Response(200, json.dumps(seen).encode(), {"Content-Type": "application/json"})
srv = LocalServer(port=int(sys.argv[1]))
srv.route("/feed", feed)
srv.route("/stats", stats)
srv.route("/robots.txt", lambda r: Response(404, b""))
srv.start()
print("ready", flush=True)
threading.Event().wait()
'''
INTERVAL_S = 60.0


def _progress(msg: str) -> None:
    print(f"  pool_feeds: {msg}", file=sys.stderr, flush=True)


def start_server() -> tuple[subprocess.Popen[str], str]:
    from alerts.sinks import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout and proc.stdout.readline().strip() == "ready"
    return proc, f"http://127.0.0.1:{port}"


def _outlets(base: str, n: int) -> list[dict[str, Any]]:
    return [{"key": f"o{j}", "name": f"o{j}", "country": "XK", "language": "en",
             "feeds": [{"url": f"{base}/feed?id={j * 10 + k}"} for k in range(10)]} for j in range(n // 10)]


def _stats(base: str) -> dict[str, list[tuple[float, int]]]:
    return httpx.get(f"{base}/stats", timeout=60).json()  # type: ignore[no-any-return]


def _align(url: str, n: int) -> float | None:
    """Once every feed has been polled once and its next poll written: every feed due at the same
    moment, the latest of their own due times (none earlier than its interval allows). That moment
    on this machine's monotonic clock (the server's too), or None while some feed is not there yet."""
    eng = create_engine(url)
    try:
        with eng.begin() as c:
            there, waiting = c.execute(text(
                "SELECT count(*), count(*) FILTER (WHERE last_ok_at IS NULL "
                "OR next_poll_at > now() + interval '1 minute' * :m) FROM feed"), {"m": INTERVAL_S / 60 + 0.5}).one()
            if there < n or waiting:
                return None
            ahead = c.execute(text("WITH m AS (SELECT max(next_poll_at) AS at FROM feed) "
                                   "UPDATE feed SET next_poll_at = m.at FROM m "
                                   "RETURNING extract(epoch FROM m.at - now() AT TIME ZONE 'UTC')")).scalar()
    finally:
        eng.dispose()
    return time.monotonic() + float(ahead or 0)


def pool_round_trip(base: str, n: int, workers: int, concurrency: int, tmp: Path, timeout: float,
                    batch: int = 50, aligned: bool = False) -> dict[str, Any]:
    """W workers until every feed has had two polls (or the timeout); the server's counts."""
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name, url = _fresh_db(admin)
    before = {k: len(v) for k, v in _stats(base).items()}
    cfg = tmp / f"feeds-{workers}.yaml"
    cfg.write_text(yaml.safe_dump({
        "default_outlets": False, "database_url": url, "outlets": _outlets(base, n),
        "http": {"per_host_delay": 0, "per_host_concurrency": concurrency * workers, "max_concurrency": concurrency,
                 "retries": 0, "obey_robots": False},
        "poll": {"interval_minutes": INTERVAL_S / 60, "jitter_seconds": 0},
        "pool": {"tick_seconds": 1, "claim_batch": 2000, "poll_batch": batch, "redis_prefix": f"swbench-{uuid.uuid4().hex[:8]}"}}))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run([sys.executable, "-m", "spreadwatch", "migrate", "--config", str(cfg)], check=True,
                       capture_output=True, timeout=300)
        for i in range(workers):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "spreadwatch", "worker", "--config", str(cfg), "--concurrency", str(concurrency),
                 "--name", f"bench{i}"], stdout=(tmp / f"feeds-w{workers}-{i}.log").open("wb"), stderr=subprocess.STDOUT))
        t0 = time.monotonic()
        polls: dict[str, list[tuple[float, int]]] = {}
        loads: list[float] = []
        due_at: float | None = None
        while time.monotonic() - t0 < timeout:
            time.sleep(5)
            loads.append(os.getloadavg()[0])
            if aligned and due_at is None:
                due_at = _align(url, n)
                if due_at is not None:
                    _progress(f"every feed due together in {due_at - time.monotonic():.0f} s")
            stats = _stats(base)
            polls = {k: v[before.get(k, 0):] for k, v in stats.items()}
            done = sum(1 for v in polls.values() if len(v) >= 2)
            _progress(f"{workers} worker(s): {sum(1 for v in polls.values() if v):,} feeds polled once, "
                      f"{done:,} twice ({time.monotonic() - t0:.0f} s)")
            if done >= n:
                time.sleep(5)  # anything doubled shows up now
                polls = {k: v[before.get(k, 0):] for k, v in _stats(base).items()}
                break
    finally:
        stop_processes(procs)
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    out = summarise(polls, n, workers)
    if aligned:
        lags = sorted(v[1][0] - due_at for v in polls.values() if len(v) >= 2) if due_at else []
        out["aligned_lag_median_s"] = round(lags[len(lags) // 2], 1) if lags else None
        out["aligned_lag_max_s"] = round(lags[-1], 1) if lags else None
        if lags and out.get("second_round_seconds"):  # from the common due time to the last second poll
            out["aligned_feeds_per_minute"] = round(len(lags) / max(lags[-1], 1e-9) * 60)
    out["loadavg_1min_during"] = [min(loads, default=0), max(loads, default=0)]
    out["poll_batch"] = batch
    return out


def summarise(polls: dict[str, list[tuple[float, int]]], n: int, workers: int) -> dict[str, Any]:
    firsts = sorted(v[0][0] for v in polls.values() if v)
    seconds = [v[1] for v in polls.values() if len(v) >= 2]
    lags = sorted(v[1][0] - (v[0][0] + INTERVAL_S) for v in polls.values() if len(v) >= 2)
    second_times = sorted(t for t, _ in seconds)
    requests = sum(len(v) for v in polls.values())
    gaps = [b[0] - a[0] for v in polls.values() for a, b in zip(v, v[1:])]
    out = {"workers": workers, "feeds": n, "polled_once": len(firsts), "polled_twice": len(seconds),
           # a third poll of an early feed while the last ones had their second is its next interval's
           "requests": requests, "third_round_requests": sum(max(0, len(v) - 2) for v in polls.values()),
           "polled_again_within_interval": sum(1 for g in gaps if g < 0.95 * INTERVAL_S),
           "second_round_304s": sum(1 for _, status in seconds if status == 304),
           "first_round_seconds": round(firsts[-1] - firsts[0], 1) if firsts else None,
           "second_round_seconds": round(second_times[-1] - second_times[0], 1) if second_times else None,
           "lag_median_s": round(lags[len(lags) // 2], 1) if lags else None,
           "lag_max_s": round(lags[-1], 1) if lags else None,
           "min_gap_s": round(min(gaps, default=0), 1)}
    if out["second_round_seconds"]:
        out["second_round_feeds_per_minute"] = round(len(seconds) / max(out["second_round_seconds"], 1e-9) * 60)
    return out


def run_once_floor(base: str, n: int, concurrency: int, tmp: Path) -> dict[str, Any]:
    """One process, `spreadwatch run --once` twice on SQLite: the second is all 304s."""
    cfg = tmp / "feeds-run.yaml"
    cfg.write_text(yaml.safe_dump({
        "default_outlets": False, "database_url": f"sqlite:///{tmp / 'run.db'}", "outlets": _outlets(base, n),
        "http": {"per_host_delay": 0, "per_host_concurrency": concurrency, "max_concurrency": concurrency,
                 "retries": 0, "obey_robots": False}}))
    before = sum(len(v) for v in _stats(base).values())
    subprocess.run([sys.executable, "-m", "spreadwatch", "run", "--once", "--config", str(cfg)], check=True,
                   capture_output=True, timeout=1200)
    t = time.monotonic()
    subprocess.run([sys.executable, "-m", "spreadwatch", "run", "--once", "--config", str(cfg)], check=True,
                   capture_output=True, timeout=1200)
    second = time.monotonic() - t
    return {"requests": sum(len(v) for v in _stats(base).values()) - before, "second_run_seconds": round(second, 1),
            "feeds_per_minute": round(n / second * 60)}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--feeds", type=int, default=10_000)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--concurrency", type=int, default=32,
                    help="requests at once per worker (and its feeds polled at once, and its jobs at once: "
                         "a poll_batch job is --batch feeds)")
    ap.add_argument("--interval", type=float, default=60, help="the feeds' interval, seconds")
    ap.add_argument("--aligned", action="store_true",
                    help="once every feed has its first poll, make them all due at one moment (the latest of "
                         "their due times): round two then measures how fast the pool polls 10,000 due feeds")
    ap.add_argument("--batch", type=int, default=50, help="pool.poll_batch: feeds per poll job")
    ap.add_argument("--with-run", action="store_true", help="also measure `spreadwatch run --once` as the floor")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    global INTERVAL_S
    INTERVAL_S = args.interval
    server, base = start_server()
    results: dict[str, Any] = {"loadavg_at_start": os.getloadavg()}
    try:
        with tempfile.TemporaryDirectory(prefix="swbench-feeds-") as tmp:
            if args.with_run:
                _progress("one process: run --once twice on SQLite")
                results["run_once"] = run_once_floor(base, args.feeds, args.concurrency, Path(tmp))
                print(json.dumps({"run_once": results["run_once"]}), flush=True)
            for w in (int(x) for x in args.workers.split(",")):
                r = pool_round_trip(base, args.feeds, w, args.concurrency, Path(tmp), args.timeout, args.batch,
                                    args.aligned)
                r["loadavg_after"] = os.getloadavg()
                results[f"workers_{w}"] = r
                print(json.dumps(r), flush=True)
    finally:
        server.kill()
    results["loadavg_at_end"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
