"""Errors a person can act on: each names the URL and says what went wrong."""

from __future__ import annotations

from typing import Any


class CrawlError(Exception):
    """Base of everything the crawler raises for a bad site, feed or page."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.message = message


class FetchError(CrawlError):
    """The HTTP exchange failed."""


class HTTPStatusError(FetchError):
    def __init__(self, url: str, status: int, reason: str = "") -> None:
        hint = {403: " (the site refuses this client: check robots/terms, or the User-Agent)",
                404: " (gone or moved: check the address)", 429: " (rate limited)"}.get(status, "")
        super().__init__(url, f"HTTP {status}{' ' + reason if reason else ''}{hint}")
        self.status = status


class FetchTimeout(FetchError):
    pass


class ConnectFailed(FetchError):
    pass


class ResponseTooLarge(FetchError):
    pass


class RobotsDisallowed(FetchError):
    pass


class TooManyRedirects(FetchError):
    pass


class FeedError(CrawlError):
    """The response is not a feed we can read."""


class ExtractionError(CrawlError):
    """No article text could be extracted from the page. `partial` (a crawler.extract.Extracted
    with empty text, when the page could be parsed) keeps what the page did say: its title,
    publication time and canonical address, for the fallback to use."""

    partial: Any = None


class ContentEncodingError(FetchError):
    """The body's Content-Encoding is unknown, stacked too deep, or corrupt."""
