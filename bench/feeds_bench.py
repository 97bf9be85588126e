"""Feed ingest: feeds parsed per second by the poller's code path vs feedparser alone on the same bytes.

Two figures on the generated site's RSS feeds (50 items, summaries and content:encoded, ~120 KB):
- parse: crawler.feeds.parse_feed (feedparser plus our entries: links, times, summary text) vs
  feedparser.parse on the same bytes with the same response headers;
- poll over local HTTP: crawler.feeds.poll_feed through the polite Fetcher (no delay, robots
  obeyed) vs a bare httpx.AsyncClient GET followed by feedparser.parse, one feed at a time.

    python -m bench.feeds_bench [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

import feedparser
import httpx

from bench.figures import Figure, each, interleaved, repeat_to, table
from bench.pages import build_site
from bench.site import ServedSite
from crawler.feeds import FEED_ACCEPT, parse_feed, poll_feed
from crawler.fetch import Fetcher
from spreadwatch.settings import HttpSettings

HEADERS = {"content-type": "application/rss+xml; charset=utf-8"}


def run(quick: bool = True) -> list[Figure]:
    """Both feed figures, on a site with as many feeds as the mode allows."""
    with ServedSite(lambda base: build_site(400 if quick else 1500, base)) as served:
        assert served.site is not None
        feeds = served.site.feeds()
        urls = [served.base_url + path for path, _ in feeds]
        return [_parse_figure([body for _, body in feeds], quick), _poll_figure(urls, quick)]


def _parse_figure(bodies: list[bytes], quick: bool) -> Figure:
    items = repeat_to(bodies, 60 if quick else 300)
    rates, n = interleaved({
        "ours": each(lambda b: parse_feed(b, "http://bench/feed", headers=HEADERS)),
        "floor": each(lambda b: feedparser.parse(b, response_headers=HEADERS)),
    }, items, budget=15 if quick else 60, chunk=10)
    return Figure("feeds", "parse: crawler.feeds.parse_feed", "feeds/s", rates["ours"],
                  "feedparser.parse, same bytes", rates["floor"], n,
                  note=f"{sum(map(len, bodies)) // len(bodies) // 1000} KB feeds of 50 items")


def _poll_figure(urls: list[str], quick: bool) -> Figure:
    items = repeat_to(urls, 60 if quick else 300)
    loop = asyncio.new_event_loop()
    fetcher = Fetcher(HttpSettings(per_host_delay=0, per_host_concurrency=1, max_concurrency=1, retries=0))
    client = httpx.AsyncClient()
    loop.run_until_complete(fetcher.__aenter__())
    try:
        rates, n = interleaved({
            "ours": lambda part: loop.run_until_complete(_poll_ours(fetcher, part)),
            "floor": lambda part: loop.run_until_complete(_poll_bare(client, part)),
        }, items, budget=15 if quick else 60, chunk=10)
    finally:
        loop.run_until_complete(fetcher.__aexit__())
        loop.run_until_complete(client.aclose())
        loop.close()
    return Figure("feeds", "poll over local HTTP: crawler.feeds.poll_feed", "feeds/s", rates["ours"],
                  "httpx GET + feedparser.parse", rates["floor"], n, note="one at a time, keep-alive")


async def _poll_ours(fetcher: Fetcher, urls: Sequence[str]) -> None:
    for url in urls:
        await poll_feed(fetcher, url)


async def _poll_bare(client: httpx.AsyncClient, urls: Sequence[str]) -> None:
    for url in urls:
        resp = await client.get(url, headers={"Accept": FEED_ACCEPT})
        feedparser.parse(resp.content, response_headers=dict(resp.headers))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    print(table(run(ap.parse_args().quick)))


if __name__ == "__main__":
    main()
