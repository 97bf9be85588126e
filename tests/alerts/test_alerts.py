"""Alerts end to end with real peers: aiosmtpd on 127.0.0.1, a local webhook server, SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from alerts.outbox import send_due
from alerts.sinks import SMTPSink, free_port
from bench.stories_eval import corpus_settings, drafts
from spreadwatch.ingest import ingest
from spreadwatch.localserver import LocalServer, Request, Response
from spreadwatch.replay import load_corpus
from spreadwatch.settings import Settings
from storage import Alert, Database, Delivery, utcnow

FAST = {"max_attempts": 4, "backoff_seconds": 0, "max_backoff_seconds": 0, "lease_seconds": 30}


def settings_with(db_url: str, channels: list[dict], rules: list[dict] | None = None, **delivery: float) -> Settings:
    """Only the outlet-count rule unless told otherwise, so each test knows how many alerts to expect."""
    base = corpus_settings(load_corpus(), db_url)
    return base.with_overrides(alerts={"channels": channels, "delivery": {**FAST, **delivery},
                                       "rules": rules or [{"name": "spreading"}]})


def email_channel(port: int, **kw: object) -> dict:
    return {"name": "desk", "type": "email", "host": "127.0.0.1", "port": port, "from": "sw@localhost",
            "to": ["desk@example.org"], "timeout_seconds": 3, "rate_per_minute": 100, **kw}


def ingest_story(db: Database, settings: Settings, story: str, upto: int | None = None) -> None:
    corpus = load_corpus()
    chosen = [(i, d) for i, d in drafts(corpus) if corpus.article(i).labels.story == story]
    chosen.sort(key=lambda x: corpus.article(x[0]).published)
    for _, d in chosen[:upto]:
        with db.session() as s:
            ingest(s, d, settings)


def deliveries(db: Database) -> list[tuple[str, str, int]]:
    with db.session() as s:
        return [(d.channel, d.state, d.attempts) for d in s.scalars(select(Delivery).order_by(Delivery.id))]


def test_email_alert_has_both_parts_and_says_what_happened(db_url: str) -> None:
    with SMTPSink() as sink:
        rules = [{"name": "spreading"}, {"name": "new-language", "kind": "languages"}]
        settings = settings_with(db_url, [email_channel(sink.port)], rules)
        db = Database(db_url)
        ingest_story(db, settings, "bild-kosovo-withdrawal", upto=4)
        report = send_due(db, settings)
        assert report.sent >= 1 and report.failed == 0
        spreading = [m for m in sink.messages if m["Subject"].startswith("Spreading:")]
        assert len(spreading) == 1
        msg = spreading[0]
        assert "4 outlets" in msg["Subject"] and "(de→sq)" in msg["Subject"]
        assert msg["To"] == "desk@example.org" and msg["Message-ID"]
        plain = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert "Origin: Bild (de)" in plain and "https://www.bild.de/bild-geheimdienste-abzug/" in plain
        assert "Matched terms:" in plain and "Abzug" in plain
        assert "<table" in html and "Telegrafi" in html
        # quiet story: nothing new happens, nothing is sent again
        assert send_due(db, settings).sent == 0


def test_evaluating_twice_alerts_once_and_a_higher_level_alerts_again(db_url: str) -> None:
    settings = settings_with(db_url, [])
    db = Database(db_url)
    ingest_story(db, settings, "bild-kosovo-withdrawal", upto=3)
    with db.session() as s:
        levels = sorted(s.scalars(select(Alert.level).where(Alert.rule == "spreading")))
    assert levels == ["3"]
    ingest_story(db, settings, "bild-kosovo-withdrawal", upto=3)  # the same articles again: nothing
    ingest_story(db, settings, "bild-kosovo-withdrawal", upto=6)  # three more outlets: level 5
    with db.session() as s:
        levels = sorted(s.scalars(select(Alert.level).where(Alert.rule == "spreading")))
        assert s.scalar(select(func.count()).select_from(Alert).where(Alert.rule == "spreading")) == 2
    assert levels == ["3", "5"]


def test_refused_login_is_recorded_and_retried_then_fails_visibly(sqlite_url: str) -> None:
    with SMTPSink(user="spreadwatch", password="right") as sink:
        settings = settings_with(sqlite_url, [email_channel(sink.port, username="spreadwatch",
                                                            password_env="SW_TEST_SMTP_PASSWORD")],
                                 max_attempts=2)
        import os
        os.environ["SW_TEST_SMTP_PASSWORD"] = "wrong"
        db = Database(sqlite_url)
        ingest_story(db, settings, "bild-kosovo-withdrawal", upto=3)
        first = send_due(db, settings)
        assert first.retrying >= 1 and "login refused" in first.errors[0]
        send_due(db, settings)
        assert {state for _, state, _ in deliveries(db)} == {"failed"}
        assert sink.messages == []
        os.environ["SW_TEST_SMTP_PASSWORD"] = "right"


def test_server_down_then_back_delivers_exactly_once(sqlite_url: str) -> None:
    port = free_port()
    settings = settings_with(sqlite_url, [email_channel(port)])
    db = Database(sqlite_url)
    ingest_story(db, settings, "bild-kosovo-withdrawal", upto=3)
    down = send_due(db, settings)  # nobody listens on the port
    assert down.sent == 0 and down.retrying == 1 and "ConnectionRefused" in down.errors[0]
    with SMTPSink(port=port) as sink:
        assert send_due(db, settings).sent == 1
        assert send_due(db, settings).sent == 0
        assert len(sink.messages) == 1
    assert deliveries(db) == [("desk", "sent", 2)]


def test_connection_dropped_mid_message_is_retried_once(sqlite_url: str) -> None:
    with SMTPSink() as sink:
        sink.drop_next = 1
        settings = settings_with(sqlite_url, [email_channel(sink.port)])
        db = Database(sqlite_url)
        ingest_story(db, settings, "bild-kosovo-withdrawal", upto=3)
        assert send_due(db, settings).retrying == 1
        assert send_due(db, settings).sent == 1
        assert len(sink.messages) == 1


def test_slack_429_500_and_timeout_are_retried_then_delivered_once(server: LocalServer, sqlite_url: str) -> None:
    answers = [Response(429, b"slow", {"Retry-After": "0"}), Response(500, b"oops"), Response(200, b"ok", delay=3),
               Response(200, b"ok")]
    bodies: list[bytes] = []

    def hook(req: Request) -> Response:
        bodies.append(req.body)
        return answers[min(len(bodies) - 1, len(answers) - 1)]
    server.route("/hook", hook)
    chan = {"name": "slack", "type": "slack", "url": server.url("/hook"), "timeout_seconds": 1, "rate_per_minute": 100}
    settings = settings_with(sqlite_url, [chan])
    db = Database(sqlite_url)
    ingest_story(db, settings, "bild-kosovo-withdrawal", upto=3)
    results = [send_due(db, settings) for _ in range(5)]
    assert [r.sent for r in results] == [0, 0, 0, 1, 0]
    assert "429" in results[0].errors[0] and "500" in results[1].errors[0] and "Timeout" in results[2].errors[0]
    import json
    payload = json.loads(bodies[-1])
    assert payload["blocks"][0]["type"] == "header" and payload["text"].startswith("Spreading:")
    assert deliveries(db) == [("slack", "sent", 4)]


def test_two_senders_at_once_deliver_once(db_url: str) -> None:
    with SMTPSink() as sink:
        settings = settings_with(db_url, [email_channel(sink.port)])
        Database(db_url)
        ingest_story(Database(db_url, migrate=False), settings, "bild-kosovo-withdrawal", upto=3)
        barrier = threading.Barrier(3)

        def sender() -> None:
            db = Database(db_url, migrate=False)
            barrier.wait(timeout=10)
            send_due(db, settings)
            db.dispose()
        threads = [threading.Thread(target=sender) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        time.sleep(0.2)
        assert len(sink.messages) == 1


def test_a_sender_that_died_mid_claim_is_taken_over_after_its_lease(sqlite_url: str) -> None:
    with SMTPSink() as sink:
        settings = settings_with(sqlite_url, [email_channel(sink.port)])
        db = Database(sqlite_url)
        ingest_story(db, settings, "bild-kosovo-withdrawal", upto=3)
        with db.session() as s:  # a claim by a process that then died
            s.execute(update(Delivery).values(state="sending", claimed_until=utcnow() + timedelta(seconds=30)))
        assert send_due(db, settings).sent == 0  # the lease still holds
        assert send_due(db, settings, now=utcnow() + timedelta(seconds=31)).sent == 1
        assert len(sink.messages) == 1


def test_alerts_test_command_reaches_the_channel(tmp_path, server: LocalServer) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    server.route("/hook", lambda req: Response(200, b"ok"))
    cfg = tmp_path / "alerts.yaml"
    cfg.write_text(f"alerts:\n  channels:\n    - {{name: team, type: slack, url: '{server.url('/hook')}'}}\n")
    proc = subprocess.run([sys.executable, "-m", "spreadwatch", "alerts", "test", "--channel", "team",
                           "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert b"test message from spreadwatch" in server.hits("/hook")[0].body
