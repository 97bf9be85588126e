"""Scrapy failures in the feed poller's words (crawler.errors), so an outlet's health reads the same
whichever part of spreadwatch met the problem."""

from __future__ import annotations

from typing import Any

from scrapy.exceptions import (CannotResolveHostError, DownloadCancelledError, DownloadConnectionRefusedError,
                               DownloadFailedError, DownloadTimeoutError, IgnoreRequest, ResponseDataLossError)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import error as tx

from crawler.errors import (ConnectFailed, CrawlError, FetchError, FetchTimeout, HTTPStatusError, ResponseTooLarge,
                            TooManyRedirects)
from spiders.middlewares import REDIRECT_LOOP, RENDERED_TOO_LARGE

_TIMEOUTS = (DownloadTimeoutError, tx.TimeoutError, tx.TCPTimedOutError)
_CONNECTS = (CannotResolveHostError, DownloadConnectionRefusedError, DownloadFailedError, ResponseDataLossError,
             tx.DNSLookupError, tx.ConnectError, tx.ConnectionLost)


def describe(failure: Any, max_bytes: int) -> CrawlError | None:
    """The error to record on the outlet, or None when the request was dropped by our own politeness."""
    url = failure.request.url
    if failure.check(HttpError):
        return HTTPStatusError(url, failure.value.response.status)
    if failure.check(IgnoreRequest):
        return _ignored(url, str(failure.value))
    if failure.check(DownloadCancelledError):
        return ResponseTooLarge(url, f"larger than the {max_bytes} byte limit (http.max_bytes): not downloaded")
    if failure.check(*_TIMEOUTS):
        return FetchTimeout(url, "no complete answer in time (http.total_timeout)")
    if failure.check(*_CONNECTS):
        return ConnectFailed(url, f"connection failed: {failure.value.__class__.__name__}: {failure.value}")
    if type(failure.value).__module__.startswith("playwright"):
        return _browser(url, failure.value)
    return FetchError(url, f"{failure.value.__class__.__name__}: {failure.value}")


def _browser(url: str, error: Exception) -> CrawlError:
    """A rendered page's failure, in the same words as a fetched page's."""
    said = str(error).strip().splitlines()[0][:200] if str(error).strip() else error.__class__.__name__
    if "Timeout" in type(error).__name__:
        return FetchTimeout(url, f"the page did not finish in the browser in time (http.total_timeout; a script "
                                 f"or a resource that hangs): {said}")
    if "net::ERR_" in said:
        return ConnectFailed(url, f"the browser could not load the page: {said}")
    return FetchError(url, f"the browser failed on the page: {said}")


def _ignored(url: str, reason: str) -> CrawlError | None:
    if "robots.txt" in reason:
        return None  # obeying robots.txt is our choice, not the outlet's failure
    if reason.startswith(RENDERED_TOO_LARGE):
        return ResponseTooLarge(url, reason)
    if reason.startswith(REDIRECT_LOOP) or "max redirections" in reason:
        return TooManyRedirects(url, f"too many redirects ({reason})")
    return FetchError(url, f"request dropped: {reason}")
