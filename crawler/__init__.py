"""Getting articles over HTTP: one polite fetcher, feed polling, extraction, canonical URLs."""

from crawler.articles import fetch_article, fetch_page_draft
from crawler.draft import ArticleDraft, FeedEntry
from crawler.errors import (
    ConnectFailed,
    ContentEncodingError,
    CrawlError,
    ExtractionError,
    FeedError,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    ResponseTooLarge,
    RobotsDisallowed,
    TooManyRedirects,
)
from crawler.extract import Extracted, decode_page, extract_article
from crawler.feeds import FeedPoll, parse_feed, poll_feed
from crawler.fetch import Fetcher, FetchResult
from crawler.urls import canonicalize, host_of

__all__ = [
    "ArticleDraft", "ConnectFailed", "ContentEncodingError", "CrawlError", "Extracted", "ExtractionError", "FeedEntry", "FeedError",
    "FeedPoll", "FetchError", "FetchResult", "FetchTimeout", "Fetcher", "HTTPStatusError", "ResponseTooLarge",
    "RobotsDisallowed", "TooManyRedirects", "canonicalize", "decode_page", "extract_article", "fetch_article",
    "fetch_page_draft", "host_of", "parse_feed", "poll_feed",
]
