"""How many feeds one process polls per minute when they answer 304, with its CPU and memory.

N feeds (default 10,000, ten per outlet) on a local server in a separate process; a first cycle
stores their ETags, then a second cycle, where every feed answers 304, is timed: the due feeds'
state read in one query, the conditional GETs through the polite client, the 304s written in
batches. Baselines, same run, same concurrency, no database:
- bare httpx: the same GETs with an httpx.AsyncClient that reads each (empty) 304 body, so its
  connection goes back to the pool;
- bare httpx, body unread: the same, leaving each 304 body unread the way crawler/fetch.py does
  today, which makes httpx close the connection and open a new one for the next request.
Several concurrencies can be swept in one run (httpx's AsyncClient slows down as concurrency
grows, encode/httpx#3215, so more is not always faster). The machine's load average is printed
with the figures: on a shared machine, read the ratios, not the absolute times.

    python -m bench.poll_bench [--feeds 10000] [--concurrency 8,16,32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

SERVER = r'''
import hashlib, sys, threading
from http.server import ThreadingHTTPServer
from spreadwatch.localserver import LocalServer, Response
# a listen backlog like a real web server's (socketserver's default of 5 drops connections at high
# concurrency, and every 304 the poller gets costs a new connection, see crawler/fetch.py)
ThreadingHTTPServer.request_queue_size = 1024
FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://x/</link><description>d</description></channel></rss>'
ETAG = '"' + hashlib.sha1(FEED).hexdigest()[:16] + '"'
def feed(req):
    if req.headers.get("if-none-match") == ETAG:
        return Response(304, b"", {"ETag": ETAG})
    return Response(200, FEED, {"ETag": ETAG, "Content-Type": "application/rss+xml"})
srv = LocalServer(port=int(sys.argv[1]))
srv.route("/feed", feed)
srv.route("/robots.txt", lambda r: Response(404, b""))
srv.start()
print("ready", flush=True)
threading.Event().wait()
'''


@dataclass
class Usage:
    """Wall time, and this process's CPU seconds, over one measured step."""

    wall: float
    cpu: float

    @property
    def cpu_share(self) -> float:
        return self.cpu / self.wall if self.wall else 0.0


def measure(run: Any) -> tuple[Any, Usage]:
    """Run a callable; its result and what it cost this process."""
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    result = run()
    r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    return result, Usage(t1 - t0, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))


def cpu_of(pid: int) -> float:
    """CPU seconds a process has used so far (Linux /proc), 0 where that cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_mb() -> float:
    from spreadwatch.metrics import resident_bytes

    return round(resident_bytes() / 2**20, 1)


def start_server() -> tuple[subprocess.Popen[str], str]:
    from alerts.sinks import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout and proc.stdout.readline().strip() == "ready"
    return proc, f"http://127.0.0.1:{port}/feed?id="


def settings_for(base: str, n: int, concurrency: int, db_path: Path) -> Any:
    from spreadwatch.settings import FeedConfig, HttpSettings, OutletConfig, load_settings

    outlets = [OutletConfig(key=f"o{j}", name=f"o{j}", feeds=[FeedConfig(url=f"{base}{j * 10 + k}") for k in range(10)])
               for j in range(n // 10)]
    http = HttpSettings(per_host_delay=0, per_host_concurrency=concurrency, max_concurrency=concurrency,
                        retries=0, obey_robots=False)
    return load_settings().with_overrides(database_url=f"sqlite:///{db_path}", outlets=outlets, http=http)


def poll_304s(base: str, n: int, concurrencies: list[int], server_pid: int) -> list[dict[str, Any]]:
    """The second cycle of our poller at each concurrency, next to both bare-httpx baselines."""
    from spreadwatch.cycle import poll_due, sync_outlets
    from storage import Database

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(base, n, concurrencies[0], Path(tmp) / "p.db")
        db = Database(settings.database_url)
        sync_outlets(db, settings)
        _, first = measure(lambda: asyncio.run(poll_due(db, settings, force=True)))  # ETags stored
        print(f"setup: first cycle (200s, one transaction per feed) {first.wall:.1f} s", file=sys.stderr)
        for c in concurrencies:
            settings = settings.with_overrides(http=settings.http.model_copy(
                update={"per_host_concurrency": c, "max_concurrency": c}))
            server_cpu = cpu_of(server_pid)
            report, ours = measure(lambda: asyncio.run(poll_due(db, settings, force=True)))
            server_cpu = cpu_of(server_pid) - server_cpu
            bare_errors, bare = measure(lambda: asyncio.run(bare_gets(base, n, c, read_body=True)))
            unread_errors, unread = measure(lambda: asyncio.run(bare_gets(base, n, c, read_body=False)))
            rows.append({**row(n, c, report, ours, bare, unread), "server_cpu_seconds": round(server_cpu, 1),
                         "bare_httpx_errors": bare_errors, "bare_httpx_unread_304_errors": unread_errors})
            print(json.dumps(rows[-1]), file=sys.stderr)
        db.dispose()
    return rows


def row(n: int, concurrency: int, report: Any, ours: Usage, bare: Usage, unread: Usage) -> dict[str, Any]:
    errors = [f.error for f in report.feeds if f.status == "error"]
    return {"feeds": n, "concurrency": concurrency,
            "not_modified": sum(f.status == "not-modified" for f in report.feeds),
            "errors": len(errors), "first_error": errors[0] if errors else None,
            "seconds": round(ours.wall, 1), "feeds_per_minute": round(n / ours.wall * 60),
            "cpu_seconds": round(ours.cpu, 1), "cpu_share": round(ours.cpu_share, 2), "rss_mb": rss_mb(),
            "bare_httpx_seconds": round(bare.wall, 1), "bare_httpx_cpu_seconds": round(bare.cpu, 1),
            "ratio_vs_bare_httpx": round(bare.wall / ours.wall, 2),
            "bare_httpx_unread_304_seconds": round(unread.wall, 1),
            "bare_httpx_unread_304_cpu_seconds": round(unread.cpu, 1),
            "ratio_vs_bare_httpx_unread_304": round(unread.wall / ours.wall, 2)}


async def bare_gets(base: str, n: int, concurrency: int, *, read_body: bool) -> int:
    """N GETs at this concurrency; returns how many failed (a timeout of an overloaded server)."""
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        async def one(i: int) -> bool:
            async with sem:
                try:
                    async with client.stream("GET", f"{base}{i}", headers={"If-None-Match": "x"}) as r:
                        if read_body:
                            await r.aread()
                        return r.status_code < 400
                except httpx.HTTPError:
                    return False
        results = await asyncio.gather(*(one(i) for i in range(n)))
    return results.count(False)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--feeds", type=int, default=10_000)
    ap.add_argument("--concurrency", default="16", help="one or more, comma-separated: 8,16,32")
    args = ap.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    load_before = os.getloadavg()
    server, base = start_server()
    try:
        rows = poll_304s(base, args.feeds, concurrencies, server.pid)
    finally:
        server.kill()
        server.wait(timeout=10)
    print(json.dumps({"cpus": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before],
                      "load_average_after": [round(x, 2) for x in os.getloadavg()],
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
