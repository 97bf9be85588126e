"""One spider crawl spread over several processes (the worker pool's `crawl_part` jobs, on any machines).

The processes of one crawl share, in the pool's Redis, under PREFIX:crawl:ID:
- the request queue and the duplicate filter (scrapy-redis's Scheduler and RFPDupeFilter): every
  process starts from the same sitemaps and listings, the filter lets each address through once, and
  whichever process is free takes the next request, so two processes never fetch the same page and
  the pages are shared out among them;
- `parts`: the processes still working, each with a lease it renews while it has requests in flight
  (ParallelCrawl). A process with nothing to do stays open while another part is still working (that
  part's responses may queue new requests) and closes when the queue is empty and no part is busy,
  or when its lease-holders are gone (a killed part's lease runs out);
- politeness: each request takes a turn from the pool's host gate (crawler/hostgate.py, the feed
  poller's), so a host's concurrency and delay hold for the crawl's processes together (PoolTurns).

Keys expire a day after the crawl's last part closes.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

KEY_TTL = 86400  # seconds a finished crawl's queue and filter are kept (a retried part resumes from them)
PART_LEASE = 60.0  # seconds a part counts as busy after its last sign of work
RENEW_EVERY = 1.0  # seconds between two renewals of a part's lease


@dataclass(frozen=True)
class SharedCrawl:
    """The crawl this process takes part in."""

    crawl_id: str
    redis_url: str
    prefix: str = "spreadwatch"

    @property
    def base(self) -> str:
        return f"{self.prefix}:crawl:{self.crawl_id}"


def shared_settings(shared: SharedCrawl, scrapy: dict[str, Any]) -> dict[str, Any]:
    """Scrapy settings for one part of a shared crawl, on top of spiders.politeness's."""
    return {
        **scrapy,
        "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        "SCHEDULER_QUEUE_KEY": f"{shared.base}:requests",
        "SCHEDULER_DUPEFILTER_KEY": f"{shared.base}:seen",
        "SCHEDULER_PERSIST": True,  # the first part to finish must not clear the others' queue
        "SCHEDULER_IDLE_BEFORE_CLOSE": 0,  # never block the reactor on an empty queue
        "REDIS_URL": shared.redis_url,
        "SPREADWATCH_SHARED_CRAWL": {"crawl_id": shared.crawl_id, "redis_url": shared.redis_url,
                                     "prefix": shared.prefix},
        "EXTENSIONS": {**scrapy.get("EXTENSIONS", {}), "spiders.shared.ParallelCrawl": 10},
        # next to the downloader: a request takes its turn after robots.txt is read (else the requests
        # holding the host's slots would wait for a robots.txt request that needs one of them), and
        # gives it back before a redirect or a retry replaces the response (else it would be lost)
        "DOWNLOADER_MIDDLEWARES": {**scrapy.get("DOWNLOADER_MIDDLEWARES", {}), "spiders.shared.PoolTurns": 960},
    }


def _shared(settings: Any) -> SharedCrawl:
    data = settings.getdict("SPREADWATCH_SHARED_CRAWL")
    return SharedCrawl(data["crawl_id"], data["redis_url"], data.get("prefix", "spreadwatch"))


class ParallelCrawl:
    """Keeps a part open while the crawl's other parts are working, and closes it when none is."""

    def __init__(self, crawler: Any) -> None:
        import redis

        self.crawler = crawler
        self.shared = _shared(crawler.settings)
        self.redis = redis.Redis.from_url(self.shared.redis_url, decode_responses=True)
        self.me = uuid.uuid4().hex
        self.parts = f"{self.shared.base}:parts"
        self._renewed = 0.0

    @classmethod
    def from_crawler(cls, crawler: Any) -> ParallelCrawl:
        from scrapy import signals

        ext = cls(crawler)
        crawler.signals.connect(ext.opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.busy, signal=signals.request_reached_downloader)
        crawler.signals.connect(ext.busy, signal=signals.response_received)
        crawler.signals.connect(ext.idle, signal=signals.spider_idle)
        crawler.signals.connect(ext.closed, signal=signals.spider_closed)
        return ext

    def opened(self, spider: Any) -> None:
        self._renew(force=True)

    def busy(self, *args: Any, **kwargs: Any) -> None:
        self._renew()

    def _renew(self, force: bool = False) -> None:
        now = time.time()
        if force or now - self._renewed >= RENEW_EVERY:
            self._renewed = now
            self.redis.zadd(self.parts, {self.me: now + PART_LEASE})

    def others_working(self) -> bool:
        self.redis.zremrangebyscore(self.parts, "-inf", time.time())
        return any(member != self.me for member in self.redis.zrange(self.parts, 0, -1))

    def idle(self, spider: Any) -> None:
        """Nothing in flight here: stay while the queue has requests or another part works."""
        from scrapy.exceptions import DontCloseSpider

        self.redis.zrem(self.parts, self.me)  # idle: not a part that can still queue requests
        self._renewed = 0.0
        queued = self.redis.zcard(f"{self.shared.base}:requests")
        if queued or self.others_working():
            raise DontCloseSpider  # Scrapy asks again in a few seconds; the queue is read then

    def closed(self, spider: Any) -> None:
        self.redis.zrem(self.parts, self.me)
        for suffix in ("requests", "seen", "parts"):
            self.redis.expire(f"{self.shared.base}:{suffix}", KEY_TTL)
        self.redis.close()


class PoolTurns:
    """Every request of a shared crawl waits for its host's turn in the pool's host gate."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.shared = _shared(crawler.settings)
        settings = crawler.settings
        self.default_delay = settings.getfloat("DOWNLOAD_DELAY")
        self.default_concurrency = settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
        self.slots = settings.getdict("DOWNLOAD_SLOTS")
        self.lease = settings.getfloat("DOWNLOAD_TIMEOUT") + 5
        self.gate: Any = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> PoolTurns:
        return cls(crawler)

    async def process_request(self, request: Any, spider: Any) -> None:
        from crawler.hostgate import RedisHostGate
        from crawler.urls import host_of

        if self.gate is None:  # made on the reactor's asyncio loop, where it is used
            self.gate = RedisHostGate(self.shared.redis_url, self.shared.prefix)
        slot = self.slots.get(urlsplit(request.url).hostname or "", {})
        host = host_of(request.url)  # the feed poller's key: both take turns from one gate
        token = await self.gate.acquire(host, int(slot.get("concurrency", self.default_concurrency)),
                                        float(slot.get("delay", self.default_delay)), self.lease)
        request.meta["_pool_turn"] = (host, token)

    async def _release(self, request: Any) -> None:
        turn = request.meta.pop("_pool_turn", None)
        if turn is not None and self.gate is not None:
            await self.gate.release(*turn)

    async def process_response(self, request: Any, response: Any, spider: Any) -> Any:
        await self._release(request)
        return response

    async def process_exception(self, request: Any, exception: BaseException, spider: Any) -> None:
        await self._release(request)
