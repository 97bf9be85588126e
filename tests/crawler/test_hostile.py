"""Responses meant to hurt, from a real local server: gzip bombs (one layer and stacked),
trickling servers, odd encodings. Memory is measured inside each test that could blow it."""

from __future__ import annotations

import asyncio
import functools
import gzip
import time
import zlib

import pytest

from crawler import ContentEncodingError, Fetcher, FetchTimeout, ResponseTooLarge, poll_feed
from crawler.errors import FeedError
from spreadwatch.localserver import LocalServer, Response, static
from spreadwatch.settings import HttpSettings
from tests.crawler.memory import MB, PeakMemory

HTTP = HttpSettings(per_host_delay=0, retries=2, backoff_base=0.05, read_timeout=5, connect_timeout=2,
                    total_timeout=30, obey_robots=False, user_agent="spreadwatch-test/1")  # max_bytes: 5 MB
GIB = 1 << 30
LIMIT = 50 * MB  # what no response may make the process grow by


@functools.cache
def gzip_bomb() -> bytes:
    """1 GiB of zeros, gzipped: about 1 MB on the wire."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    parts = [z.compress(zeros) for _ in range(GIB // len(zeros))]
    return b"".join(parts) + z.flush()


def fetch(url: str, http: HttpSettings = HTTP, **kw: str):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        async with Fetcher(http) as f:
            return await f.get(url, **kw)
    return asyncio.run(go())


def encoded(body: bytes, encoding: str) -> Response:
    return Response(200, body, {"Content-Type": "application/rss+xml", "Content-Encoding": encoding})


def test_a_gzip_bomb_stops_at_the_cap_on_decoded_bytes(server: LocalServer) -> None:
    bomb = gzip_bomb()
    assert len(bomb) < 1_100_000  # 1 GiB inflated
    server.route("/bomb", lambda r: encoded(bomb, "gzip"))
    with PeakMemory() as peak, pytest.raises(ResponseTooLarge, match="once decoded"):
        fetch(server.url("/bomb"))
    peak.assert_below(LIMIT)


def test_a_bomb_gzipped_twice_never_inflates_its_inner_layer_whole(server: LocalServer) -> None:
    twice = gzip.compress(gzip_bomb(), 9)
    assert len(twice) < 4_000  # a few KB on the wire, 1 GiB at the end
    server.route("/bomb2", lambda r: encoded(twice, "gzip, gzip"))
    with PeakMemory() as peak, pytest.raises(ResponseTooLarge, match="once decoded"):
        fetch(server.url("/bomb2"))
    peak.assert_below(LIMIT)


def test_more_than_two_stacked_encodings_are_refused_unread(server: LocalServer) -> None:
    thrice = gzip.compress(gzip.compress(gzip.compress(b"<rss/>")))
    server.route("/thrice", lambda r: encoded(thrice, "gzip, gzip, gzip"))
    server.route("/brotli", lambda r: encoded(b"\x8b\x02\x80hello\x03", "br"))
    with pytest.raises(ContentEncodingError, match="at most 2"):
        fetch(server.url("/thrice"))
    with pytest.raises(ContentEncodingError, match="br is not one we asked for"):
        fetch(server.url("/brotli"))
    assert len(server.hits("/thrice")) == 1  # not retried: asking again gets the same


def test_honest_encodings_decode_to_the_same_bytes(server: LocalServer) -> None:
    body = ("<p>Lajm i ri: KFOR rrit patrullimet në veri.</p>" * 400).encode()
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    answers = {
        "/gzip": encoded(gzip.compress(body), "gzip"),
        "/x-gzip": encoded(gzip.compress(body), "x-gzip"),
        "/twice": encoded(gzip.compress(gzip.compress(body)), "gzip, gzip"),
        "/deflate": encoded(zlib.compress(body), "deflate"),
        "/raw-deflate": encoded(raw_deflate.compress(body) + raw_deflate.flush(), "deflate"),
        "/members": encoded(gzip.compress(body[:5000]) + gzip.compress(body[5000:]), "gzip"),
        "/identity": encoded(body, "identity"),
    }
    for path, answer in answers.items():
        server.route(path, lambda r, a=answer: a)
        assert fetch(server.url(path)).content == body, path


def test_a_corrupt_gzip_body_is_a_clear_error(server: LocalServer) -> None:
    broken = bytearray(gzip.compress(b"<rss>" + b"x" * 5000 + b"</rss>"))
    broken[20:30] = b"\xff" * 10
    server.route("/broken", lambda r: encoded(bytes(broken), "gzip"))
    with pytest.raises(ContentEncodingError, match="gzip body is corrupt"):
        fetch(server.url("/broken"))


def test_a_bomb_feed_is_reported_on_the_poll_not_parsed(server: LocalServer) -> None:
    server.route("/feed", lambda r: encoded(gzip_bomb(), "gzip"))
    with PeakMemory() as peak, pytest.raises(ResponseTooLarge) as err:
        asyncio.run(_poll(server.url("/feed")))
    assert server.url("/feed") in str(err.value)
    peak.assert_below(LIMIT)


async def _poll(url: str):  # type: ignore[no-untyped-def]
    async with Fetcher(HTTP) as f:
        return await poll_feed(f, url)


def test_a_trickling_server_costs_one_deadline_not_one_per_attempt(server: LocalServer) -> None:
    """One byte every 0.2 s never trips the read timeout; the request's deadline (2 s, covering
    the 3 attempts retries would allow) ends it, and no attempt starts after it."""
    server.route("/trickle", lambda r: Response(200, b"<rss>" + b" " * 10_000 + b"</rss>",
                                                 {"Content-Type": "application/rss+xml"}, trickle=0.2))
    http = HTTP.model_copy(update={"total_timeout": 2.0, "read_timeout": 1.0})
    t0 = time.monotonic()
    with pytest.raises(FetchTimeout, match="within the request's 2 s"):
        fetch(server.url("/trickle"), http)
    assert time.monotonic() - t0 < 2.0 + 3  # the deadline, plus slack for a loaded machine
    assert len(server.hits("/trickle")) == 1


def test_a_retry_that_cannot_finish_within_the_deadline_is_not_made(server: LocalServer) -> None:
    """A 503 asking to come back in 10 s, with 3 s of deadline left: give up now, with the 503."""
    server.route("/busy", lambda r: Response(503, b"busy", {"Retry-After": "10"}))
    http = HTTP.model_copy(update={"total_timeout": 3.0})
    with pytest.raises(Exception, match="503"):
        fetch(server.url("/busy"), http)
    assert len(server.hits("/busy")) == 1


def test_an_empty_200_and_a_billion_laughs_feed_are_errors_not_hangs(server: LocalServer) -> None:
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                        for i in range(1, 10))
              + ']><rss version="2.0"><channel><title>&lol9;</title></channel></rss>')
    server.route("/empty", static(b"", "application/rss+xml"))
    server.route("/laughs", static(laughs, "application/rss+xml"))
    with pytest.raises(FeedError, match="not a readable feed"):
        asyncio.run(_poll(server.url("/empty")))
    with PeakMemory() as peak:
        try:
            poll = asyncio.run(_poll(server.url("/laughs")))
        except FeedError:
            poll = None
    assert poll is None or poll.entries == []
    peak.assert_below(LIMIT)
