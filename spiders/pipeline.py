"""The item pipeline: every article a spider finds goes through ingest(), one transaction each."""

from __future__ import annotations

from typing import Any

from spreadwatch.ingest import ingest


class IngestPipeline:
    def __init__(self, crawler: Any) -> None:
        ctx = crawler.spreadwatch
        self.db, self.settings, self.report = ctx["db"], ctx["settings"], ctx["report"]

    @classmethod
    def from_crawler(cls, crawler: Any) -> IngestPipeline:
        return cls(crawler)

    def process_item(self, item: dict[str, Any], spider: Any) -> dict[str, Any]:
        draft = item["draft"]
        with self.db.session() as s:
            result = ingest(s, draft, self.settings)
        if result.created and draft.outlet_key in self.report.outlets:
            self.report.outlets[draft.outlet_key].ingested += 1
        return item
