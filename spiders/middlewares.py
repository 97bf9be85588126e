"""Downloader middlewares: a redirect that comes back to an address already in its own chain, and
robots.txt read as RFC 9309 asks when it fails."""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response

REDIRECT_LOOP = "redirect loop"  # failures.describe() reads this prefix
RENDERED_TOO_LARGE = "rendered page too large"  # and this one
DISALLOW_ALL = b"User-agent: *\nDisallow: /\n"


class RedirectLoopMiddleware:
    """Stops a redirect loop at its first repeat, with a reason the outlet's health can show.

    Without it Scrapy's duplicate filter drops the repeated request silently: the article is
    never stored and nobody learns why. It sits after RedirectMiddleware (a higher number), so it
    sees the 3xx response first.
    """

    def process_response(self, request: Request, response: Response) -> Request | Response:
        location = response.headers.get(b"Location")
        if response.status not in (301, 302, 303, 307, 308) or not location:
            return response
        target = response.urljoin(location.decode("latin-1"))
        chain = [*request.meta.get("redirect_urls", []), request.url]
        if target in chain:
            raise IgnoreRequest(f"{REDIRECT_LOOP}: {' -> '.join([*chain, target])}")
        return response


class RenderedSizeMiddleware:
    """The size cap (http.max_bytes) for pages the browser rendered: Scrapy checks DOWNLOAD_MAXSIZE in
    its own HTTP handler, which a rendered page never passes through."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    @classmethod
    def from_crawler(cls, crawler: Any) -> RenderedSizeMiddleware:
        return cls(crawler.settings.getint("DOWNLOAD_MAXSIZE"))

    def process_response(self, request: Request, response: Response) -> Response:
        if "playwright" in response.flags and self.max_bytes and len(response.body) > self.max_bytes:
            raise IgnoreRequest(f"{RENDERED_TOO_LARGE}: {len(response.body)} bytes after its scripts ran, over "
                                f"the {self.max_bytes} byte limit (http.max_bytes)")
        return response


class StrictRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware, except that a robots.txt answered with 5xx forbids everything.

    RFC 9309 asks for that (the site may be down, or may be refusing us), and the feed poller does
    the same; Scrapy would parse the error page as an empty robots.txt and allow everything.
    """

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        if response.status >= 500:
            response = response.replace(body=DISALLOW_ALL)
        await super()._parse_robots(response, netloc, request)
