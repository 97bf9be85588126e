"""The recorded pages under tests/data/pages/: load them, extract them, and (run as a module)
write what extraction gives as each page's expected output, for a reviewed diff.

    python -m tests.crawler.recorded
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from crawler.extract import extract_article

PAGES = Path(__file__).resolve().parent.parent / "data" / "pages"


@dataclass(frozen=True)
class RecordedPage:
    name: str
    url: str
    site_names: tuple[str, ...]
    pattern: str

    @property
    def html(self) -> Path:
        return PAGES / f"{self.name}.html"

    @property
    def expected_path(self) -> Path:
        return PAGES / f"{self.name}.expected.json"

    def extract(self) -> dict[str, Any]:
        """What extract_article gives for the page, as JSON-ready data."""
        ex = extract_article(self.html.read_bytes(), self.url, site_names=self.site_names)
        return {"title": ex.title, "published_at": ex.published_at.isoformat() if ex.published_at else None,
                "language": ex.language, "canonical_url": ex.canonical_url, "links": list(ex.links),
                "text": ex.text}

    def expected(self) -> dict[str, Any]:
        return json.loads(self.expected_path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def recorded_pages() -> list[RecordedPage]:
    index = yaml.safe_load((PAGES / "index.yaml").read_text(encoding="utf-8"))
    return [RecordedPage(name, spec["url"], tuple(spec.get("site_names") or ()), spec["pattern"])
            for name, spec in index.items()]


def main() -> None:
    for page in recorded_pages():
        page.expected_path.write_text(json.dumps(page.extract(), ensure_ascii=False, indent=2) + "\n",
                                      encoding="utf-8")
        print(f"wrote {page.expected_path.name}")


if __name__ == "__main__":
    main()
