"""The outbox sender: claims due deliveries (and digests), sends them, records the result, retries with backoff.

A claim is a compare-and-set UPDATE (state pending→sending with a lease), so two senders never
take the same delivery, on SQLite and PostgreSQL alike; a sender that dies leaves a lease that
expires and the delivery is taken again. The lease's end is the claim's token: a sender records its
result only if the row still carries its token, so a slow sender whose lease ran out cannot
overwrite the work of the one that took over. A crash between the receiver accepting a message and
our commit can still repeat it: emails carry a stable Message-ID and webhooks an Idempotency-Key
per delivery (or digest), so receivers can drop the repeat.

A channel's rate limit is checked in the claim's transaction under a per-channel lock (an advisory
lock on PostgreSQL; SQLite's single writer is one already), counting what was sent in the last
minute and what is in flight, so two senders together still keep to it.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, cast

from sqlalchemy import ColumnElement, CursorResult, Result, and_, func, or_, select, text, update
from sqlalchemy.orm import Session

from alerts.channels import SendError, send
from alerts.config import AlertSettings, Channel, alert_settings
from alerts.content import alert_payload, story_news
from alerts.digest import collect_digests, digest_message
from alerts.render import Message, render
from alerts.rules import merged_family
from spreadwatch.settings import Settings
from storage import Database
from storage.models import Alert, Delivery, Digest, Story, utcnow

log = logging.getLogger("spreadwatch.alerts")

Outgoing = type[Delivery] | type[Digest]  # both carry state, attempts, next_try_at, claimed_until, ...
RATE_WINDOW = timedelta(minutes=1)


@dataclass
class SendReport:
    sent: int = 0  # messages sent: one per delivery, one per digest
    failed: int = 0
    retrying: int = 0
    deferred: int = 0  # held back by a channel's rate limit
    superseded: int = 0  # a newer alert of the same story and rule says more: this one is not sent
    digests: int = 0  # of the messages sent, how many were digests
    digested: int = 0  # deliveries those digests carried
    errors: list[str] = field(default_factory=list)


def send_due(db: Database, settings: Settings, now: datetime | None = None, limit: int = 100) -> SendReport:
    """Send every digest and delivery that is due (and not rate-limited); returns what happened.

    `now` fixes the clock (tests, replays); without it each step reads the real time."""
    cfg = alert_settings(settings)
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    report = SendReport()
    _note_unconfigured(db, cfg, report)
    collect_digests(db, cfg.channels, clock())
    for chan in cfg.channels:  # one channel's backlog never holds up another's alerts
        _send_channel(db, cfg, chan, clock, limit, report)
    return report


def _send_channel(db: Database, cfg: AlertSettings, chan: Channel, clock: Callable[[], datetime], limit: int,
                  report: SendReport) -> None:
    """The channel's due digests, then its due single deliveries, oldest first, until its rate limit
    says wait: the rest keep their place in the queue for the next run."""
    for model in (Digest, Delivery):
        if model is Delivery and chan.digest_minutes is not None:
            continue  # its deliveries go out in digests
        due = _due(db, model, chan.name, clock(), limit)
        for i, row_id in enumerate(due):
            token = _claim(db, model, row_id, chan, clock(), cfg)
            if token == DEFERRED:
                report.deferred += len(due) - i
                return
            if isinstance(token, datetime):
                deliver = _send_digest if model is Digest else _send_delivery
                deliver(db, cfg, chan, row_id, token, clock, report)


def _note_unconfigured(db: Database, cfg: AlertSettings, report: SendReport) -> None:
    """Deliveries for a channel that is no longer configured wait (nothing is dropped); say so."""
    names = [c.name for c in cfg.channels]
    with db.session() as s:
        rows = s.execute(select(Delivery.channel, func.count()).where(
            Delivery.state.in_(("pending", "sending")), Delivery.channel.not_in(names)).group_by(Delivery.channel))
        for name, n in rows:
            msg = f"{name}: {n} deliveries wait for a channel of this name, which is not configured"
            report.errors.append(msg)
            log.warning(msg)


def _due_condition(model: Outgoing, now: datetime) -> ColumnElement[bool]:
    return or_(and_(model.state == "pending", model.next_try_at <= now),
               and_(model.state == "sending", model.claimed_until < now))


def _due(db: Database, model: Outgoing, channel: str, now: datetime, limit: int) -> list[int]:
    with db.session() as s:
        q = select(model.id).where(_due_condition(model, now), model.channel == channel)
        if model is Delivery:
            q = q.where(Delivery.digest_id.is_(None))  # those go out with their digest
        return list(s.scalars(q.order_by(model.next_try_at, model.id).limit(limit)))


# ------------------------------------------------------------------ claiming, within the rate limit


class _RateFull(Exception):
    """Raised inside the claim's transaction so that the claim is rolled back with it."""


