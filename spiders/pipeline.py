"""The item pipeline: every article a spider finds goes through ingest(), one transaction each."""

from __future__ import annotations

from typing import Any

from spreadwatch.ingest import ingest, prepare


class IngestPipeline:
    """Hands each ArticleDraft to the same ingest() the feed poller uses."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> IngestPipeline:
        return cls(crawler)

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        context = self.crawler.spider.context
        draft = item["draft"]
        prepared = prepare(draft, context.settings)  # the text's work, before the transaction
        with context.db.session() as s:  # commits this article alone, or rolls it back alone
            result = ingest(s, draft, context.settings, prepared=prepared)
        if result.created:
            context.health.stored(draft.outlet_key)
        else:
            context.health.known(draft.outlet_key)  # reached by a new address, stored before under another
        return item
