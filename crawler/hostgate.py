"""Per-host politeness for a pool of workers: one Redis holds each host's open requests and the time
its next request may start, so the limits hold for the pool as a whole, not per process.

Per host (host[:port], as crawler/urls.host_of gives it):
- PREFIX:host:H:slots  a sorted set of open requests, scored by when their lease ends (a worker
  killed mid-request leaves a lease that runs out instead of a slot taken for ever);
- PREFIX:host:H:next   the time (Redis's clock, ms) before which no request to H may start.
Taking a turn is one Lua script, so it is atomic across the pool and every clock is Redis's own.
A 429 or Retry-After pushes `next` forward for every worker. robots.txt is kept in
PREFIX:robots:ORIGIN for a day; one worker fetches it (under a short lock) while the others wait.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Awaitable, Callable

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local nxt = tonumber(redis.call('GET', KEYS[2]) or '0')
if nxt > now then return nxt - now end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return -1 end
local lease = tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease + 60000)
local delay = tonumber(ARGV[3])
if delay > 0 then redis.call('SET', KEYS[2], now + delay, 'PX', delay + 60000) end
return 0
"""

_SLOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ = now + tonumber(ARGV[1])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > nxt then redis.call('SET', KEYS[1], until_, 'PX', tonumber(ARGV[1]) + 60000) end
return until_
"""

FULL_WAIT = 0.02  # seconds between tries while a host's slots are all taken
ROBOTS_TTL = 86400  # robots.txt is fetched once per host per day for the pool
NO_RULES = "\x00none"  # kept for an origin whose robots.txt says nothing (4xx, unreachable)


class RedisHostGate:
    """``async with gate.turn(host, concurrency, delay, lease): ...`` around one request."""

    def __init__(self, url: str, prefix: str = "spreadwatch") -> None:
        import redis.asyncio as aioredis

        self.prefix = prefix
        self.redis = aioredis.from_url(url, decode_responses=True)
        self._acquire = self.redis.register_script(_ACQUIRE)
        self._slow = self.redis.register_script(_SLOW)

    async def aclose(self) -> None:
        await self.redis.aclose()

    def _key(self, host: str, what: str) -> str:
        return f"{self.prefix}:host:{host}:{what}"

    async def acquire(self, host: str, concurrency: int, delay: float, lease: float) -> str:
        """Wait for this host's turn; returns the token to release."""
        token = uuid.uuid4().hex
        keys = [self._key(host, "slots"), self._key(host, "next")]
        args = [token, concurrency, int(delay * 1000), int(lease * 1000) + 1000]
        while True:
            wait_ms = int(await self._acquire(keys=keys, args=args))
            if wait_ms == 0:
                return token
            await asyncio.sleep(FULL_WAIT if wait_ms < 0 else wait_ms / 1000)

    async def release(self, host: str, token: str) -> None:
        await self.redis.zrem(self._key(host, "slots"), token)

    async def slow_down(self, host: str, seconds: float) -> None:
        """No worker of the pool starts a request to this host for `seconds` (a 429, a Retry-After)."""
        await self._slow(keys=[self._key(host, "next")], args=[max(1, int(seconds * 1000))])

    async def robots(self, origin: str, load: Callable[[], Awaitable[str | None]], timeout: float) -> str | None:
        """The origin's robots.txt for the pool: from Redis, or fetched by the one worker holding the
        lock. `load` returns the text, or None for "no rules"."""
        key, lock = f"{self.prefix}:robots:{origin}", f"{self.prefix}:robots-lock:{origin}"
        ends = time.monotonic() + timeout
        while True:
            hit = await self.redis.get(key)
            if hit is not None:
                return None if hit == NO_RULES else hit
            if await self.redis.set(lock, "1", nx=True, ex=max(1, int(timeout))):
                try:
                    text = await load()
                    await self.redis.set(key, NO_RULES if text is None else text, ex=ROBOTS_TTL)
                    return text
                finally:
                    await self.redis.delete(lock)
            if time.monotonic() > ends:  # the fetching worker is gone and its lock not yet expired
                return await load()
            await asyncio.sleep(0.05)
