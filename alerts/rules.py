"""Spread rules, evaluated inside ingest's transaction: an alert row (and its deliveries) is written
together with the story change that caused it, once per (story, rule, level), ever."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.config import Rule, alert_settings
from spreadwatch.settings import Settings
from storage.models import Alert, Article, Delivery, Link, Outlet, Story, StoryMute
from storage.stories_repo import article_time, story_articles, story_summary


def reached_levels(session: Session, rule: Rule, story: Story, articles: list[Any]) -> list[str]:
    """The levels this story has reached under the rule (as strings), lowest first."""
    if rule.watch is not None and rule.watch not in (story.watches or []):
        return []
    if not story.watches:
        return []  # the story is what spreads; a watch is what makes it worth an alert
    if rule.kind == "outlets":
        most = most_outlets_within(articles, timedelta(hours=rule.window_hours))
        return [str(n) for n in sorted(rule.levels) if most >= n]
    if rule.kind == "rate":
        most = most_new_outlets_within(articles, rule)
        return [str(n) for n in sorted(rule.levels) if most >= n]
    if rule.kind == "languages":
        return [f"{lang}" for lang in _beyond_origin(story, articles, lambda a: a.language)]
    if rule.kind == "countries":
        return [f"{c}" for c in _beyond_origin(story, articles, lambda a: a.outlet.country)]
    return denial_levels(session, story, rule)


def most_outlets_within(articles: list[Any], window: timedelta) -> int:
    """The most distinct outlets whose articles fall in any one window of this length.

    A best window can always end at an article, so sliding one over the sorted times is exact, also
    when a late feed delivers an old article out of order."""
    times = sorted((article_time(a), a.outlet_id) for a in articles)
    inside: Counter[int] = Counter()
    best = first = 0
    for t, outlet in times:
        inside[outlet] += 1
        while times[first][0] < t - window:
            gone = times[first][1]
            inside[gone] -= 1
            if not inside[gone]:
                del inside[gone]
            first += 1
        best = max(best, len(inside))
    return best


def most_new_outlets_within(articles: list[Any], rule: Rule) -> int:
    """The most outlets new to the story (their first article in it) within `rule.window_minutes`;
    with `rule.factor`, counted only in windows where that is at least `factor` times the story's
    own rate of new outlets over the `baseline_hours` (default 24) before the window (so only once
    the story is that old: a young story's burst is what the count alone is for)."""
    window = timedelta(minutes=rule.window_minutes or 60)
    firsts: dict[int, datetime] = {}
    for a in articles:
        t = article_time(a)
        if a.outlet_id not in firsts or t < firsts[a.outlet_id]:
            firsts[a.outlet_id] = t
    times = sorted(firsts.values())
    baseline = timedelta(hours=rule.baseline_hours or 24)
    best = start = 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        count = end - start + 1
        if rule.factor is not None:
            begin = t - window
            if times[0] > begin - baseline:
                continue  # the story is younger than its baseline: it has no usual rate to beat yet
            before = sum(1 for x in times[:start] if x > begin - baseline)
            usual = before * (window / baseline)  # new outlets the story's recent rate gives a window
            if count < rule.factor * usual:
                continue
        best = max(best, count)
    return best


def _beyond_origin(story: Story, articles: list[Any], key: Any) -> list[str]:
    origin = next((a for a in articles if a.id == story.origin_article_id), None)
    start = key(origin) if origin else None
    return sorted({key(a) for a in articles if key(a) and key(a) != start})


def denial_levels(session: Session, story: Story, rule: Rule) -> list[str]:
    """`denied` once any denial joined the story, `official` once an official source's did: a ministry
    or a mission saying "this is false" is news of its own, even after a newsroom's debunk."""
    q = (select(Outlet.kind).distinct().join(Article, Article.outlet_id == Outlet.id)
         .join(Link, Link.article_id == Article.id).where(Article.story_id == story.id, Link.kind == "denial"))
    kinds = set(session.scalars(q))
    levels = ["denied"] if kinds and rule.sources == "any" else []
    return levels + (["official"] if "official" in kinds else [])


def evaluate(session: Session, story_ids: list[int], settings: Settings, now: datetime,
             known_articles: dict[int, list[Any]] | None = None) -> list[Alert]:
    """New alerts for these stories; lower levels reached at the same moment are recorded, not sent.
    `known_articles` may hold a story's articles already loaded by the caller (placement has them)."""
    cfg = alert_settings(settings)
    fired: list[Alert] = []
    for story_id in story_ids:
        story = session.get(Story, story_id)
        # most stories match no watch and can never alert: nothing more to read for them
        if story is None or story.status != "active" or not story.watches:
            continue
        articles = (known_articles or {}).get(story_id) or story_articles(session, story_id)
        # levels reached by stories merged into this one count as reached: no second alert for them
        family = merged_family(session, story_id)
        known = {(a.rule, a.level) for a in session.scalars(select(Alert).where(Alert.story_id.in_(family)))}
        mutes = active_mutes(session, family, now)
        for rule in cfg.rules:
            new = [lv for lv in reached_levels(session, rule, story, articles) if (rule.name, lv) not in known]
            if new:
                alert = _record(session, story, rule, new, cfg.channels, now, mutes)
                if alert is not None:
                    fired.append(alert)
    return fired


def merged_family(session: Session, story_id: int) -> list[int]:
    """This story and every story merged into it, also through earlier merges (C into B into A)."""
    family, frontier = [story_id], [story_id]
    while frontier:
        frontier = list(session.scalars(select(Story.id).where(Story.merged_into_id.in_(frontier))))
        frontier = [sid for sid in frontier if sid not in family]
        family += frontier
    return family


def active_mutes(session: Session, story_ids: list[int], now: datetime) -> list[StoryMute]:
    """The mutes in force now on these stories (a story and those merged into it)."""
    q = select(StoryMute).where(StoryMute.story_id.in_(story_ids), StoryMute.lifted_at.is_(None))
    return [m for m in session.scalars(q) if m.until is None or m.until > now]


def silenced(mutes: list[StoryMute], rule: Rule, level: str) -> bool:
    """A mute silences every level, or with `upto` the outlet-count levels up to it (and the levels
    that are not counts): a story that spreads beyond what the analyst expected alerts again."""
    for m in mutes:
        if m.upto is None or not level.isdigit() or rule.kind not in ("outlets", "rate") or int(level) <= m.upto:
            return True
    return False


def _record(session: Session, story: Story, rule: Rule, levels: list[str], channels: list[Any],
            now: datetime, mutes: list[StoryMute] | None = None) -> Alert | None:
    summary: dict[str, Any] = {"story": story_summary(story), "rule": rule.name, "kind": rule.kind,
                               "levels": levels, "window_hours": rule.window_hours,
                               **({"window_minutes": rule.window_minutes} if rule.kind == "rate" else {})}
    muted = {lv for lv in levels if mutes and silenced(mutes, rule, lv)}
    loud = [lv for lv in levels if lv not in muted]
    sent: Alert | None = None
    for level in levels:
        last = bool(loud) and level == loud[-1]  # only the highest new level is sent; the rest are marked as reached
        try:
            with session.begin_nested():  # another process may record the same level at the same moment
                alert = Alert(story_id=story.id, rule=rule.name, level=level, created_at=now,
                              summary={**summary, "superseded": not last, **({"muted": True} if level in muted else {})})
                session.add(alert)
                session.flush()
                if last:
                    session.add_all(Delivery(alert_id=alert.id, channel=c.name, next_try_at=now) for c in channels)
                    session.flush()
                    sent = alert
        except IntegrityError:
            continue
    return sent


def carry_alerts(session: Session, kept_id: int, split_id: int, now: datetime) -> None:
    """After story `split_id` was split out of `kept_id`: each alert of the story (and of the stories
    merged into it) goes with the part holding most of the articles it was raised on (those seen by
    then); the other part records the level as reached, unsent, so no level is alerted twice."""
    family = merged_family(session, kept_id)
    parts = {sid: {a.id: a.first_seen_at for a in session.scalars(select(Article).where(Article.story_id == sid))}
             for sid in (kept_id, split_id)}
    for alert in list(session.scalars(select(Alert).where(Alert.story_id.in_(family)).order_by(Alert.id))):
        seen = {sid: sum(1 for t in part.values() if t <= alert.created_at) for sid, part in parts.items()}
        holder = split_id if seen[split_id] > seen[kept_id] else kept_id
        if holder == split_id and not _has(session, [split_id], alert):
            alert.story_id = split_id
            session.flush()
        other = kept_id if holder == split_id else split_id
        other_family = merged_family(session, kept_id) if other == kept_id else [split_id]
        if not _has(session, other_family, alert):
            session.add(Alert(story_id=other, rule=alert.rule, level=alert.level, created_at=now,
                              summary={**(alert.summary or {}), "superseded": True, "carried_from": alert.id}))
            session.flush()


def _has(session: Session, story_ids: list[int], alert: Alert) -> bool:
    return session.scalar(select(Alert.id).where(Alert.story_id.in_(story_ids), Alert.rule == alert.rule,
                                                 Alert.level == alert.level).limit(1)) is not None
