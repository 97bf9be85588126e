"""The outbox sender: claims due deliveries, sends them, records the result, retries with backoff.

A claim is a compare-and-set UPDATE (state pending→sending with a lease), so two senders never
take the same delivery, on SQLite and PostgreSQL alike; a sender that dies leaves a lease that
expires and the delivery is taken again. A crash between the receiver accepting a message and our
commit can still repeat it: emails carry a stable Message-ID and webhooks an Idempotency-Key per
delivery, so receivers can drop the repeat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update

from alerts.channels import SendError, send
from alerts.config import alert_settings, channel
from alerts.render import render
from spreadwatch.settings import Settings
from storage import Database
from storage.models import Alert, Article, Delivery, WatchMatch, utcnow
from storage.stories_repo import story_history

log = logging.getLogger("spreadwatch.alerts")


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    deferred: int = 0  # held back by a channel's rate limit
    superseded: int = 0  # a newer alert of the same story and rule says more: this one is not sent
    errors: list[str] = field(default_factory=list)


def send_due(db: Database, settings: Settings, now: datetime | None = None, limit: int = 100) -> SendReport:
    """Send every delivery that is due (and not rate-limited); returns what happened."""
    cfg = alert_settings(settings)
    report = SendReport()
    now = now or utcnow()
    for delivery_id in _due(db, now, limit):
        if not _claim(db, delivery_id, now, cfg.delivery.lease_seconds):
            continue  # another sender took it
        _deliver(db, settings, delivery_id, report)
    return report


def _due(db: Database, now: datetime, limit: int) -> list[int]:
    with db.session() as s:
        q = (select(Delivery.id).where(or_(and_(Delivery.state == "pending", Delivery.next_try_at <= now),
                                           and_(Delivery.state == "sending", Delivery.claimed_until < now)))
             .order_by(Delivery.next_try_at, Delivery.id).limit(limit))
        return list(s.scalars(q))


def _claim(db: Database, delivery_id: int, now: datetime, lease: float) -> bool:
    with db.session() as s:
        res = s.execute(update(Delivery).where(
            Delivery.id == delivery_id,
            or_(and_(Delivery.state == "pending", Delivery.next_try_at <= now),
                and_(Delivery.state == "sending", Delivery.claimed_until < now)),
        ).values(state="sending", claimed_until=now + timedelta(seconds=lease)))
        return res.rowcount == 1


def _deliver(db: Database, settings: Settings, delivery_id: int, report: SendReport) -> None:
    cfg = alert_settings(settings)
    with db.session() as s:
        d = s.get_one(Delivery, delivery_id)
        alert = s.get_one(Alert, d.alert_id)
        chan = channel(settings, d.channel)
        if _superseded(s, d, alert):
            d.state, d.claimed_until, d.last_error = "superseded", None, None
            report.superseded += 1
            return
        sent_last_minute = s.scalar(select(func.count(Delivery.id)).where(
            Delivery.channel == d.channel, Delivery.state == "sent", Delivery.sent_at >= utcnow() - timedelta(minutes=1)))
        if sent_last_minute >= chan.rate_per_minute:
            d.state, d.next_try_at = "pending", utcnow() + timedelta(seconds=60)
            report.deferred += 1
            return
        history = story_history(s, alert.story_id)
        terms = sorted({t for (ts,) in s.execute(select(WatchMatch.terms).join(Article).where(
            Article.story_id == (history or {}).get("story", {}).get("id", alert.story_id))) for t in ts})
        payload = {"alert": {"id": alert.id, "rule": alert.rule, "level": alert.level,
                             **{k: alert.summary.get(k) for k in ("kind", "levels")}}, "story": history}
        attempts = d.attempts
    message = render({"rule": alert.rule, "kind": alert.summary.get("kind"), "levels": alert.summary.get("levels")},
                     history, cfg.base_url, terms) if history else None
    error: SendError | None = None
    try:
        if message is None:
            raise SendError(f"story {alert.story_id} no longer exists", permanent=True)
        send(chan, message, payload, f"delivery-{delivery_id}")
    except SendError as e:
        error = e
    _record(db, settings, delivery_id, attempts, error, report)


def _superseded(s, d: Delivery, alert: Alert) -> bool:  # type: ignore[no-untyped-def]
    """A newer alert for the same story, rule and channel is waiting: send that one only."""
    from storage.models import Story

    story = s.get(Story, alert.story_id)
    family = {alert.story_id, story.merged_into_id} if story is not None else {alert.story_id}
    newer = (select(Delivery.id).join(Alert).where(
        Alert.story_id.in_([f for f in family if f]), Alert.rule == alert.rule, Alert.id > alert.id,
        Delivery.channel == d.channel, Delivery.state.in_(("pending", "sending"))).limit(1))
    return s.scalar(newer) is not None


def _record(db: Database, settings: Settings, delivery_id: int, attempts: int, error: SendError | None,
            report: SendReport) -> None:
    cfg = alert_settings(settings).delivery
    with db.session() as s:
        d = s.get_one(Delivery, delivery_id)
        d.attempts, d.claimed_until = attempts + 1, None
        if error is None:
            d.state, d.sent_at, d.last_error = "sent", utcnow(), None
            report.sent += 1
            return
        d.last_error = str(error)
        report.errors.append(f"{d.channel}: {error}")
        if error.permanent or d.attempts >= cfg.max_attempts:
            d.state = "failed"
            report.failed += 1
            log.error("alert delivery failed for good", extra={"delivery": delivery_id, "error": str(error)})
            return
        wait = error.retry_after if error.retry_after is not None else min(
            cfg.backoff_seconds * 2 ** (d.attempts - 1), cfg.max_backoff_seconds)
        d.state, d.next_try_at = "pending", utcnow() + timedelta(seconds=wait)
        report.retrying += 1
