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
from storage.models import Alert, Article, Delivery, Link, Outlet, Story
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
        for rule in cfg.rules:
            new = [lv for lv in reached_levels(session, rule, story, articles) if (rule.name, lv) not in known]
            if new:
                alert = _record(session, story, rule, new, cfg.channels, now)
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


def _record(session: Session, story: Story, rule: Rule, levels: list[str], channels: list[Any],
            now: datetime) -> Alert | None:
    summary: dict[str, Any] = {"story": story_summary(story), "rule": rule.name, "kind": rule.kind,
                               "levels": levels, "window_hours": rule.window_hours}
    sent: Alert | None = None
    for i, level in enumerate(levels):
        last = i == len(levels) - 1  # only the highest new level is sent; the rest are marked as reached
        try:
            with session.begin_nested():  # another process may record the same level at the same moment
                alert = Alert(story_id=story.id, rule=rule.name, level=level, created_at=now,
                              summary={**summary, "superseded": not last})
                session.add(alert)
                session.flush()
                if last:
                    session.add_all(Delivery(alert_id=alert.id, channel=c.name, next_try_at=now) for c in channels)
                    session.flush()
                    sent = alert
        except IntegrityError:
            continue
    return sent
