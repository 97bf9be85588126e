"""The pool's shared politeness on the real Redis: two Fetchers (two workers' worth) share one gate."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from crawler import Fetcher
from crawler.errors import HTTPStatusError
from crawler.hostgate import RedisHostGate
from spreadwatch.localserver import LocalServer, Request, Response
from spreadwatch.settings import HttpSettings

REDIS = "redis://127.0.0.1:6379/0"


def test_a_429_with_retry_after_holds_every_worker_off_the_host() -> None:
    arrivals: list[tuple[float, str]] = []

    def page(req: Request) -> Response:
        arrivals.append((time.monotonic(), req.path))
        if req.path == "/busy":
            return Response(429, b"slow down", {"Retry-After": "2", "Content-Type": "text/plain"})
        return Response(200, b"ok", {"Content-Type": "text/plain"})

    http = HttpSettings(per_host_delay=0, per_host_concurrency=4, retries=0, obey_robots=False)

    async def main(base: str) -> None:
        prefix = f"swtest-{uuid.uuid4().hex[:8]}"
        gates = [RedisHostGate(REDIS, prefix), RedisHostGate(REDIS, prefix)]
        try:
            async with Fetcher(http, gate=gates[0]) as a, Fetcher(http, gate=gates[1]) as b:
                with pytest.raises(HTTPStatusError):
                    await a.get(base + "/busy")
                t = time.monotonic()
                await b.get(base + "/calm")  # the other worker waits out the host's Retry-After
                assert time.monotonic() - t >= 1.5
        finally:
            for g in gates:
                await g.aclose()

    with LocalServer() as srv:
        srv.route("/busy", page)
        srv.route("/calm", page)
        asyncio.run(main(srv.base_url))
    (t429, _), (tcalm, path) = arrivals
    assert path == "/calm" and tcalm - t429 >= 1.8  # as the server saw it


def test_robots_txt_is_fetched_once_for_the_pool() -> None:
    with LocalServer() as srv:
        srv.route("/robots.txt", lambda r: Response(200, b"User-agent: *\nDisallow: /no/\n",
                                                    {"Content-Type": "text/plain"}))
        srv.route("/yes", lambda r: Response(200, b"ok", {"Content-Type": "text/plain"}))
        http = HttpSettings(per_host_delay=0, retries=0)

        async def main() -> None:
            prefix = f"swtest-{uuid.uuid4().hex[:8]}"
            gates = [RedisHostGate(REDIS, prefix) for _ in range(3)]
            try:
                fetchers = [Fetcher(http, gate=g) for g in gates]
                for f in fetchers:
                    await f.__aenter__()
                await asyncio.gather(*(f.get(srv.url("/yes")) for f in fetchers))
                from crawler.errors import RobotsDisallowed

                with pytest.raises(RobotsDisallowed):  # the rules the first worker fetched hold for all
                    await fetchers[2].get(srv.url("/no/page"))
                for f in fetchers:
                    await f.__aexit__(None, None, None)
            finally:
                for g in gates:
                    await g.aclose()

        asyncio.run(main())
        assert len(srv.hits("/robots.txt")) == 1
        assert len(srv.hits("/yes")) == 3
