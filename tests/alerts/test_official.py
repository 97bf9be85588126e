"""Official sources: their articles are marked in the history, the CLI tree, the web page and alerts;
a denial from one is an alert level of its own (`official`), and a denial rule can ask for nothing else."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from alerts.content import story_news
from alerts.render import render
from crawler.draft import ArticleDraft
from spreadwatch.ingest import ingest
from spreadwatch.settings import OutletConfig, Settings
from storage import Alert, Article, Database, Outlet
from storage.stories_repo import official_label, story_history
from tests.alerts.replayed import KOSOVO, ingest_story, settings_with, story_drafts

MINISTRY = OutletConfig(key="kosovo-mod", name="Ministry of Defence of Kosovo", kind="official", country="XK",
                        language="sq", aliases=["Ministria e Mbrojtjes"])
# written for this test: the ministry's own statement, in its own words
STATEMENT = ArticleDraft(
    outlet_key="kosovo-mod", url="https://mod.rks-gov.net/lajme/deklarate-bild", via="feed",
    canonical_url="https://mod.rks-gov.net/lajme/deklarate-bild", language="sq",
    published_at=datetime(2025, 2, 19, 12, 30, tzinfo=timezone.utc),
    title="Deklaratë: raportimi i Bild për tërheqjen e trupave amerikane nga Kosova është dezinformatë",
    text="Ministria e Mbrojtjes e Kosovës e quan dezinformatë raportimin e gazetës gjermane Bild se Italia "
         "po përgatitet për tërheqjen e trupave amerikane nga Kosova. Për largimin e ushtarëve amerikanë nga "
         "KFOR as që bëhet fjalë: vendimet e tilla nuk merren rastësisht dhe koordinohen me SHBA-të, ndërsa me "
         "KFOR-in komunikojmë çdo javë. Rreth 600 ushtarë amerikanë mbeten pjesë e misionit në Camp Bondsteel.")


def official_settings(db_url: str, rules: list[dict[str, Any]]) -> Settings:
    base = settings_with(db_url, [], rules=rules)
    return base.with_overrides(outlets=[*base.outlets, MINISTRY])


def alerts_of(db: Database) -> list[tuple[str, str, bool]]:
    with db.session() as s:
        rows = s.scalars(select(Alert).order_by(Alert.id))
        return [(a.rule, a.level, bool(a.summary.get("superseded"))) for a in rows]


def denials_in(story: str) -> int:
    """How many of the story's articles, in publication order, come before its first denial."""
    return next(i for i, (key, _) in enumerate(story_drafts(story)) if "dezinform" in key or "reagim" in key)


def store(db: Database, settings: Settings, draft: ArticleDraft) -> int:
    with db.session() as s:
        return ingest(s, draft, settings).article_id


def test_an_official_denial_alerts_again_after_a_newsroom_one(db_url: str) -> None:
    settings = official_settings(db_url, [{"name": "denied", "kind": "denial"}])
    db = Database(db_url)
    ingest_story(db, settings, KOSOVO)  # Kosovapress, RKS News and Hibrid report the denial
    assert alerts_of(db) == [("denied", "denied", False)]
    aid = store(db, settings, STATEMENT)
    assert alerts_of(db) == [("denied", "denied", False), ("denied", "official", False)]
    with db.session() as s:
        assert s.scalars(select(Outlet.kind).where(Outlet.key == "kosovo-mod")).one() == "official"
        story_id = s.get_one(Article, aid).story_id
        alert = s.scalars(select(Alert).where(Alert.level == "official")).one()
        assert alert.story_id == story_id  # the statement joined the rumour's story
        news = story_news(s, [alert])
    entry = next(a for a in news[0].history["articles"] if a["id"] == aid)
    assert (entry["outlet_kind"], entry["kind"]) == ("official", "denial")
    assert official_label(entry) == "Denied by Ministry of Defence of Kosovo"
    assert {a["outlet_kind"] for a in news[0].history["articles"] if a["id"] != aid} == {"media"}
    msg = render(news[0].alerts[-1], news[0].history)
    assert msg.subject.startswith("Denied by Ministry of Defence of Kosovo: '")
    assert "denied: an official source denied it" in msg.text
    assert "— Denied by Ministry of Defence of Kosovo" in msg.text and "Denied by Ministry of Defence" in msg.html
    assert "Denied by Ministry of Defence of Kosovo" in str(msg.blocks)


def test_a_rule_narrowed_to_official_sources_ignores_newsroom_denials(sqlite_url: str) -> None:
    settings = official_settings(sqlite_url, [{"name": "official-denial", "kind": "denial", "sources": "official"}])
    db = Database(sqlite_url)
    ingest_story(db, settings, KOSOVO)
    assert alerts_of(db) == []
    store(db, settings, STATEMENT)
    assert alerts_of(db) == [("official-denial", "official", False)]


def test_an_official_first_denial_sends_the_official_level_only(sqlite_url: str) -> None:
    settings = official_settings(sqlite_url, [{"name": "denied", "kind": "denial"}])
    db = Database(sqlite_url)
    ingest_story(db, settings, KOSOVO, upto=denials_in(KOSOVO))  # the rumour and its copies, no denial yet
    assert alerts_of(db) == []
    store(db, settings, STATEMENT)
    assert alerts_of(db) == [("denied", "denied", True), ("denied", "official", False)]  # recorded, sent


def test_the_tree_and_the_story_page_mark_official_statements(sqlite_url: str) -> None:
    from fastapi.testclient import TestClient
    from rich.console import Console

    from spreadwatch.commands.stories import print_history
    from web.app import create_app

    settings = official_settings(sqlite_url, [])
    db = Database(sqlite_url)
    ingest_story(db, settings, KOSOVO, upto=4)
    aid = store(db, settings, STATEMENT)
    with db.session() as s:
        history = story_history(s, s.get_one(Article, aid).story_id)
    assert history is not None
    console = Console(record=True, width=200)
    print_history(console, history)
    shown = console.export_text()
    assert "[Denied by Ministry of Defence of Kosovo]" in shown and "kosovo-mod (official)" in shown
    page = TestClient(create_app(settings)).get(f"/stories/{history['story']['id']}").text
    assert f'data-id="{aid}" data-kind="denial"' in page and 'data-outlet-kind="official"' in page
    assert '<span class="official">Denied by Ministry of Defence of Kosovo</span>' in page
    assert "1 from official sources" in page
    assert page.count('data-outlet-kind="media"') == len(history["articles"]) - 1


def test_sources_narrows_denial_rules_only(sqlite_url: str) -> None:
    import pytest

    from alerts.config import alert_settings
    from spreadwatch.settings import ConfigError

    with pytest.raises(ConfigError, match="narrows a denial rule"):
        alert_settings(official_settings(sqlite_url, [{"name": "x", "kind": "outlets", "sources": "official"}]))
    with pytest.raises(ConfigError, match="sources"):
        alert_settings(official_settings(sqlite_url, [{"name": "x", "kind": "denial", "sources": "ministries"}]))
