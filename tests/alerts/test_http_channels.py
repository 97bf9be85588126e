"""Slack and generic webhook alerts against a real HTTP server on 127.0.0.1: the JSON that arrives,
and 429 with Retry-After, 500, timeouts and permanent refusals."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from email.utils import format_datetime

from sqlalchemy import select

from alerts.channels import retry_after
from alerts.outbox import send_due
from spreadwatch.localserver import LocalServer, Request, Response
from storage import Database, Delivery, utcnow
from tests.alerts.replayed import KOSOVO, deliveries, ingest_story, settings_with, story_drafts, story_of

BASE = "https://spreadwatch.example.org"


def answering(*answers: Response) -> tuple[list[Request], object]:
    """A handler that gives these answers in turn (the last one from then on) and keeps each request."""
    seen: list[Request] = []

    def handler(req: Request) -> Response:
        seen.append(req)
        return answers[min(len(seen), len(answers)) - 1]
    return seen, handler


def test_slack_gets_a_compact_block_kit_message_with_the_same_content(server: LocalServer, db_url: str) -> None:
    seen, handler = answering(Response(200, b"ok"))
    server.route("/slack", handler)  # type: ignore[arg-type]
    chan = {"name": "team", "type": "slack", "url": server.url("/slack"), "rate_per_minute": 100}
    settings = settings_with(db_url, [chan], base_url=BASE)
    db = Database(db_url)
    ingest_story(db, settings, KOSOVO, upto=5)
    assert send_due(db, settings).sent == 1
    assert len(seen) == 1 and seen[0].headers["content-type"] == "application/json"
    body = json.loads(seen[0].body)
    subject = "Spreading: 'Europa in Sorge: Geheimdienste rechnen mit Abzug der US-Truppen' — 5 outlets in 2 h (de→sq)"
    assert body["text"] == subject and body["unfurl_links"] is False
    header, section = body["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": subject}}
    text = section["text"]["text"]
    assert section["text"]["type"] == "mrkdwn" and len(text) <= 3000
    assert "spreading: reached 5 outlets within 24 h" in text and "Origin: *Bild* (de)" in text
    for _, draft in story_drafts(KOSOVO)[:5]:
        assert f"<{draft.url}|" in text
    assert re.search(r"Matched terms: .*Abzug", text)
    assert f"<{BASE}/stories/{story_of(db, 'https://www.bild.de/bild-geheimdienste-abzug/')}|Open the story>" in text


def test_slack_429_500_and_timeout_are_retried_then_delivered_once(server: LocalServer, sqlite_url: str) -> None:
    seen, handler = answering(Response(429, b"slow down", {"Retry-After": "120"}), Response(500, b"oops"),
                              Response(200, b"ok", delay=3), Response(200, b"ok"))
    server.route("/slack", handler)  # type: ignore[arg-type]
    chan = {"name": "team", "type": "slack", "url": server.url("/slack"), "timeout_seconds": 1,
            "rate_per_minute": 100}
    settings = settings_with(sqlite_url, [chan], backoff_seconds=0, max_backoff_seconds=3600)
    db = Database(sqlite_url)
    ingest_story(db, settings, KOSOVO, upto=3)
    t0 = utcnow()
    first = send_due(db, settings, now=t0)
    assert first.retrying == 1 and "HTTP 429" in first.errors[0]
    with db.session() as s:  # Slack said when to come back, and we will
        assert s.scalar(select(Delivery.next_try_at)) == t0 + timedelta(seconds=120)
    assert send_due(db, settings, now=t0 + timedelta(seconds=60)).sent == 0 and len(seen) == 1
    results = [send_due(db, settings, now=t0 + timedelta(seconds=121 + i)) for i in range(4)]
    assert [r.sent for r in results] == [0, 0, 1, 0]
    assert "HTTP 500" in results[0].errors[0] and "Timeout" in results[1].errors[0]
    assert len(seen) == 4 and len({r.body for r in seen}) == 1  # the same message each time
    assert deliveries(db) == [("team", "sent", 4)]


def test_slack_refusing_the_payload_fails_at_once_with_its_reason(server: LocalServer, sqlite_url: str) -> None:
    seen, handler = answering(Response(404, b"no_service"))
    server.route("/slack", handler)  # type: ignore[arg-type]
    settings = settings_with(sqlite_url, [{"name": "team", "type": "slack", "url": server.url("/slack")}])
    db = Database(sqlite_url)
    ingest_story(db, settings, KOSOVO, upto=3)
    report = send_due(db, settings)
    assert report.failed == 1 and "HTTP 404 no_service" in report.errors[0]
    assert deliveries(db) == [("team", "failed", 1)] and len(seen) == 1


def test_webhook_gets_the_alert_and_story_as_json_with_a_stable_idempotency_key(
        server: LocalServer, db_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seen, handler = answering(Response(503, b"busy"), Response(200, b""))
    server.route("/hook", handler)  # type: ignore[arg-type]
    monkeypatch.setenv("SW_TEST_HOOK_URL", server.url("/hook"))
    settings = settings_with(db_url, [{"name": "hook", "type": "webhook", "url_env": "SW_TEST_HOOK_URL"}])
    db = Database(db_url)
    ingest_story(db, settings, KOSOVO, upto=3)
    assert send_due(db, settings).retrying == 1
    assert send_due(db, settings).sent == 1
    assert len(seen) == 2
    keys = {r.headers["idempotency-key"] for r in seen}
    assert len(keys) == 1 and re.fullmatch(r"spreadwatch-delivery-\d+-[0-9a-f]{16}", keys.pop())
    body = json.loads(seen[1].body)
    assert body["alert"]["rule"] == "spreading" and body["alert"]["level"] == "3" and body["alert"]["kind"] == "outlets"
    assert body["story"]["origin"]["url"] == "https://www.bild.de/bild-geheimdienste-abzug/"
    assert [a["url"] for a in body["story"]["articles"]] == [d.url for _, d in story_drafts(KOSOVO)[:3]]
    assert body["subject"].startswith("Spreading: 'Europa in Sorge") and "Timeline:" in body["text"]
    assert body["terms"] and all(isinstance(t, str) for t in body["terms"])


def test_a_webhook_url_variable_that_is_not_set_is_named(server: LocalServer, sqlite_url: str,
                                                         monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("SW_TEST_UNSET_HOOK", raising=False)
    settings = settings_with(sqlite_url, [{"name": "hook", "type": "webhook", "url_env": "SW_TEST_UNSET_HOOK"}])
    db = Database(sqlite_url)
    ingest_story(db, settings, KOSOVO, upto=3)
    report = send_due(db, settings)
    assert report.retrying == 1 and "environment variable SW_TEST_UNSET_HOOK is not set" in report.errors[0]
    assert server.requests == []


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("120") == 120 and retry_after(" 1.5 ") == 1.5
    assert retry_after(None) is None and retry_after("soon") is None and retry_after("nan") is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # a date in the past: now
    ahead = retry_after(format_datetime(utcnow() + timedelta(minutes=10), usegmt=True))
    assert ahead is not None and 500 < ahead <= 600
