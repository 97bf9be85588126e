"""The apprise channel against real receivers on 127.0.0.1 (apprise's json:// and ntfy:// schemes):
the message that arrives, one per alert, digests and the rate limit through the same outbox, and
apprise's failures mapped to the outbox's retry and permanent failure."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts.outbox import requeue_failed, send_due
from alerts.render import render
from spreadwatch.localserver import LocalServer, Request, Response
from spreadwatch.settings import ConfigError
from storage import Database, utcnow
from tests.alerts.replayed import KOSOVO, POLITICO, deliveries, ingest_story, settings_with, story_drafts, story_of

BASE = "https://spreadwatch.example.org"


def receiver(server: LocalServer, path: str, *answers: Response) -> list[Request]:
    """The answers in turn (the last one from then on); every request kept."""
    seen: list[Request] = []

    def handle(req: Request) -> Response:
        seen.append(req)
        return answers[min(len(seen), len(answers)) - 1]
    server.route(path, handle)
    return seen


def apprise_channel(monkeypatch: pytest.MonkeyPatch, url: str, **kw: Any) -> dict[str, Any]:
    monkeypatch.setenv("SW_TEST_APPRISE_URL", url)
    return {"name": "chat", "type": "apprise", "url_env": "SW_TEST_APPRISE_URL", "rate_per_minute": 100,
            "timeout_seconds": 5, **kw}


def json_url(server: LocalServer, path: str) -> str:
    return server.base_url.replace("http://", "json://") + path


def test_json_scheme_gets_one_markdown_message_per_alert(server: LocalServer, db_url: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    seen = receiver(server, "/notify", Response(200, b"ok"))
    settings = settings_with(db_url, [apprise_channel(monkeypatch, json_url(server, "/notify"))], base_url=BASE)
    db = Database(db_url)
    ingest_story(db, settings, KOSOVO, upto=5)
    assert send_due(db, settings).sent == 1
    assert send_due(db, settings).sent == 0  # sent once
    assert len(seen) == 1 and seen[0].headers["content-type"] == "application/json"
    body = json.loads(seen[0].body)
    assert body["title"] == ("Spreading: 'Europa in Sorge: Geheimdienste rechnen mit Abzug der US-Truppen' "
                             "— 5 outlets in 2 h (de→sq)")
    text = body["message"]
    assert text.startswith("- spreading: reached 5 outlets within 24 h")
    assert "Origin: **Bild** (de) [Europa in Sorge: Geheimdienste rechnen mit Abzug der US\\-Truppen]" in text
    for _, draft in story_drafts(KOSOVO)[:5]:
        assert f"]({draft.url})" in text  # each article a Markdown link
    story = story_of(db, "https://www.bild.de/bild-geheimdienste-abzug/")
    assert text.rstrip().endswith(f"[Open the story]({BASE}/stories/{story})")
    assert deliveries(db) == [("chat", "superseded", 0), ("chat", "sent", 1)]  # level 3 waited behind 5


def test_ntfy_scheme_gets_the_digest_of_two_stories(server: LocalServer, sqlite_url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    seen = receiver(server, "/", Response(200, b'{"id": "m1"}', {"Content-Type": "application/json"}))
    url = server.base_url.replace("http://", "ntfy://") + "/newsroom-alerts"
    chan = apprise_channel(monkeypatch, url, digest_minutes=60)
    settings = settings_with(sqlite_url, [chan], rules=[{"name": "spreading"}])
    db = Database(sqlite_url)
    now = utcnow()
    ingest_story(db, settings, KOSOVO, upto=5, now=now)
    ingest_story(db, settings, POLITICO, upto=3, now=now)
    report = send_due(db, settings, now=now + timedelta(hours=1, minutes=1))
    assert (report.sent, report.digests) == (1, 1)
    assert len(seen) == 1
    body = json.loads(seen[0].body)  # ntfy's JSON publishing: the topic rides in the body
    assert body["topic"] == "newsroom-alerts" and body["title"].startswith("Digest: 2 stories — 'Europa in Sorge")
    assert body["message"].count("### ") == 2 and "reached 3 → 5 outlets" in body["message"]


def test_a_5xx_is_retried_and_the_message_goes_out_once(server: LocalServer, sqlite_url: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    seen = receiver(server, "/notify", Response(503, b"busy"), Response(500, b"oops"), Response(200, b"ok"))
    chan = apprise_channel(monkeypatch, json_url(server, "/notify"))
    settings = settings_with(sqlite_url, [chan], backoff_seconds=0, max_backoff_seconds=0)
    db = Database(sqlite_url)
    ingest_story(db, settings, KOSOVO, upto=3)
    first, second, third = (send_due(db, settings) for _ in range(3))
    assert (first.retrying, second.retrying, third.sent) == (1, 1, 1)
    assert "error=503" in first.errors[0] and "error=500" in second.errors[0]
    assert "127.0.0.1" not in first.errors[0]  # the error names the scheme and the variable, never the URL
    assert "apprise json:// ($SW_TEST_APPRISE_URL): failure" in first.errors[0]
    assert len(seen) == 3 and len({r.body for r in seen}) == 1
    assert deliveries(db) == [("chat", "sent", 3)]


def test_a_4xx_and_an_unusable_url_fail_at_once_and_can_be_retried(server: LocalServer, sqlite_url: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    seen = receiver(server, "/notify", Response(404, b"no such hook"), Response(200, b"ok"))
    chan = apprise_channel(monkeypatch, "nosuchservice://token@127.0.0.1/x")
    settings = settings_with(sqlite_url, [chan])
    db = Database(sqlite_url)
    ingest_story(db, settings, KOSOVO, upto=3)
    report = send_due(db, settings)
    assert report.failed == 1 and "not a URL apprise can use" in report.errors[0]
    assert "token" not in report.errors[0]
    monkeypatch.setenv("SW_TEST_APPRISE_URL", json_url(server, "/notify"))  # fixed, but the hook is wrong
    assert requeue_failed(db) == 1
    report = send_due(db, settings)
    assert report.failed == 1 and "error=404" in report.errors[0]
    assert requeue_failed(db, "chat") == 1  # the receiver is fixed too
    assert send_due(db, settings).sent == 1
    assert len(seen) == 2 and deliveries(db) == [("chat", "sent", 1)]


def test_a_receiver_that_hangs_or_refuses_is_retried(server: LocalServer, sqlite_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from alerts.sinks import free_port

    seen = receiver(server, "/notify", Response(200, b"late", delay=4), Response(200, b"ok"))
    chan = apprise_channel(monkeypatch, f"json://127.0.0.1:{free_port()}/nobody", timeout_seconds=1)
    settings = settings_with(sqlite_url, [chan], backoff_seconds=0, max_backoff_seconds=0)
    db = Database(sqlite_url)
    ingest_story(db, settings, KOSOVO, upto=3)
    refused = send_due(db, settings)
    assert refused.retrying == 1 and "connection error" in refused.errors[0].lower()
    monkeypatch.setenv("SW_TEST_APPRISE_URL", json_url(server, "/notify"))
    hung = send_due(db, settings)
    assert hung.retrying == 1 and "timeout" in hung.errors[0]
    assert send_due(db, settings).sent == 1
    assert deliveries(db) == [("chat", "sent", 3)]


def test_the_rate_limit_holds_for_apprise_as_for_any_channel(server: LocalServer, sqlite_url: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    seen = receiver(server, "/notify", Response(200, b"ok"))
    chan = apprise_channel(monkeypatch, json_url(server, "/notify"), rate_per_minute=1)
    settings = settings_with(sqlite_url, [chan])
    db = Database(sqlite_url)
    ingest_story(db, settings, KOSOVO, upto=3)
    ingest_story(db, settings, POLITICO, upto=3)
    t0 = utcnow()
    first = send_due(db, settings, now=t0)
    assert (first.sent, first.deferred) == (1, 1) and len(seen) == 1
    assert send_due(db, settings, now=t0 + timedelta(seconds=61)).sent == 1 and len(seen) == 2


def test_apprise_channels_take_their_url_from_the_environment(sqlite_url: str) -> None:
    from alerts.config import alert_settings

    for chan, wrong in (({"name": "chat", "type": "apprise"}, "url_env"),
                        ({"name": "chat", "type": "apprise", "url": "tgram://secret/1"}, "url_env"),
                        ({"name": "chat", "type": "apprise", "url_env": "X", "format": "rtf"}, "format")):
        with pytest.raises(ConfigError, match=wrong):
            alert_settings(settings_with(sqlite_url, [chan]))


def test_markdown_escapes_scraped_text() -> None:
    hostile = "[click](javascript:alert(1)) **bold** <img src=x> # heading"
    entry = {"id": 1, "outlet": "x_y", "outlet_name": "X *Y*", "outlet_kind": "media", "language": "sq",
             "url": "https://example.org/a (1)", "title": hostile, "published_at": None,
             "first_seen_at": "2025-02-19T06:00:00Z", "delay_seconds": 0, "source_outlet": None, "kind": "origin"}
    history = {"story": {"id": 7, "title": hostile, "outlet_count": 1}, "origin": entry, "articles": [entry]}
    alert = {"rule": "spreading", "kind": "outlets", "levels": ["3"], "window_hours": 24}
    md = render(alert, history).markdown
    assert "\\[click\\]\\(javascript:alert\\(1\\)\\) \\*\\*bold\\*\\* \\<img src=x\\> \\# heading" in md
    assert "](https://example.org/a%20%281%29)" in md and "**X \\*Y\\***" in md
    assert "](javascript" not in md


def test_alerts_test_checks_an_apprise_channel_from_the_command_line(server: LocalServer, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    import yaml

    seen = receiver(server, "/notify", Response(200, b"ok"))
    channel = {"name": "chat", "type": "apprise", "url_env": "SW_TEST_CLI_APPRISE"}
    cfg = tmp_path / "my.yaml"
    cfg.write_text(yaml.safe_dump({"database_url": f"sqlite:///{tmp_path / 'x.db'}",
                                   "alerts": {"channels": [channel]}}), encoding="utf-8")

    def run(url: str | None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "SW_TEST_CLI_APPRISE"}
        env.update({"SW_TEST_CLI_APPRISE": url} if url else {})
        return subprocess.run([sys.executable, "-m", "spreadwatch", "alerts", "test", "--channel", "chat",
                               "--config", str(cfg)], capture_output=True, text=True, timeout=120, env=env)

    ok = run(json_url(server, "/notify"))
    assert ok.returncode == 0 and ok.stdout.strip() == "channel chat: test message sent", ok.stderr
    assert json.loads(seen[0].body)["title"] == "spreadwatch test: channel chat"
    assert "if you read it, the channel works" in json.loads(seen[0].body)["message"]
    unset = run(None)
    assert unset.returncode == 1 and "environment variable SW_TEST_CLI_APPRISE is not set" in unset.stderr
