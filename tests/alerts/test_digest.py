"""Digest mode: one message per channel and interval that says what each story did, with the
outbox's promises kept: nothing lost, nothing doubled, two senders make one digest, a sender killed
mid-send is taken over and the resend carries the same Message-ID."""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select

from alerts.digest import period_end
from alerts.outbox import SendReport, requeue_failed, send_due
from alerts.render import SLACK_MAX_BLOCKS, StoryNews, render_digest
from alerts.sinks import SMTPSink, free_port
from spreadwatch.localserver import LocalServer, Request, Response
from spreadwatch.settings import Settings
from storage import Database, Delivery
from storage.models import Digest
from tests.alerts.replayed import (
    body,
    KOSOVO,
    POLITICO,
    email_channel,
    ingest_story,
    kill_sender_mid_send,
    settings_with,
    story_drafts,
)

SEEN = datetime(2025, 2, 19, 12, 10, tzinfo=timezone.utc)  # when spreadwatch saw the articles
HOUR = timedelta(hours=1)
RULES = [{"name": "spreading"}, {"name": "new-language", "kind": "languages"}]


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2025, 2, 19, hh, mm, ss, tzinfo=timezone.utc)


def digest_channel(port: int, **kw: Any) -> dict[str, Any]:
    return email_channel(port, digest_minutes=60, **kw)


def two_stories(db_url: str, channels: list[dict[str, Any]], **delivery: Any) -> tuple[Database, Settings]:
    """Kosovo reaches 3 then 5 outlets and Albanian; Politico reaches 3 outlets and Albanian: 5 alerts
    and so 5 deliveries per channel."""
    settings = settings_with(db_url, channels, rules=RULES, **delivery)
    db = Database(db_url)
    ingest_story(db, settings, KOSOVO, upto=5, now=SEEN)
    ingest_story(db, settings, POLITICO, upto=3, now=SEEN)
    with db.session() as s:
        assert s.scalar(select(func.count(Delivery.id))) == 5 * len(channels)
    return db, settings


def states(db: Database) -> list[tuple[str, int | None, int]]:
    with db.session() as s:
        return [(d.state, d.digest_id, d.attempts) for d in s.scalars(select(Delivery).order_by(Delivery.id))]


def test_interval_boundaries_are_aligned_and_exact() -> None:
    assert period_end(at(12, 59, 59), 60) == at(12, 0) and period_end(at(13, 0), 60) == at(13, 0)
    assert period_end(at(13, 7, 30), 15) == at(13, 0) and period_end(at(13, 17), 15) == at(13, 15)
    assert period_end(at(13, 59), 1440) == datetime(2025, 2, 19, tzinfo=timezone.utc)


def test_one_message_per_interval_says_what_each_story_did(db_url: str) -> None:
    with SMTPSink() as sink:
        db, settings = two_stories(db_url, [digest_channel(sink.port)])
        quiet = send_due(db, settings, now=at(12, 30))
        assert quiet.sent == 0 and sink.messages == []  # the interval has not ended: the alerts wait
        report = send_due(db, settings, now=at(13, 0, 30))
        assert (report.sent, report.digests, report.digested) == (1, 1, 5)
        assert len(sink.messages) == 1
        msg = sink.messages[0]
        assert msg["Subject"] == ("Digest: 2 stories — 'Europa in Sorge: Geheimdienste rechnen mit Abzug…' "
                                  "5 outlets; 'US presses NATO for a reset, including a smaller…' 3 outlets")
        assert re.fullmatch(r"<spreadwatch-digest-\d+-[0-9a-f]{16}@localhost>", msg["Message-ID"])
        plain = body(msg, "plain")
        html = body(msg, "html")
        kosovo, politico = plain.index("Spreading: 'Europa in Sorge"), plain.index("Spreading: 'US presses NATO")
        assert kosovo < politico  # the wider story first
        assert plain[kosovo:politico].count("spreading: reached 3 → 5 outlets within 24 h") == 1
        assert "new-language: crossed into a new language: sq" in plain[kosovo:politico]
        assert "spreading: reached 3 outlets within 24 h" in plain[politico:]
        for story, n in ((KOSOVO, 5), (POLITICO, 3)):
            for _, draft in story_drafts(story)[:n]:
                assert draft.url in plain and f'href="{draft.url}"' in html
        with db.session() as s:
            digest = s.scalars(select(Digest)).one()
        assert (digest.state, digest.period_end, digest.attempts) == ("sent", at(13, 0), 1)
        assert states(db) == [("sent", digest.id, 1)] * 5  # every alert, in exactly this digest
        assert send_due(db, settings, now=at(13, 30)).sent == 0


def test_alerts_after_the_intervals_digest_wait_for_the_next_one(db_url: str) -> None:
    with SMTPSink() as sink:
        db, settings = two_stories(db_url, [digest_channel(sink.port)])
        assert send_due(db, settings, now=at(13, 0, 30)).digests == 1
        # an article seen at 12:55 whose transaction committed only now: its interval's digest is gone
        ingest_story(db, settings, KOSOVO, start=5, upto=10, now=at(12, 55))
        late = send_due(db, settings, now=at(13, 1))
        assert late.sent == 0 and states(db)[-1] == ("pending", None, 0)
        nxt = send_due(db, settings, now=at(14, 0, 5))
        assert (nxt.sent, nxt.digested) == (1, 1)
        assert len(sink.messages) == 2 and "reached 10 outlets" in body(sink.messages[1], "plain")
        with db.session() as s:
            assert sorted(s.scalars(select(Digest.period_end))) == [at(13, 0), at(14, 0)]
        assert [st for st, _, _ in states(db)] == ["sent"] * 6
        assert send_due(db, settings, now=at(15, 0, 5)).sent == 0  # quiet: no empty digest


