"""The bundled outlets: those without a usable feed (OUTLETS.md) are crawlable, and those whose terms
forbid automated collection stay disabled."""

from __future__ import annotations

from spiders import crawlable
from spreadwatch.settings import load_settings


def test_outlets_without_a_usable_feed_have_spider_entries() -> None:
    settings = load_settings()
    outlets, problems = crawlable(settings)
    keys = {o.key for o in outlets}
    assert problems == []
    assert {"oranews", "noa", "trt-balkan-sq", "tanjug", "gazeta-express", "kosovapress"} <= keys
    for key in ("oranews", "noa", "trt-balkan-sq", "tanjug"):  # no feed at all: the spider is the only way
        assert settings.outlet(key).feeds == []


def test_outlets_whose_terms_forbid_crawling_stay_disabled() -> None:
    settings = load_settings()
    outlets, problems = crawlable(settings, ["ap", "reuters"])
    assert outlets == [] and len(problems) == 2
    assert all("disabled" in p and "terms forbid" in p for p in problems)
    assert settings.outlet("ap").sitemaps  # documented, ready if the terms ever allow it
