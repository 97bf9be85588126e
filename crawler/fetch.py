"""One polite HTTP client for everything spreadwatch fetches.

Limits: a global concurrency cap (httpx's AsyncClient slows down as concurrency grows, see
encode/httpx#3215, so more is not faster), a per-host concurrency limit and minimum delay, connect/
read timeouts, one deadline per request that covers all its attempts, a hard size cap on the
decoded bytes while streaming (Content-Encoding undone here, in bounded steps: see
crawler/decompression.py), bounded redirects, robots.txt, and retries with backoff on
429/5xx/connection errors that honour Retry-After while the deadline allows.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING
from urllib import robotparser
from urllib.parse import urlsplit

import httpx

from crawler.decompression import Decompressor
from crawler.errors import (
    ConnectFailed,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    ResponseTooLarge,
    RobotsDisallowed,
    TooManyRedirects,
)
from crawler.urls import host_of

if TYPE_CHECKING:
    from crawler.hostgate import RedisHostGate
from spreadwatch.settings import HttpSettings

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class FetchResult:
    url: str
    final_url: str
    status: int
    headers: dict[str, str]
    content: bytes
    encoding: str | None  # the charset the server declared, if any
    not_modified: bool
    elapsed: float


class _Host:
    """Per-host politeness: a semaphore and the time the next request may start."""

    def __init__(self, concurrency: int) -> None:
        self.slots = asyncio.Semaphore(concurrency)
        self.lock = asyncio.Lock()
        self.next_at = 0.0


class _Deadline:
    """One request's time budget, shared by all its attempts and the waits between them. It starts
    when the first attempt has its connection slot: queueing for politeness is not the server's
    slowness."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends: float | None = None

    def start(self) -> None:
        if self._ends is None:
            self._ends = time.monotonic() + self.seconds

    def remaining(self) -> float:
        return self.seconds if self._ends is None else self._ends - time.monotonic()


class _Body:
    """Decoded pieces kept up to the size cap: the cap counts what a response inflates to."""

    def __init__(self, url: str, limit: int) -> None:
        self.url, self.limit = url, limit
        self.chunks: list[bytes] = []
        self.size = 0

    def add(self, pieces: Iterable[bytes]) -> None:
        for piece in pieces:
            self.size += len(piece)
            if self.size > self.limit:
                raise ResponseTooLarge(self.url, f"over {self.limit} bytes once decoded, stopped reading")
            self.chunks.append(piece)