def test_two_senders_at_the_boundary_make_one_digest(db_url: str) -> None:
    with SMTPSink() as sink:
        _, settings = two_stories(db_url, [digest_channel(sink.port)])
        barrier, reports = threading.Barrier(3), []

        def sender() -> None:
            db = Database(db_url, migrate=False)
            barrier.wait(timeout=30)
            reports.append(send_due(db, settings, now=at(13, 0, 30)))
            db.dispose()
        threads = [threading.Thread(target=sender) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert len(reports) == 3 and sum(r.sent for r in reports) == 1 and len(sink.messages) == 1
        db = Database(db_url, migrate=False)
        with db.session() as s:
            assert s.scalar(select(func.count(Digest.id))) == 1
        assert [st for st, _, _ in states(db)] == ["sent"] * 5


def test_a_sender_killed_mid_digest_is_taken_over_with_the_same_message_id(db_url: str) -> None:
    with SMTPSink() as sink:
        channels = [digest_channel(sink.port, timeout_seconds=30)]
        db, settings = two_stories(db_url, channels)
        kill_sender_mid_send(sink, db_url, channels, at(13, 0, 30).isoformat())
        with db.session() as s:
            assert s.scalar(select(Digest.state)) == "sending"
        assert send_due(db, settings, now=at(13, 0, 45)).sent == 0  # the lease holds
        assert send_due(db, settings, now=at(13, 1, 1)).sent == 1
        assert len(sink.messages) == 2 and sink.messages[0]["Message-ID"] == sink.messages[1]["Message-ID"]
        assert [(st, n) for st, _, n in states(db)] == [("sent", 1)] * 5


def test_a_failing_digest_is_retried_fails_visibly_and_can_be_retried(sqlite_url: str) -> None:
    port = free_port()
    db, settings = two_stories(sqlite_url, [digest_channel(port)], max_attempts=2)
    first = send_due(db, settings, now=at(13, 0, 30))
    assert first.retrying == 1 and "ConnectionRefused" in first.errors[0]
    assert states(db)[0][0] == "pending" and "ConnectionRefused" in _last_error(db)
    assert send_due(db, settings, now=at(13, 1)).failed == 1
    assert [st for st, _, _ in states(db)] == ["failed"] * 5  # the digest's fate is its alerts' fate
    with SMTPSink(port=port) as sink:
        assert requeue_failed(db, "desk", now=at(13, 2)) == 5
        assert send_due(db, settings, now=at(13, 2)).digests == 1
        assert len(sink.messages) == 1
    assert [st for st, _, _ in states(db)] == ["sent"] * 5


def _last_error(db: Database) -> str:
    with db.session() as s:
        return s.scalar(select(Delivery.last_error).limit(1)) or ""


def test_slack_and_webhook_digests(server: LocalServer, sqlite_url: str) -> None:
    got: dict[str, list[Request]] = {"/slack": [], "/hook": []}

    def keep(req: Request) -> Response:
        got[req.path].append(req)
        return Response(200, b"ok")
    server.route("/slack", keep)
    server.route("/hook", keep)
    channels = [{"name": "team", "type": "slack", "url": server.url("/slack"), "digest_minutes": 60},
                {"name": "hook", "type": "webhook", "url": server.url("/hook"), "digest_minutes": 60}]
    db, settings = two_stories(sqlite_url, channels)
    report = send_due(db, settings, now=at(13, 0, 30))
    assert (report.sent, report.digests, report.digested) == (2, 2, 10)
    slack = json.loads(got["/slack"][0].body)
    assert slack["text"].startswith("Digest: 2 stories") and len(slack["blocks"]) == 3
    assert "*Spreading: 'Europa in Sorge" in slack["blocks"][1]["text"]["text"]
    assert "reached 3 → 5 outlets" in slack["blocks"][1]["text"]["text"]
    hook = json.loads(got["/hook"][0].body)
    assert hook["digest"]["alerts"] == 5 and hook["digest"]["period_end"] == "2025-02-19T13:00+00:00"
    assert [len(s["alerts"]) for s in hook["stories"]] == [2, 2]  # per story: spreading, new-language
    assert {a["rule"]: a["levels"] for a in hook["stories"][0]["alerts"]} == {"spreading": ["3", "5"],
                                                                             "new-language": ["sq"]}
    assert re.fullmatch(r"spreadwatch-digest-\d+-[0-9a-f]{16}", got["/hook"][0].headers["idempotency-key"])


def test_a_slack_digest_of_many_stories_stays_within_slacks_block_limit() -> None:
    def news(i: int) -> StoryNews:
        origin = {"id": i, "outlet": "o", "outlet_name": "O", "language": "en", "url": f"https://e.org/{i}",
                  "title": f"Story {i}", "published_at": None, "first_seen_at": "2025-02-19T12:00",
                  "delay_seconds": 0, "source_outlet": None, "kind": "origin"}
        history = {"story": {"id": i, "title": f"Story {i}", "outlet_count": 3}, "origin": origin,
                   "articles": [origin] * 3}
        return StoryNews(history, [{"rule": "spreading", "kind": "outlets", "levels": ["3"]}], ["kfor"])
    message = render_digest([news(i) for i in range(80)], "2025-02-19T13:00+00:00")
    assert len(message.blocks) == SLACK_MAX_BLOCKS
    assert message.blocks[-1]["text"]["text"].startswith("… and 32 more stories")
    assert message.text.count("Spreading: 'Story ") == 80  # the email carries every story
    assert message.subject == "Digest: 80 stories — 'Story 0' 3 outlets; 'Story 1' 3 outlets and 78 more"
