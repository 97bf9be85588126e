"""The outbox's promises with real peers, on SQLite and PostgreSQL: exactly once with two senders,
after a sender died, with alert creation racing in two processes; the rate limit under a burst,
also with two senders; deliveries for a channel that is gone wait instead of vanishing."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from alerts.outbox import SendReport, send_due
from alerts.sinks import SMTPSink
from storage import Alert, Database, Delivery, utcnow
from tests.alerts.replayed import (
    KOSOVO,
    POLITICO,
    deliveries,
    email_channel,
    evaluate_first,
    evaluate_second,
    ingest_story,
    settings_with,
    spawn,
    story_of,
)

BURST_RULES = [{"name": f"burst-{i:02}", "levels": [3]} for i in range(15)]  # 15 alerts per story at once


def run_together(n: int, work) -> list:  # type: ignore[no-untyped-def,type-arg]
    """Run `work()` in n threads released at the same moment; their results (bounded waits)."""
    barrier, results = threading.Barrier(n), []

    def one() -> None:
        barrier.wait(timeout=30)
        results.append(work())
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a sender did not finish"
    assert len(results) == n, "a sender raised"
    return results


def test_two_senders_at_once_deliver_once(db_url: str) -> None:
    with SMTPSink() as sink:
        settings = settings_with(db_url, [email_channel(sink.port)])
        ingest_story(Database(db_url), settings, KOSOVO, upto=3)

        def sender() -> SendReport:
            db = Database(db_url, migrate=False)
            try:
                return send_due(db, settings)
            finally:
                db.dispose()
        reports = run_together(3, sender)
        assert sorted(r.sent for r in reports) == [0, 0, 1]
        assert len(sink.messages) == 1
        assert deliveries(Database(db_url, migrate=False)) == [("desk", "sent", 1)]


def test_a_sender_that_died_after_its_claim_is_taken_over_after_the_lease(sqlite_url: str) -> None:
    with SMTPSink() as sink:
        settings = settings_with(sqlite_url, [email_channel(sink.port)])
        db = Database(sqlite_url)
        ingest_story(db, settings, KOSOVO, upto=3)
        with db.session() as s:  # a claim by a process that then died
            s.execute(update(Delivery).values(state="sending", claimed_until=utcnow() + timedelta(seconds=30)))
        assert send_due(db, settings).sent == 0  # the lease still holds
        assert send_due(db, settings, now=utcnow() + timedelta(seconds=31)).sent == 1
        assert len(sink.messages) == 1 and deliveries(db) == [("desk", "sent", 1)]


def test_alert_creation_racing_in_two_processes_writes_each_level_once(db_url: str) -> None:
    """B evaluates while A's alerts are written but not committed. On PostgreSQL B sees none and the
    unique key on (story, rule, level) is what stops the second copy; on SQLite B's transaction waits
    for A's write lock at its start, so it never reads around A at all, and then finds A's alerts."""
    db = Database(db_url)
    ingest_story(db, settings_with(db_url, [email_channel(25)], rules=[]), KOSOVO, upto=5)  # no alerts yet
    story = story_of(db, "https://www.bild.de/bild-geheimdienste-abzug/")
    ctx, now = spawn(), utcnow().isoformat()
    flushed, inserting, go, out = ctx.Event(), ctx.Event(), ctx.Event(), ctx.Queue()
    first = ctx.Process(target=evaluate_first, args=(db_url, story, now, flushed, go, out))
    second = ctx.Process(target=evaluate_second, args=(db_url, story, now, inserting, out))
    first.start()
    try:
        assert flushed.wait(90), "process A did not record its alerts"
        second.start()
        if db_url.startswith("sqlite"):
            assert not inserting.wait(5), "process B wrote while process A held the write lock"
        else:
            assert inserting.wait(90), "process B did not reach its insert"
        go.set()  # A commits while B's insert is on its way (PostgreSQL) or B waits for A (SQLite)
        fired = dict(out.get(timeout=90) for _ in range(2))
    finally:
        go.set()
        for p in (first, second):
            p.join(60)
            if p.is_alive():
                p.kill()
    assert fired == {"first": 1, "second": 0}
    assert first.exitcode == 0 and second.exitcode == 0
    with db.session() as s:
        levels = sorted(s.scalars(select(Alert.level).where(Alert.story_id == story)))
        assert levels == ["3", "5"]
        assert s.scalar(select(func.count(Delivery.id))) == 1  # the level-5 alert, to the one channel


def burst(db_url: str, port: int, rate: int) -> tuple[Database, object]:
    """30 alerts at once: two stories reach three outlets under 15 rules each."""
    settings = settings_with(db_url, [email_channel(port, rate_per_minute=rate)], rules=BURST_RULES)
    db = Database(db_url)
    ingest_story(db, settings, KOSOVO, upto=3)
    ingest_story(db, settings, POLITICO, upto=3)
    with db.session() as s:
        assert s.scalar(select(func.count(Delivery.id)).where(Delivery.state == "pending")) == 30
    return db, settings


def test_a_burst_of_30_alerts_keeps_to_the_rate_and_drops_nothing(db_url: str) -> None:
    with SMTPSink() as sink:
        db, settings = burst(db_url, sink.port, rate=6)
        t0 = utcnow()
        first = send_due(db, settings, now=t0)  # type: ignore[arg-type]
        assert (first.sent, first.deferred, first.failed) == (6, 24, 0)
        assert send_due(db, settings, now=t0 + timedelta(seconds=30)).sent == 0  # type: ignore[arg-type]
        sent_per_minute = [first.sent]
        for minute in range(1, 8):
            if len(sink.messages) == 30:
                break
            sent_per_minute.append(send_due(db, settings, now=t0 + timedelta(seconds=61 * minute)).sent)  # type: ignore[arg-type]
        assert sent_per_minute == [6, 6, 6, 6, 6]
        assert len({m["Message-ID"] for m in sink.messages}) == 30  # each alert once
        with db.session() as s:
            times = sorted(t for t in s.scalars(select(Delivery.sent_at)) if t is not None)
        assert len(times) == 30
        assert max(_in_a_minute(times, t) for t in times) == 6


def _in_a_minute(times: list[datetime], start: datetime) -> int:
    return sum(1 for t in times if start <= t < start + timedelta(minutes=1))


def test_two_senders_together_keep_to_the_rate(db_url: str) -> None:
    with SMTPSink() as sink:
        _, settings = burst(db_url, sink.port, rate=6)
        t0 = utcnow()

        def sender() -> SendReport:
            db = Database(db_url, migrate=False)
            try:
                return send_due(db, settings, now=t0)  # type: ignore[arg-type]
            finally:
                db.dispose()
        reports = run_together(2, sender)
        assert sum(r.sent for r in reports) == 6 and len(sink.messages) == 6
        assert all(r.failed == 0 for r in reports)


def test_deliveries_for_a_channel_that_is_gone_wait_and_are_named(sqlite_url: str) -> None:
    with SMTPSink() as sink:
        old = settings_with(sqlite_url, [email_channel(sink.port), {**email_channel(sink.port), "name": "old-desk"}])
        db = Database(sqlite_url)
        ingest_story(db, old, KOSOVO, upto=3)
        now = settings_with(sqlite_url, [email_channel(sink.port)])  # old-desk was removed from the config
        report = send_due(db, now)
        assert report.sent == 1 and len(sink.messages) == 1
        assert report.errors == ["old-desk: 1 deliveries wait for a channel of this name, which is not configured"]
        assert sorted(deliveries(db)) == [("desk", "sent", 1), ("old-desk", "pending", 0)]
        assert send_due(db, old).sent == 1  # the channel is back: the alert goes out


def test_a_channel_held_by_its_rate_limit_does_not_hold_up_another(sqlite_url: str) -> None:
    with SMTPSink() as sink:
        slow, fast = email_channel(sink.port, rate_per_minute=2), email_channel(sink.port, name="chief")
        settings = settings_with(sqlite_url, [slow, fast], rules=BURST_RULES)
        db = Database(sqlite_url)
        ingest_story(db, settings, KOSOVO, upto=3)  # 15 alerts, each to both channels
        report = send_due(db, settings, limit=10)
        assert (report.sent, report.deferred) == (2 + 10, 8)
        with db.session() as s:
            sent = dict(s.execute(select(Delivery.channel, func.count()).where(Delivery.state == "sent")
                                  .group_by(Delivery.channel)).all())
        assert sent == {"desk": 2, "chief": 10}
