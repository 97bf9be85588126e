"""What one crawl did, per outlet: plain data, sent from the crawl's child process to its parent."""

from __future__ import annotations

from dataclasses import dataclass, field

# Scrapy's finish reasons, in words for the summary line
_REASONS = {"closespider_pagecount": "stopped at the page limit (--pages)",
            "closespider_timeout": "stopped at the time limit", "shutdown": "interrupted"}


@dataclass
class OutletCrawl:
    ingested: int = 0  # new articles stored
    known: int = 0  # article links not requested because the article is already stored
    errors: list[str] = field(default_factory=list)


@dataclass
class CrawlReport:
    outlets: dict[str, OutletCrawl] = field(default_factory=dict)
    pages: int = 0  # responses received, robots.txt included
    finish_reason: str = ""
    error: str | None = None  # the crawl itself failed (or part of the request made no sense)

    @property
    def ingested(self) -> int:
        return sum(o.ingested for o in self.outlets.values())

    @property
    def skipped_known(self) -> int:
        return sum(o.known for o in self.outlets.values())

    def summary(self) -> str:
        """One line for a person: counts, why the crawl stopped early, whether it failed."""
        errs = sum(len(o.errors) for o in self.outlets.values())
        line = (f"{len(self.outlets)} outlets, {self.pages} pages, {self.ingested} new articles, "
                f"{self.skipped_known} already stored (not fetched), {errs} errors")
        if self.finish_reason in _REASONS:
            line += f"; {_REASONS[self.finish_reason]}"
        return line + (f"; crawl failed: {self.error}" if self.error else "")
