"""Scrapy spiders for outlets without a usable feed; every article they find goes through ingest()."""

from spiders.run import CrawlReport, run_crawl

__all__ = ["CrawlReport", "run_crawl"]