DEFERRED = "deferred"


def _claim(db: Database, model: Outgoing, row_id: int, chan: Channel, now: datetime,
           cfg: AlertSettings) -> datetime | str | None:
    """Take the row for this sender: its lease's end (the claim token); None if another sender
    has it; DEFERRED if the channel's rate limit is spent (then nothing is written)."""
    token = now + timedelta(seconds=cfg.delivery.lease_seconds)
    try:
        with db.session() as s:
            _lock_channel(s, chan.name)
            # claiming first takes SQLite's write lock, so the count below is the only one running
            taken = _rowcount(s.execute(update(model).where(model.id == row_id, _due_condition(model, now))
                                        .values(state="sending", claimed_until=token)))
            if taken != 1:
                return None
            if _rate_full(s, chan, model, row_id, now):
                raise _RateFull
            return token
    except _RateFull:
        return DEFERRED


def _lock_channel(s: Session, channel: str) -> None:
    """Serialise rate checks of one channel across processes (PostgreSQL; SQLite has one writer)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(f"spreadwatch-rate:{channel}".encode())})


def _rate_full(s: Session, channel: Channel, model: Outgoing, row_id: int, now: datetime) -> bool:
    """Whether the channel's budget for the last minute is spent, counting messages in flight."""
    since = now - RATE_WINDOW
    used = 0
    for m in (Delivery, Digest):
        own = [m.channel == channel.name]
        if m is Delivery:
            own.append(Delivery.digest_id.is_(None))  # a digest's deliveries are one message, counted there
        busy = and_(m.state == "sending", m.claimed_until >= now, *([m.id != row_id] if m is model else []))
        # one statement, so one snapshot: counted as two, a message another sender recorded as sent
        # between them (READ COMMITTED) was in neither count, and a seventh went out in a minute of six
        q = select(func.count()).select_from(m).where(*own, or_(and_(m.state == "sent", m.sent_at >= since), busy))
        used += s.scalar(q) or 0
    return used >= channel.rate_per_minute


# ------------------------------------------------------------------ sending


def _send_delivery(db: Database, cfg: AlertSettings, channel: Channel, delivery_id: int,
                   token: datetime, clock: Callable[[], datetime], report: SendReport) -> None:
    with db.session() as s:
        d = s.get_one(Delivery, delivery_id)
        alert = s.get_one(Alert, d.alert_id)
        if _superseded(s, d, alert):
            done = _rowcount(s.execute(update(Delivery).where(Delivery.id == d.id, Delivery.claimed_until == token)
                                       .values(state="superseded", claimed_until=None, last_error=None)))
            report.superseded += done
            return
        news = story_news(s, [alert])
        key = _key("delivery", d.id, alert.id, alert.story_id, alert.rule, alert.level, alert.created_at, d.channel)
        attempts = d.attempts
    message: Message | None = None
    if news:
        message = render(news[0].alerts[-1], news[0].history, cfg.base_url, news[0].terms)
    error = _attempt(channel, message, alert_payload(news[0]) if news else {}, key,
                     f"story {alert.story_id} no longer exists")
    _record(db, Delivery, delivery_id, token, attempts, error, cfg, clock(), report, channel.name)


def _send_digest(db: Database, cfg: AlertSettings, channel: Channel, digest_id: int,
                 token: datetime, clock: Callable[[], datetime], report: SendReport) -> None:
    with db.session() as s:
        digest = s.get_one(Digest, digest_id)
        message, payload, carried = digest_message(s, digest, cfg.base_url)
        key = _key("digest", digest.id, digest.channel, digest.period_end, digest.created_at)
        attempts = digest.attempts
    error = _attempt(channel, message, payload, key, f"none of the stories of digest {digest_id} exists any more")
    sent_before = report.sent
    _record(db, Digest, digest_id, token, attempts, error, cfg, clock(), report, channel.name)
    if report.sent > sent_before:
        report.digests += 1
        report.digested += carried


def _key(kind: str, row_id: int, *identity: Any) -> str:
    """An idempotency key and Message-ID local part: the same for every attempt of one message, and
    different from any other database's row of the same id (a reset database starts at 1 again)."""
    digest = hashlib.sha256("|".join(map(str, identity)).encode()).hexdigest()[:16]
    return f"spreadwatch-{kind}-{row_id}-{digest}"


