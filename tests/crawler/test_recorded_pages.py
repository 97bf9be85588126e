"""Recorded pages in the structure of real publishers (tests/data/pages/), each with the
extraction expected of it beside it: headline, publication time, language, address, links, text."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.crawler.recorded import RecordedPage, recorded_pages

PAGES = recorded_pages()


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_recorded_page_extracts_as_expected(page: RecordedPage) -> None:
    expected = page.expected()
    assert expected["title"] and expected["published_at"], "an expected side without title or time is no check"
    got = page.extract()
    for key in ("title", "published_at", "language", "canonical_url", "links", "text"):
        assert got[key] == expected[key], f"{page.name}: {key} ({page.pattern})"


def test_every_recorded_page_keeps_its_time_of_day_where_it_has_one() -> None:
    """Only the pages whose date carries no time anywhere (the address's, a day written under the
    headline) may come out at midnight."""
    midnight = [p.name for p in PAGES if datetime.fromisoformat(p.expected()["published_at"]).time().isoformat()
                == "00:00:00"]
    assert midnight == ["url-date-only", "generic-meta-date-after-byline-text"]
