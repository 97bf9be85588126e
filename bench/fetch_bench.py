"""Page fetching: pages per second through crawler.fetch.Fetcher vs a bare httpx.AsyncClient, by concurrency.

httpx's AsyncClient gets slower as concurrency grows (encode/httpx#3215), so the poller's
`max_concurrency` should sit at the sweet spot rather than be "as high as possible". At each level
both clients GET the same article pages (~28 KB) from the site's child process, alternately in
chunks; the Fetcher runs as the poller configures it for one host (no delay, robots obeyed), the
bare client keeps as many connections alive as it may open, as the Fetcher does.

The site answers after LATENCY seconds, as a distant site does: on 127.0.0.1 with no latency,
one request at a time is always fastest and the sweep would say nothing about real polling. One
more figure, at concurrency 1 with no latency, is the client's own cost per request.

    python -m bench.fetch_bench [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

import httpx

from bench.figures import Figure, interleaved, repeat_to, table
from bench.pages import build_site
from bench.site import ServedSite
from crawler.fetch import Fetcher
from spreadwatch.settings import HttpSettings

LEVELS_QUICK = (1, 8, 32)
LEVELS_FULL = (1, 4, 8, 16, 32, 64)
LATENCY = 0.05  # seconds: a news site's answer time seen from a server in the same region


def run(quick: bool = True) -> list[Figure]:
    """The client's cost per request, then one figure per concurrency level against a distant site."""
    with ServedSite(lambda base: build_site(400, base)) as served:
        assert served.site is not None
        figures = [_level(_urls(served), 1, quick, "no latency")]
    with ServedSite(lambda base: build_site(400, base), latency=LATENCY) as served:
        figures += [_level(_urls(served), c, quick, f"{LATENCY * 1000:.0f} ms latency")
                    for c in (LEVELS_QUICK if quick else LEVELS_FULL)]
    return figures


def _urls(served: ServedSite) -> list[str]:
    assert served.site is not None
    return [served.base_url + path for path, _ in served.site.pages()]


def _level(urls: list[str], concurrency: int, quick: bool, note: str) -> Figure:
    items = repeat_to(urls, min(1200 if quick else 4000, 40 * concurrency + 200))
    loop = asyncio.new_event_loop()
    fetcher = Fetcher(HttpSettings(per_host_delay=0, per_host_concurrency=concurrency,
                                   max_concurrency=concurrency, retries=0))
    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency,
                                                   max_keepalive_connections=concurrency))
    loop.run_until_complete(fetcher.__aenter__())
    try:
        rates, n = interleaved({
            "ours": lambda part: loop.run_until_complete(_gather(part, concurrency, fetcher.get)),
            "floor": lambda part: loop.run_until_complete(_gather(part, concurrency, client.get)),
        }, items, budget=8 if quick else 20, chunk=max(100, concurrency * 4))
    finally:
        loop.run_until_complete(fetcher.__aexit__())
        loop.run_until_complete(client.aclose())
        loop.close()
    return Figure("fetch", f"Fetcher.get, concurrency {concurrency}, {note}", "pages/s", rates["ours"],
                  "bare httpx.AsyncClient.get, same", rates["floor"], n)


async def _gather(urls: Sequence[str], concurrency: int, get) -> None:  # type: ignore[no-untyped-def]
    """GET every URL, at most `concurrency` at a time (a semaphore, as the poller's tasks wait)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(url: str) -> None:
        async with gate:
            await get(url)
    await asyncio.gather(*(one(u) for u in urls))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    print(table(run(ap.parse_args().quick)))


if __name__ == "__main__":
    main()