def _attempt(channel: Channel, message: Message | None, payload: dict[str, Any], key: str,
             missing: str) -> SendError | None:
    """Send once; the error to record, if any."""
    if message is None:
        return SendError(missing, permanent=True)
    try:
        send(channel, message, payload, key)
    except SendError as e:
        return e
    return None


def _superseded(s: Session, d: Delivery, alert: Alert) -> bool:
    """A newer alert for the same story, rule and channel is waiting: send that one only."""
    newer = (select(Delivery.id).join(Alert).where(
        Alert.story_id.in_(_related(s, alert.story_id)), Alert.rule == alert.rule, Alert.id > alert.id,
        Delivery.channel == d.channel, Delivery.state.in_(("pending", "sending"))).limit(1))
    return s.scalar(newer) is not None


def _related(s: Session, story_id: int) -> list[int]:
    """The story, the story it was merged into (if any), and every story merged into either."""
    root = story_id
    story = s.get(Story, story_id)
    while story is not None and story.status == "merged" and story.merged_into_id:
        root = story.merged_into_id
        story = s.get(Story, root)
    return merged_family(s, root)


# ------------------------------------------------------------------ recording


def _record(db: Database, model: Outgoing, row_id: int, token: datetime, attempts: int, error: SendError | None,
            cfg: AlertSettings, now: datetime, report: SendReport, channel: str) -> None:
    """Write the outcome, if this sender still holds the claim; a digest's outcome goes to its deliveries too."""
    values = _outcome(attempts + 1, error, cfg, now)
    with db.session() as s:
        done = _rowcount(s.execute(update(model).where(model.id == row_id, model.state == "sending",
                                                       model.claimed_until == token).values(**values)))
        if done != 1:
            log.warning("alert sender lost its claim on %s %d (lease ran out); the new owner records it",
                        model.__tablename__, row_id)
            return
        if model is Digest:
            s.execute(update(Delivery).where(Delivery.digest_id == row_id).values(
                state=values["state"], attempts=values["attempts"], last_error=values["last_error"],
                sent_at=values.get("sent_at")))
    _count(values["state"], f"{channel} ({model.__tablename__} {row_id})", error, report)


def _outcome(attempts: int, error: SendError | None, cfg: AlertSettings, now: datetime) -> dict[str, Any]:
    """The row's new state: sent, failed for good, or pending again after a backoff."""
    base: dict[str, Any] = {"attempts": attempts, "claimed_until": None}
    if error is None:
        return {**base, "state": "sent", "sent_at": now, "last_error": None}
    if error.permanent or attempts >= cfg.delivery.max_attempts:
        return {**base, "state": "failed", "last_error": str(error)}
    backoff = min(cfg.delivery.backoff_seconds * 2 ** (attempts - 1), cfg.delivery.max_backoff_seconds)
    # a receiver's Retry-After wins, within our longest backoff: a bad header must not park it for years
    wait = backoff if error.retry_after is None else min(error.retry_after, max(cfg.delivery.max_backoff_seconds, 1))
    return {**base, "state": "pending", "next_try_at": now + timedelta(seconds=wait), "last_error": str(error)}


def _count(state: str, label: str, error: SendError | None, report: SendReport) -> None:
    if state == "sent":
        report.sent += 1
        return
    report.errors.append(f"{label}: {error}")
    if state == "failed":
        report.failed += 1
        log.error("alert %s failed for good: %s", label, error)
    else:
        report.retrying += 1


def requeue_failed(db: Database, channel: str | None = None, now: datetime | None = None) -> int:
    """Give failed deliveries (and digests) a fresh set of attempts, e.g. after a password was fixed;
    returns how many deliveries will be tried again."""
    now = now or utcnow()
    again = {"state": "pending", "attempts": 0, "next_try_at": now, "claimed_until": None}
    with db.session() as s:
        digests = update(Digest).where(Digest.state == "failed")
        deliveries = update(Delivery).where(Delivery.state == "failed")
        if channel is not None:
            digests, deliveries = digests.where(Digest.channel == channel), deliveries.where(Delivery.channel == channel)
        s.execute(digests.values(**again))
        return _rowcount(s.execute(deliveries.values(**again)))


def _rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE changed: the compare-and-set's answer (an UPDATE's result is a CursorResult)."""
    return int(cast("CursorResult[Any]", result).rowcount)
