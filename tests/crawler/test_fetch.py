"""The fetcher against a real local HTTP server: limits, retries, sizes, robots, redirects."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from crawler import (
    ConnectFailed,
    Fetcher,
    FetchTimeout,
    HTTPStatusError,
    ResponseTooLarge,
    RobotsDisallowed,
    TooManyRedirects,
)
from spreadwatch.localserver import LocalServer, Request, Response, static
from spreadwatch.settings import HttpSettings

FAST = HttpSettings(per_host_delay=0, retries=2, backoff_base=0.05, read_timeout=1.0, connect_timeout=1.0,
                    total_timeout=5.0, max_bytes=10_000, obey_robots=True, user_agent="spreadwatch-test/1")


def fetch(url: str, http: HttpSettings = FAST, **kw: str):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        async with Fetcher(http) as f:
            return await f.get(url, **kw)
    return asyncio.run(go())


def sequence(*responses: Response):  # type: ignore[no-untyped-def]
    """A handler answering with the given responses in turn, then repeating the last."""
    calls: list[float] = []

    def handler(req: Request) -> Response:
        calls.append(time.monotonic())
        return responses[min(len(calls) - 1, len(responses) - 1)]
    handler.calls = calls  # type: ignore[attr-defined]
    return handler


def test_honest_user_agent_and_conditional_headers(server: LocalServer) -> None:
    server.route("/page", static("<p>hello</p>"))
    res = fetch(server.url("/page"), etag='"abc"', last_modified="Wed, 19 Feb 2025 06:10:00 GMT")
    assert res.status == 200 and res.content == b"<p>hello</p>" and res.encoding == "utf-8"
    req = server.hits("/page")[0]
    assert req.headers["user-agent"] == "spreadwatch-test/1"
    assert req.headers["if-none-match"] == '"abc"'
    assert req.headers["if-modified-since"] == "Wed, 19 Feb 2025 06:10:00 GMT"


def test_304_is_not_modified_with_no_body(server: LocalServer) -> None:
    server.route("/feed", lambda r: Response(304, b"", {"ETag": '"v1"'}))
    res = fetch(server.url("/feed"), etag='"v1"')
    assert res.not_modified and res.content == b""


def test_429_retry_after_is_honoured_then_succeeds(server: LocalServer) -> None:
    handler = sequence(Response(429, b"slow down", {"Retry-After": "1"}), Response(200, b"ok"))
    server.route("/limited", handler)
    res = fetch(server.url("/limited"))
    assert res.content == b"ok" and len(handler.calls) == 2
    assert handler.calls[1] - handler.calls[0] >= 0.9  # waited as told, not the short backoff


def test_500_twice_then_ok(server: LocalServer) -> None:
    handler = sequence(Response(500), Response(503), Response(200, b"finally"))
    server.route("/flaky", handler)
    assert fetch(server.url("/flaky")).content == b"finally"
    assert len(handler.calls) == 3


def test_500_forever_gives_up_after_retries(server: LocalServer) -> None:
    handler = sequence(Response(500, b"down"))
    server.route("/down", handler)
    with pytest.raises(HTTPStatusError) as err:
        fetch(server.url("/down"))
    assert err.value.status == 500 and len(handler.calls) == FAST.retries + 1
    assert server.url("/down") in str(err.value)


def test_404_and_403_are_not_retried(server: LocalServer) -> None:
    gone, forbidden = sequence(Response(404)), sequence(Response(403))
    server.route("/gone", gone)
    server.route("/forbidden", forbidden)
    with pytest.raises(HTTPStatusError, match="404"):
        fetch(server.url("/gone"))
    with pytest.raises(HTTPStatusError, match="403.*refuses"):
        fetch(server.url("/forbidden"))
    assert len(gone.calls) == 1 and len(forbidden.calls) == 1


def test_slow_site_times_out(server: LocalServer) -> None:
    server.route("/slow", lambda r: Response(200, b"late", delay=3))
    http = FAST.model_copy(update={"retries": 0})
    with pytest.raises(FetchTimeout):
        fetch(server.url("/slow"), http)


def test_dropped_connection_is_a_connect_failure(server: LocalServer) -> None:
    server.route("/drop", lambda r: Response(drop=True))
    with pytest.raises(ConnectFailed):
        fetch(server.url("/drop"), FAST.model_copy(update={"retries": 0}))


def test_huge_response_is_cut_off_with_and_without_content_length(server: LocalServer) -> None:
    server.route("/huge", static(b"x" * 50_000, "text/html"))
    with pytest.raises(ResponseTooLarge, match="announced"):
        fetch(server.url("/huge"))

    def chunked(req: Request) -> Response:  # no Content-Length: the cap must hold while streaming
        return Response(200, b"y" * 50_000, {"Content-Type": "text/html"}, chunked=True)
    server.route("/stream", chunked)
    with pytest.raises(ResponseTooLarge, match="stopped reading"):
        fetch(server.url("/stream"))


def test_redirects_followed_and_loops_stopped(server: LocalServer) -> None:
    server.route("/old", lambda r: Response(301, b"", {"Location": "/new"}))
    server.route("/new", static("moved here"))
    server.route("/loop", lambda r: Response(302, b"", {"Location": "/loop"}))
    assert fetch(server.url("/old")).final_url == server.url("/new")
    with pytest.raises(TooManyRedirects):
        fetch(server.url("/loop"))


def test_robots_txt_is_obeyed(server: LocalServer) -> None:
    server.route("/robots.txt", static("User-agent: *\nDisallow: /private/\n", "text/plain"))
    server.route("/private/x", static("secret"))
    server.route("/public", static("fine"))
    with pytest.raises(RobotsDisallowed):
        fetch(server.url("/private/x"))
    assert fetch(server.url("/public")).content == b"fine"
    assert server.hits("/private/x") == []


def test_per_host_concurrency_limit(server: LocalServer) -> None:
    active, peak, lock = [0], [0], threading.Lock()

    def slow(req: Request) -> Response:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.2)
        with lock:
            active[0] -= 1
        return Response(200, b"ok")
    server.route("/work", slow)
    http = FAST.model_copy(update={"per_host_concurrency": 2, "obey_robots": False})

    async def many() -> None:
        async with Fetcher(http) as f:
            await asyncio.gather(*(f.get(server.url("/work")) for _ in range(6)))
    asyncio.run(many())
    assert len(server.hits("/work")) == 6 and peak[0] == 2
