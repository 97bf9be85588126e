"""What a message is about, read from the database: the stories its alerts concern, each with its
history and matched terms, and the JSON a webhook receives."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.render import StoryNews, merge_alerts
from storage.models import Alert, Article, WatchMatch
from storage.stories_repo import story_history
from storage.text import plain_values


def alert_facts(alert: Alert) -> dict[str, Any]:
    """The rule's side of an alert, as the renderer and the webhook JSON take it."""
    summary = alert.summary or {}
    return {"id": alert.id, "rule": alert.rule, "level": alert.level, "kind": summary.get("kind", "outlets"),
            "levels": list(summary.get("levels") or [alert.level]), "window_hours": summary.get("window_hours"),
            "window_minutes": summary.get("window_minutes"),
            "created_at": alert.created_at.isoformat()}


def story_news(session: Session, alerts: list[Alert]) -> list[StoryNews]:
    """One entry per story (after merges) that these alerts concern, the most widely spread first.

    Alerts of stories that no longer exist are left out; the caller decides what an empty list means."""
    by_story: dict[int, StoryNews] = {}
    for alert in sorted(alerts, key=lambda a: a.id):
        history = plain_values(story_history(session, alert.story_id))  # stored before ingest cleaned it
        if history is None:
            continue
        sid = history["story"]["id"]
        if sid not in by_story:
            by_story[sid] = StoryNews(history, [], _terms(session, sid))
        by_story[sid].alerts.append(alert_facts(alert))
    news = list(by_story.values())
    for n in news:
        n.alerts = merge_alerts(n.alerts)
    return sorted(news, key=lambda n: (-n.history["story"]["outlet_count"], n.history["story"]["id"]))


def _terms(session: Session, story_id: int) -> list[str]:
    rows = session.scalars(select(WatchMatch.terms).join(Article).where(Article.story_id == story_id))
    return sorted({t for terms in rows for t in terms})


def alert_payload(news: StoryNews) -> dict[str, Any]:
    """A webhook's JSON for one alert: the alert and the whole story history."""
    return {"alert": news.alerts[-1], "story": news.history, "terms": news.terms}


def digest_payload(digest_id: int, channel: str, period_end: str, news: list[StoryNews],
                   alert_count: int) -> dict[str, Any]:
    """A webhook's JSON for a digest: per story, its alerts and its history."""
    return {"digest": {"id": digest_id, "channel": channel, "period_end": period_end, "alerts": alert_count},
            "stories": [{"alerts": n.alerts, "story": n.history, "terms": n.terms} for n in news]}
