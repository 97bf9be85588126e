"""Scrapy spiders for outlets without a usable feed; every article they find goes through ingest()."""

from spiders.report import CrawlReport, OutletCrawl
from spiders.run import crawlable, run_crawl

__all__ = ["CrawlReport", "OutletCrawl", "crawlable", "run_crawl"]
