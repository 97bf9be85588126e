"""Downloader middleware: a redirect that comes back to an address already in its own chain."""

from __future__ import annotations

from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response

REDIRECT_LOOP = "redirect loop"  # failures.describe() reads this prefix


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
