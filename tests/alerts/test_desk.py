"""Alerts and the analyst's desk: exactly once across merges, splits and rebuilds (a real SMTP
server counts the messages), mutes, acknowledgements (and the digest that leaves them out), and the
rate-of-spread rule."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from alerts.config import Rule
from alerts.outbox import send_due
from alerts.rules import most_new_outlets_within
from alerts.sinks import SMTPSink
from spreadwatch import desk
from spreadwatch.settings import ConfigError
from storage import Alert, Article, Database, Delivery
from tests.alerts.replayed import KOSOVO, POLITICO, email_channel, ingest_story, settings_with, story_drafts, story_of

SEEN = datetime(2025, 2, 19, 12, 10, tzinfo=timezone.utc)


def alerts_of(db: Database) -> list[tuple[int, str, str, int]]:
    """(story, rule, level, deliveries) of every alert."""
    with db.session() as s:
        return [(a.story_id, a.rule, a.level, len(a.deliveries)) for a in s.scalars(select(Alert).order_by(Alert.id))]


def sent_levels(db: Database) -> list[str]:
    return sorted(level for _, _, level, n in alerts_of(db) if n)


def ids(db: Database, story: str, start: int = 0, upto: int | None = None) -> list[int]:
    urls = [d.url for _, d in story_drafts(story)[start:upto]]
    with db.session() as s:
        return list(s.scalars(select(Article.id).where(Article.url.in_(urls)).order_by(Article.id)))


def test_a_merge_sends_no_level_either_story_reached_and_a_rebuild_sends_nothing(db_url: str) -> None:
    with SMTPSink() as sink:
        # the two stories are a year apart: a window that holds both
        settings = settings_with(db_url, [email_channel(sink.port)], rules=[{"name": "spreading", "window_hours": 20000}])
        db = Database(db_url)
        ingest_story(db, settings, KOSOVO, upto=5)  # 3, 5
        ingest_story(db, settings, POLITICO, upto=4)  # 3
        kosovo, politico = story_of(db, story_drafts(KOSOVO)[0][1].url), story_of(db, story_drafts(POLITICO)[0][1].url)
        send_due(db, settings)
        before = len(sink.messages)
        assert sent_levels(db) == ["3", "3", "5"] and before >= 2  # (Kosovo's 3 may be superseded by its 5)
        with db.session() as s:
            desk.merge(s, kosovo, politico, "ana", settings)  # eight outlets together: no level is new
        assert sent_levels(db) == ["3", "3", "5"]
        ingest_story(db, settings, POLITICO, start=4, upto=6)  # nine
        with db.session() as s:
            desk.rebuild(s, settings)
        ingest_story(db, settings, KOSOVO, start=5, upto=7)  # ten outlets: level 10, once
        with db.session() as s:
            desk.rebuild(s, settings)
        send_due(db, settings)
        assert sent_levels(db) == ["10", "3", "3", "5"]
        assert len(sink.messages) == before + 1
        assert sum(1 for _, _, level, n in alerts_of(db) if level == "10") == 1


@pytest.mark.parametrize("leaving, alerts_move", [(slice(5, 8), False), (slice(0, 5), True)])
def test_a_split_keeps_each_alert_with_the_part_that_raised_it_and_sends_none_twice(
        db_url: str, leaving: slice, alerts_move: bool) -> None:
    with SMTPSink() as sink:
        settings = settings_with(db_url, [email_channel(sink.port)])
        db = Database(db_url)
        ingest_story(db, settings, KOSOVO, upto=8)  # 3 then 5
        kosovo = story_of(db, story_drafts(KOSOVO)[0][1].url)
        send_due(db, settings)
        before = len(sink.messages)
        assert before >= 1
        out = ids(db, KOSOVO)[leaving]
        with db.session() as s:
            part = desk.split(s, kosovo, out, "ana", settings).other_story_id
        holder, other = (part, kosovo) if alerts_move else (kosovo, part)
        sent = [(sid, level) for sid, _, level, n in alerts_of(db) if n]
        assert sent == [(holder, "3"), (holder, "5")]
        # the other part has three outlets or more: it records the levels as reached, unsent
        assert {(sid, level) for sid, _, level, n in alerts_of(db) if not n} >= {(other, "3")}
        ingest_story(db, settings, KOSOVO, start=8, upto=10)
        with db.session() as s:
            desk.rebuild(s, settings)
        send_due(db, settings)
        assert len(sink.messages) == before
        assert [lv for _, _, lv, n in alerts_of(db) if n] == ["3", "5"]


def test_a_muted_story_sends_nothing_until_it_is_unmuted_and_upto_lets_higher_levels_through(sqlite_url: str) -> None:
    settings = settings_with(sqlite_url, [email_channel(25)])
    db = Database(sqlite_url)
    ingest_story(db, settings, KOSOVO, upto=3, now=SEEN)
    story = story_of(db, story_drafts(KOSOVO)[0][1].url)
    with db.session() as s:
        desk.mute(s, story, "ana", upto=5)
    ingest_story(db, settings, KOSOVO, start=3, upto=6, now=SEEN)  # level 5: muted, recorded
    assert [(lv, n) for _, _, lv, n in alerts_of(db)] == [("3", 1), ("5", 0)]
    with db.session() as s:
        assert s.scalars(select(Alert).where(Alert.level == "5")).one().summary["muted"] is True
    ingest_story(db, settings, KOSOVO, start=6, upto=11, now=SEEN)  # level 10: above the mute, sent
    assert [(lv, n) for _, _, lv, n in alerts_of(db)] == [("3", 1), ("5", 0), ("10", 1)]


def test_a_mute_until_a_date_ends_then_and_unmute_lifts_it(sqlite_url: str) -> None:
    settings = settings_with(sqlite_url, [email_channel(25)])
    db = Database(sqlite_url)
    ingest_story(db, settings, KOSOVO, upto=2, now=SEEN)
    story = story_of(db, story_drafts(KOSOVO)[0][1].url)
    with db.session() as s:
        desk.mute(s, story, "ana", until=SEEN + timedelta(hours=1))
    ingest_story(db, settings, KOSOVO, start=2, upto=3, now=SEEN)  # muted
    ingest_story(db, settings, KOSOVO, start=3, upto=5, now=SEEN + timedelta(hours=2))  # the mute ended
    assert [(lv, n) for _, _, lv, n in alerts_of(db)] == [("3", 0), ("5", 1)]
    with db.session() as s:
        desk.mute(s, story, "ana")
        assert desk.unmute(s, story) == 1
    ingest_story(db, settings, KOSOVO, start=5, upto=11, now=SEEN + timedelta(hours=2))
    assert [(lv, n) for _, _, lv, n in alerts_of(db)][-1] == ("10", 1)


def test_an_acknowledged_story_is_left_out_of_the_digest(sqlite_url: str) -> None:
    with SMTPSink() as sink:
        settings = settings_with(sqlite_url, [email_channel(sink.port, digest_minutes=60)])
        db = Database(sqlite_url)
        ingest_story(db, settings, KOSOVO, upto=3, now=SEEN)
        ingest_story(db, settings, POLITICO, upto=3, now=SEEN)
        with db.session() as s:
            first = s.scalars(select(Alert).order_by(Alert.id)).first()
            assert first is not None
            desk.acknowledge(s, first.id, "ana")
        send_due(db, settings, now=SEEN + timedelta(hours=1))
        assert len(sink.messages) == 1
        text = str(sink.messages[0].get_body(("plain",)).get_content())  # type: ignore[union-attr]
        titles = {story_drafts(k)[0][1].title for k in (KOSOVO, POLITICO)}
        kosovo_title, politico_title = story_drafts(KOSOVO)[0][1].title, story_drafts(POLITICO)[0][1].title
        assert politico_title in text and kosovo_title not in text, titles
        with db.session() as s:
            assert s.get_one(Alert, first.id).acknowledged_by == "ana"
            assert s.scalar(select(func.count(Delivery.id)).where(Delivery.state == "sent")) == 2


def _art(outlet: int, minutes: float) -> SimpleNamespace:
    t0 = datetime(2025, 2, 19, tzinfo=timezone.utc)
    return SimpleNamespace(outlet_id=outlet, published_at=t0 + timedelta(minutes=minutes), first_seen_at=t0)


def test_the_rate_counts_outlets_new_to_the_story_within_the_window() -> None:
    rule = Rule(name="burst", kind="rate", levels=[3], window_minutes=30)
    burst = [_art(1, 0), _art(2, 100), _art(3, 110), _art(4, 120), _art(1, 121)]
    assert most_new_outlets_within(burst, rule) == 3
    again = [_art(1, 0), _art(1, 10), _art(1, 20), _art(2, 25)]  # one outlet many times is not a spread
    assert most_new_outlets_within(again, rule) == 2
    # several times its own rate: a story that always gains an outlet every ten minutes is not accelerating
    steady = [_art(i, 10 * i) for i in range(1, 40)]
    fast = Rule(name="burst", kind="rate", levels=[3], window_minutes=30, factor=2, baseline_hours=3)
    assert most_new_outlets_within(steady, fast) == 0
    quickened = steady + [_art(100 + i, 391 + i) for i in range(6)]  # six more outlets in six minutes
    assert most_new_outlets_within(quickened, fast) >= 6


def test_the_rate_rule_alerts_once_per_level(sqlite_url: str) -> None:
    # Bild 06:10, Telegrafi 06:52, Oranews 07:31, Noa 07:48, Ntv 08:05, 360grade 08:22
    rules = [{"name": "burst", "kind": "rate", "levels": [3, 4], "window_minutes": 60}]
    settings = settings_with(sqlite_url, [email_channel(25)], rules=rules)
    db = Database(sqlite_url)
    ingest_story(db, settings, KOSOVO, upto=3)
    assert alerts_of(db) == []
    ingest_story(db, settings, KOSOVO, start=3, upto=4)  # 06:52-07:48 holds three new outlets
    assert [(r, lv, n) for _, r, lv, n in alerts_of(db)] == [("burst", "3", 1)]
    ingest_story(db, settings, KOSOVO, start=4, upto=6)  # 07:31-08:22 holds four
    ingest_story(db, settings, KOSOVO, upto=6)
    assert [(r, lv, n) for _, r, lv, n in alerts_of(db)] == [("burst", "3", 1), ("burst", "4", 1)]


@pytest.mark.parametrize("rule, message", [
    ({"name": "b", "kind": "rate"}, r"alerts.rules\[b\]: .*a rate rule needs `window_minutes:`"),
    ({"name": "b", "window_minutes": 30}, r"alerts.rules\[b\]: .*`window_minutes:` belongs to a rate rule"),
    ({"name": "b", "kind": "rate", "window_minutes": 30, "factor": 0.5},
     r"alerts.rules\[b\].factor: Input should be greater than 1"),
    ({"name": "b", "kind": "rate", "window_minutes": 30, "baseline_hours": 6}, r"set `factor:` too"),
])
def test_a_bad_rate_rule_is_named_with_its_key(sqlite_url: str, rule: dict, message: str) -> None:  # type: ignore[type-arg]
    from alerts.config import alert_settings

    with pytest.raises(ConfigError, match=message):
        alert_settings(settings_with(sqlite_url, [], rules=[rule]))


def test_a_bad_rate_rule_in_a_file_is_named_by_file_line_and_key(tmp_path: Path) -> None:
    from spreadwatch.validation import load_config

    path = tmp_path / "my.yaml"
    path.write_text("default_outlets: false\nalerts:\n  rules:\n    - name: breaking\n      kind: rate\n"
                    "      window_minutes: 60\n      factor: 0.5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"my.yaml:7: alerts.rules\[breaking\].factor: Input should be greater than 1"):
        load_config(path, f"sqlite:///{tmp_path / 'x.db'}")
    path.write_text("default_outlets: false\nalerts:\n  rules:\n    - name: breaking\n      kind: rate\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"my.yaml:4: alerts.rules\[breaking\]: .*needs `window_minutes:`"):
        load_config(path, f"sqlite:///{tmp_path / 'x.db'}")
