"""Spread rules on the replayed stories through the real ingest: levels once each, the window, new
languages and countries, denials, rules narrowed to a watch, stories no watch matches."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from alerts.rules import most_outlets_within
from spreadwatch.settings import ConfigError, WatchConfig
from storage import Alert, Database, Delivery
from tests.alerts.replayed import KOSOVO, email_channel, ingest_story, settings_with


def alerts_of(db: Database) -> list[tuple[str, str]]:
    with db.session() as s:
        return [(a.rule, a.level) for a in s.scalars(select(Alert).order_by(Alert.id))]


def test_each_level_alerts_once_and_a_higher_level_alerts_again(db_url: str) -> None:
    settings = settings_with(db_url, [email_channel(25)])
    db = Database(db_url)
    ingest_story(db, settings, KOSOVO, upto=3)
    assert alerts_of(db) == [("spreading", "3")]
    ingest_story(db, settings, KOSOVO, upto=3)  # the same articles again: nothing
    assert alerts_of(db) == [("spreading", "3")]
    ingest_story(db, settings, KOSOVO, start=3, upto=6)  # three more outlets: level 5
    assert alerts_of(db) == [("spreading", "3"), ("spreading", "5")]
    with db.session() as s:
        assert s.scalar(select(func.count(Delivery.id))) == 2  # one per alert, to the one channel


def test_levels_reached_at_once_send_only_the_highest(sqlite_url: str) -> None:
    settings = settings_with(sqlite_url, [email_channel(25)], rules=[{"name": "spreading", "levels": [2, 3]}])
    db = Database(sqlite_url)
    ingest_story(db, settings_with(sqlite_url, [], rules=[]), KOSOVO, upto=2)  # before the rule existed
    ingest_story(db, settings, KOSOVO, start=2, upto=3)
    with db.session() as s:
        rows = {a.level: (a.summary["superseded"], len(a.deliveries)) for a in s.scalars(select(Alert))}
    assert rows == {"2": (True, 0), "3": (False, 1)}


def test_the_window_counts_outlets_close_together_also_out_of_order() -> None:
    t0 = datetime(2025, 2, 19, tzinfo=timezone.utc)

    def art(outlet: int, hours: float) -> SimpleNamespace:
        return SimpleNamespace(outlet_id=outlet, published_at=t0 + timedelta(hours=hours), first_seen_at=t0)
    spread_out = [art(1, 0), art(2, 10), art(3, 20), art(4, 30)]
    assert most_outlets_within(spread_out, timedelta(hours=24)) == 3
    assert most_outlets_within(spread_out, timedelta(hours=5)) == 1
    # an old article that a late feed delivers last still joins its window
    late = [art(1, 10), art(2, 11), art(3, 0.5), art(4, 1), art(5, 0)]
    assert most_outlets_within(late, timedelta(hours=2)) == 3
    assert most_outlets_within([art(1, 0), art(1, 1), art(2, 1)], timedelta(hours=2)) == 2  # outlets, not articles


def test_outlets_outside_the_window_do_not_count(sqlite_url: str) -> None:
    # Bild 06:10, Telegrafi 06:52, Oranews 07:31, Noa 07:48, Ntv 08:05, 360grade 08:22
    narrow = settings_with(sqlite_url, [], rules=[{"name": "fast", "levels": [3], "window_hours": 0.5}])
    db = Database(sqlite_url)
    ingest_story(db, narrow, KOSOVO, upto=6)
    assert alerts_of(db) == []  # never three outlets within 30 minutes
    wide = settings_with(sqlite_url, [], rules=[{"name": "fast", "levels": [3], "window_hours": 1}])
    ingest_story(db, wide, KOSOVO, start=6, upto=7)
    assert alerts_of(db) == [("fast", "3")]  # 06:52–07:48 holds three


def test_new_languages_countries_and_a_denial_each_alert_once(sqlite_url: str) -> None:
    rules = [{"name": "lang", "kind": "languages"}, {"name": "country", "kind": "countries"},
             {"name": "denied", "kind": "denial"}]
    settings = settings_with(sqlite_url, [], rules=rules)
    db = Database(sqlite_url)
    ingest_story(db, settings, KOSOVO, upto=2)  # Bild (DE, de), Telegrafi (XK, sq)
    assert alerts_of(db) == [("lang", "sq"), ("country", "XK")]
    ingest_story(db, settings, KOSOVO, start=2, upto=11)  # Albania, Turkey; Kosovo Online in Serbian
    assert set(alerts_of(db)[2:]) == {("country", "AL"), ("country", "TR"), ("lang", "sr")}
    assert ("denied", "denied") not in alerts_of(db)
    ingest_story(db, settings, KOSOVO, start=11, upto=15)  # ..., Kosovapress: the ministry's denial
    assert alerts_of(db).count(("denied", "denied")) == 1
    ingest_story(db, settings, KOSOVO, start=15)  # two more denials: no second denial alert
    assert alerts_of(db).count(("denied", "denied")) == 1
    assert len(alerts_of(db)) == len(set(alerts_of(db)))


def test_a_rule_narrowed_to_a_watch_and_stories_no_watch_matches(sqlite_url: str) -> None:
    other = WatchConfig.model_validate({"name": "lithium", "rules": [{"all": [["lithium"]]}]})
    rules: list[dict[str, Any]] = [{"name": "kfor", "watch": "kfor-withdrawal", "levels": [3]},
                                   {"name": "lith", "watch": "lithium"}]
    settings = settings_with(sqlite_url, [], rules=rules)
    settings = settings.with_overrides(watches=[*settings.watches, other])
    db = Database(sqlite_url)
    ingest_story(db, settings, KOSOVO, upto=3)
    ingest_story(db, settings, "serbia-border-pullback-2023")  # five outlets, but no watch matches it
    assert alerts_of(db) == [("kfor", "3")]


def test_a_rule_naming_an_unknown_watch_is_a_clear_error(sqlite_url: str) -> None:
    settings = settings_with(sqlite_url, [], rules=[{"name": "r", "watch": "kfor-withdrawl"}])
    db = Database(sqlite_url)
    with pytest.raises(ConfigError, match=r"alerts.rules\[r\].watch: no watch named 'kfor-withdrawl' "
                                          r"\(known: kfor-withdrawal\)"):
        ingest_story(db, settings, KOSOVO, upto=1)


@pytest.mark.parametrize("seed", [1, 4])
def test_an_alert_stays_with_the_articles_that_raised_it_when_late_articles_reshuffle_stories(
        sqlite_url: str, seed: int) -> None:
    """In a shuffled arrival order late articles re-decide later ones and empty stories: an emptied
    story is never given to other articles, so every alert's story (with the stories retired into
    it) holds a watched article and at least as many outlets as the level it alerted."""
    import random

    from bench.stories_eval import drafts
    from spreadwatch.ingest import ingest
    from spreadwatch.replay import load_corpus
    from alerts.rules import merged_family
    from storage import Article, Story

    settings = settings_with(sqlite_url, [email_channel(25)])
    db = Database(sqlite_url)
    items = drafts(load_corpus())
    random.Random(seed).shuffle(items)
    for _, draft in items:
        with db.session() as s:
            ingest(s, draft, settings)
    with db.session() as s:
        spreading = s.scalars(select(Alert).where(Alert.rule == "spreading")).all()
        assert spreading, "the shuffled corpus raised no spreading alert"
        retired = s.scalar(select(func.count(Story.id)).where(Story.status == "merged"))
        for alert in spreading:
            story = s.get(Story, alert.story_id)
            while story.status == "merged" and story.merged_into_id:
                story = s.get(Story, story.merged_into_id)
            family = merged_family(s, story.id)
            outlets = s.scalar(select(func.count(func.distinct(Article.outlet_id))).where(Article.story_id.in_(family)))
            assert outlets >= int(alert.level), (alert.level, story.title, outlets)
            assert story.watches, story.title
    assert retired >= 1  # the order did empty stories, which is what this test is about
