"""Digest mode: a channel with `digest_minutes` gets one message per interval that says what each
story did, instead of one message per alert.

Intervals are aligned to the epoch in UTC (60 minutes: on the hour; 1440: at midnight UTC). When an
interval ends, the sender makes one `digest` row for the channel and that boundary (a unique key, so
two senders cannot make two) and, in the same transaction, moves every delivery that became due
before the boundary into it with a compare-and-set on `digest_id IS NULL`, so no delivery is in two
digests. From then on the digest is claimed, sent, retried and recorded like a single delivery, and
its outcome is written to all its deliveries at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Result, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.config import Channel
from alerts.content import digest_payload, story_news
from alerts.render import Message, render_digest
from storage import Database
from storage.models import Alert, Delivery, Digest

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class _NothingToCollect(Exception):
    """Raised inside the savepoint so that an empty digest row is rolled back with it."""


def period_end(now: datetime, minutes: float) -> datetime:
    """The last interval boundary at or before `now`, in whole microseconds so every sender agrees."""
    step = round(minutes * 60_000_000)
    elapsed = (now - EPOCH) // timedelta(microseconds=1)
    return EPOCH + timedelta(microseconds=elapsed - elapsed % step)


def _waiting(channel: str, boundary: datetime, now: datetime) -> ColumnElement[bool]:
    """Deliveries of the channel in no digest yet that became due before the boundary (or whose
    single-message sender died, when the channel was switched to digests under it)."""
    return and_(Delivery.channel == channel, Delivery.digest_id.is_(None),
                or_(and_(Delivery.state == "pending", Delivery.next_try_at < boundary),
                    and_(Delivery.state == "sending", Delivery.claimed_until < now)))


def collect_digests(db: Database, channels: list[Channel], now: datetime) -> int:
    """Open this interval's digest on every digest channel that has deliveries waiting; how many opened."""
    opened = 0
    for chan in channels:
        if chan.digest_minutes is not None and _collect(db, chan.name, period_end(now, chan.digest_minutes), now):
            opened += 1
    return opened


def _collect(db: Database, channel: str, boundary: datetime, now: datetime) -> bool:
    with db.session() as s:
        if s.scalar(select(Delivery.id).where(_waiting(channel, boundary, now)).limit(1)) is None:
            return False
        try:
            with s.begin_nested():
                digest = Digest(channel=channel, period_end=boundary, created_at=now, next_try_at=now)
                s.add(digest)
                s.flush()  # a second sender's row for the same boundary fails here
                moved = _rowcount(s.execute(update(Delivery).where(_waiting(channel, boundary, now)).values(
                    digest_id=digest.id, state="pending", claimed_until=None)))
                if not moved:
                    raise _NothingToCollect
        except (IntegrityError, _NothingToCollect):
            return False  # this interval's digest exists already: what is left waits for the next
        return True


def digest_message(s: Session, digest: Digest, base_url: str | None) -> tuple[Message | None, dict[str, Any], int]:
    """The digest's message (None when none of its stories exists any more), its webhook JSON and
    how many deliveries it carries."""
    members = list(s.scalars(select(Delivery).where(Delivery.digest_id == digest.id)))
    alerts = list(s.scalars(select(Alert).where(Alert.id.in_([d.alert_id for d in members]))))
    seen = acknowledged_stories(s, [a.story_id for a in alerts])
    news = story_news(s, [a for a in alerts if a.story_id not in seen])
    end = digest.period_end.isoformat(timespec="minutes")
    payload = digest_payload(digest.id, digest.channel, end, news, len(members))
    return (render_digest(news, end, base_url) if news else None), payload, len(members)


def acknowledged_stories(s: Session, story_ids: list[int]) -> set[int]:
    """Of these stories, those an analyst acknowledged an alert of (theirs or a story's merged into
    them): a digest leaves them out; they are being handled."""
    from alerts.rules import merged_family

    out = set()
    for sid in set(story_ids):
        family = merged_family(s, sid)
        if s.scalar(select(Alert.id).where(Alert.story_id.in_(family), Alert.acknowledged_at.is_not(None)).limit(1)):
            out.add(sid)
    return out


def _rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE changed: the compare-and-set's answer (an UPDATE's result is a CursorResult)."""
    return int(cast("CursorResult[Any]", result).rowcount)
