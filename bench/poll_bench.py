"""How many feeds one process polls per minute when they answer 304.

N feeds (default 10,000, ten per outlet) on a local server in a separate process; a first cycle
stores their ETags, then a second cycle, where every feed answers 304, is timed. Baseline, same run:
the same number of GETs with a bare httpx.AsyncClient at the same concurrency, no database.

    python -m bench.poll_bench [--feeds 10000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

SERVER = r'''
import hashlib, sys, threading
from spreadwatch.localserver import LocalServer, Response
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


def feeds_per_minute(n: int, concurrency: int) -> dict[str, object]:
    from alerts.sinks import free_port
    from spreadwatch.cycle import poll_due, sync_outlets
    from spreadwatch.settings import HttpSettings, OutletConfig, load_settings
    from storage import Database

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout and proc.stdout.readline().strip() == "ready"
        base = f"http://127.0.0.1:{port}/feed?id="
        with tempfile.TemporaryDirectory() as tmp:
            outlets = [OutletConfig(key=f"o{j}", name=f"o{j}", feeds=[{"url": f"{base}{j * 10 + k}"} for k in range(10)])
                       for j in range(n // 10)]
            http = HttpSettings(per_host_delay=0, per_host_concurrency=concurrency, max_concurrency=concurrency,
                                retries=0, obey_robots=False)
            settings = load_settings().with_overrides(database_url=f"sqlite:///{Path(tmp) / 'p.db'}",
                                                      outlets=outlets, http=http)
            db = Database(settings.database_url)
            sync_outlets(db, settings)
            asyncio.run(poll_due(db, settings, force=True))  # ETags stored
            t = time.perf_counter()
            report = asyncio.run(poll_due(db, settings, force=True))
            ours = time.perf_counter() - t
            not_modified = sum(f.status == "not-modified" for f in report.feeds)
        t = time.perf_counter()
        asyncio.run(_bare(base, n, concurrency))
        bare = time.perf_counter() - t
    finally:
        proc.kill()
    return {"feeds": n, "not_modified": not_modified, "seconds": round(ours, 1),
            "feeds_per_minute": round(n / ours * 60), "bare_httpx_seconds": round(bare, 1),
            "ratio_vs_bare_httpx": round(bare / ours, 2)}


async def _bare(base: str, n: int, concurrency: int) -> None:
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:
        async def one(i: int) -> None:
            async with sem:
                r = await client.get(f"{base}{i}", headers={"If-None-Match": "x"})
                r.raise_for_status()
        await asyncio.gather(*(one(i) for i in range(n)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    print(json.dumps(feeds_per_minute(args.feeds, args.concurrency), indent=2))


if __name__ == "__main__":
    main()
