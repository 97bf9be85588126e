"""The replay newsroom's spider-only outlets (Ora News by news sitemap, Noa.al by listing page) end in
the same stories as the feed-polled outlets: one ingest path for every article."""

from __future__ import annotations

from sqlalchemy import select

from spiders import run_crawl
from spreadwatch.cycle import run_once
from spreadwatch.newsroom import Newsroom
from spreadwatch.settings import OutletConfig, Settings, load_settings
from storage import Article, Database
from tests.spiders.test_sites import HTTP


def newsroom_settings(db_url: str, newsroom: Newsroom, keys: tuple[str, ...]) -> Settings:
    outlets = [OutletConfig.model_validate(o) for o in newsroom.outlets_config() if o["key"] in keys]
    return load_settings().with_overrides(database_url=db_url, http=HTTP, outlets=outlets)


def test_spider_only_outlets_join_the_feed_outlets_story(sqlite_url: str) -> None:
    with Newsroom() as nr:
        settings = newsroom_settings(sqlite_url, nr, ("telegrafi", "oranews", "noa"))
        assert [o.key for o in settings.outlets if not o.feeds] == ["oranews", "noa"]  # spider-only
        run_once(settings)  # telegrafi by its feed
        report = run_crawl(settings, timeout=240)  # oranews by news sitemap, noa by listing page
        assert report.error is None and not any(o.errors for o in report.outlets.values()), report.summary()
        expected = {a.id for a in nr.corpus.articles if a.outlet in ("oranews", "noa")}
        assert report.ingested == len(expected) and len(expected) >= 2
        source = nr.corpus.article("telegrafi-bild-terheqja")
        with Database(sqlite_url).session() as s:
            arts = list(s.scalars(select(Article)))
            origin = next(a for a in arts if a.title == source.title)
            copies = {a.outlet.key: a for a in arts if a.url.endswith(("/oranews-terheqja-kopje/", "/noa-terheqja-kopje/"))}
            assert {a.via for a in arts if a.outlet.key in ("oranews", "noa")} == {"spider"}
            assert origin.via == "feed" and set(copies) == {"oranews", "noa"}
            assert copies["oranews"].story_id == copies["noa"].story_id == origin.story_id is not None