class Fetcher:
    """``async with Fetcher(settings.http) as f: await f.get(url)``."""

    def __init__(self, http: HttpSettings, *, gate: RedisHostGate | None = None,
                 host_delays: dict[str, float] | None = None) -> None:
        """`gate`: the pool's shared per-host limits (crawler/hostgate.py), taken on top of this
        process's own; `host_delays`: hosts whose minimum delay is longer than `http.per_host_delay`."""
        self.http = http
        self.gate = gate
        self.host_delays = host_delays or {}
        self._client: httpx.AsyncClient | None = None
        self._global = asyncio.Semaphore(http.max_concurrency)
        self._hosts: dict[str, _Host] = defaultdict(lambda: _Host(http.per_host_concurrency))
        self._robots: dict[str, robotparser.RobotFileParser | None] = {}
        self._robots_lock: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def __aenter__(self) -> Fetcher:
        h = self.http
        self._client = httpx.AsyncClient(
            headers={"User-Agent": h.user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(h.read_timeout, connect=h.connect_timeout),
            limits=httpx.Limits(max_connections=h.max_concurrency, max_keepalive_connections=h.max_concurrency),
            follow_redirects=True, max_redirects=8,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client:
            await self._client.aclose()

    async def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
                  accept: str | None = None) -> FetchResult:
        """GET with conditional headers; raises a FetchError subclass the caller can report."""
        if self.http.obey_robots and not await self._allowed(url):
            raise RobotsDisallowed(url, "robots.txt forbids this path for our User-Agent")
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        if accept:
            headers["Accept"] = accept
        deadline, attempt = _Deadline(self.http.total_timeout), 0
        while True:
            try:
                return await self._attempt(url, headers, deadline)
            except (HTTPStatusError, FetchTimeout, ConnectFailed) as e:
                status = getattr(e, "status", None)
                if attempt >= self.http.retries or (status is not None and status not in RETRY_STATUSES):
                    raise
                attempt += 1
                delay = self._retry_delay(e, attempt)
                if delay >= deadline.remaining():  # the next attempt could not finish in time
                    raise
                await asyncio.sleep(delay)

    def _retry_delay(self, error: FetchError, attempt: int) -> float:
        after = getattr(error, "retry_after", None)
        if after is not None:
            return min(after, self.http.max_retry_after)
        return self.http.backoff_base * (2 ** (attempt - 1)) * random.uniform(0.8, 1.2)

    async def _attempt(self, url: str, headers: dict[str, str], deadline: _Deadline) -> FetchResult:
        name = host_of(url)
        host = self._hosts[name]
        async with self._global, host.slots:
            if self.gate is None:
                await self._wait_turn(host)
                return await self._timed(url, headers, deadline)
            token = await self.gate.acquire(name, self.http.per_host_concurrency, self._delay(name),
                                            self.http.total_timeout)
            try:
                return await self._timed(url, headers, deadline)
            except HTTPStatusError as e:
                await self._slow_pool(name, e)
                raise
            finally:
                await self.gate.release(name, token)

    def _delay(self, host: str) -> float:
        return max(self.http.per_host_delay, self.host_delays.get(host, 0.0))

    async def _slow_pool(self, host: str, error: HTTPStatusError) -> None:
        """A 429, or a Retry-After on any error, holds every worker of the pool off this host."""
        after = getattr(error, "retry_after", None)
        if after is None and error.status != 429:
            return
        wait = min(after, self.http.max_retry_after) if after is not None else max(self.http.backoff_base, 1.0)
        assert self.gate is not None
        await self.gate.slow_down(host, wait)

    async def _timed(self, url: str, headers: dict[str, str], deadline: _Deadline) -> FetchResult:
        deadline.start()
        t0 = time.perf_counter()
        left = deadline.remaining()
        if left <= 0:
            raise FetchTimeout(url, f"no complete answer within the request's {deadline.seconds:g} s")
        try:
            return await asyncio.wait_for(self._stream(url, headers, t0), left)
        except asyncio.TimeoutError:
            raise FetchTimeout(url, f"no complete answer within the request's {deadline.seconds:g} s "
                                    "(all attempts included)") from None
        except httpx.TimeoutException as e:
            raise FetchTimeout(url, f"no complete answer in time ({e.__class__.__name__})") from None
        except httpx.TooManyRedirects:
            raise TooManyRedirects(url, "too many redirects (a redirect loop?)") from None
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as e:
            raise ConnectFailed(url, f"connection failed: {e.__class__.__name__}: {e}") from None
        except httpx.HTTPError as e:
            raise FetchError(url, f"{e.__class__.__name__}: {e}") from None

    async def _wait_turn(self, host: _Host) -> None:
        async with host.lock:
            now = time.monotonic()
            wait = host.next_at - now
            host.next_at = max(now, host.next_at) + self.http.per_host_delay
        if wait > 0:
            await asyncio.sleep(wait)

    async def _stream(self, url: str, headers: dict[str, str], t0: float) -> FetchResult:
        assert self._client is not None, "use 'async with Fetcher(...)'"
        async with self._client.stream("GET", url, headers=headers) as resp:
            if resp.status_code == 304:
                return self._result(url, resp, b"", t0, not_modified=True)
            if resp.status_code >= 400:
                err = HTTPStatusError(url, resp.status_code, resp.reason_phrase)
                err.retry_after = _retry_after(resp.headers.get("Retry-After"))  # type: ignore[attr-defined]
                raise err
            declared = int(resp.headers.get("Content-Length") or 0)
            if declared > self.http.max_bytes:
                raise ResponseTooLarge(url, f"{declared} bytes announced, the limit is {self.http.max_bytes}")
            content = await self._read_capped(url, resp)
            return self._result(url, resp, content, t0, not_modified=False)

    async def _read_capped(self, url: str, resp: httpx.Response) -> bytes:
        """The decoded body, stopped as soon as the received or the decoded bytes pass the cap."""
        limit = self.http.max_bytes
        decoder = Decompressor(resp.headers.get("Content-Encoding"), url)
        body, received = _Body(url, limit), 0
        async for raw in resp.aiter_raw():
            received += len(raw)
            if received > limit:
                raise ResponseTooLarge(url, f"over {limit} bytes received, stopped reading")
            body.add(decoder.feed(raw))
        body.add(decoder.flush())
        return b"".join(body.chunks)

    @staticmethod
    def _result(url: str, resp: httpx.Response, content: bytes, t0: float, *, not_modified: bool) -> FetchResult:
        return FetchResult(url=url, final_url=str(resp.url), status=resp.status_code,
                           headers={k.lower(): v for k, v in resp.headers.items()}, content=content,
                           encoding=resp.charset_encoding, not_modified=not_modified,
                           elapsed=time.perf_counter() - t0)

    async def _allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        async with self._robots_lock[origin]:
            if origin not in self._robots:
                if self.gate is not None:  # once per host per day for the whole pool
                    text = await self.gate.robots(origin, lambda: self._robots_text(origin), self.http.total_timeout)
                else:
                    text = await self._robots_text(origin)
                self._robots[origin] = None if text is None else _parse_robots(text)
        rules = self._robots[origin]
        return rules is None or rules.can_fetch(self.http.user_agent, url)

    async def _robots_text(self, origin: str) -> str | None:
        """The origin's robots.txt as rules to parse; None for no rules at all."""
        try:
            result = await self._attempt(origin + "/robots.txt", {}, _Deadline(self.http.total_timeout))
        except HTTPStatusError as e:
            # RFC 9309: a 4xx robots.txt means no rules (allow all); a 5xx means assume disallow
            if e.status < 500:
                return None
            return "User-agent: *\nDisallow: /"
        except FetchError:
            return None  # unreachable robots.txt: the page fetch will report the real problem
        return result.content.decode("utf-8", "replace")


def _parse_robots(text: str) -> robotparser.RobotFileParser:
    rules = robotparser.RobotFileParser()
    rules.parse(text.splitlines())
    return rules


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
