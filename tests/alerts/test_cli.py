"""`spreadwatch alerts`, `alerts send`, `alerts retry` and `alerts test` as users run them: real
processes, a real SMTP server and a real webhook receiver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from alerts.outbox import send_due
from alerts.sinks import SMTPSink, free_port
from spreadwatch.localserver import LocalServer, Response
from storage import Database
from tests.alerts.replayed import KOSOVO, body, deliveries, email_channel, ingest_story, settings_with


def spreadwatch(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spreadwatch", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})  # a wide table: one line per alert


def config_file(tmp_path: Path, db_url: str, channels: list[dict]) -> Path:  # type: ignore[type-arg]
    path = tmp_path / "my.yaml"
    alerts = {"channels": channels, "rules": [{"name": "spreading"}],
              "delivery": {"backoff_seconds": 0, "max_attempts": 1}}
    path.write_text(yaml.safe_dump({"database_url": db_url, "alerts": alerts}), encoding="utf-8")
    return path


def test_alerts_lists_each_alert_with_its_delivery_state(tmp_path: Path, sqlite_url: str) -> None:
    with SMTPSink() as sink:
        channels = [email_channel(sink.port)]
        settings = settings_with(sqlite_url, channels)
        db = Database(sqlite_url)
        ingest_story(db, settings, KOSOVO, upto=5)
        send_due(db, settings)
        cfg = config_file(tmp_path, sqlite_url, channels)
        rows = json.loads(spreadwatch("alerts", "--json", config=cfg).stdout)
        assert [(r["rule"], r["level"], r["superseded"]) for r in rows] == [("spreading", "5", False),
                                                                           ("spreading", "3", False)]
        assert rows[0]["story_title"] == "Europa in Sorge: Geheimdienste rechnen mit Abzug der US-Truppen"
        assert [(d["channel"], d["state"], d["attempts"], d["digest_id"]) for d in rows[0]["deliveries"]] == \
            [("desk", "sent", 1, None)]
        assert rows[1]["deliveries"][0]["state"] == "superseded"
        table = spreadwatch("alerts", config=cfg)
        assert table.returncode == 0 and "desk: sent" in table.stdout and "desk: superseded" in table.stdout


def test_alerts_send_and_retry_from_the_command_line(tmp_path: Path, sqlite_url: str) -> None:
    port = free_port()
    channels = [email_channel(port)]
    db = Database(sqlite_url)
    ingest_story(db, settings_with(sqlite_url, channels), KOSOVO, upto=3)
    cfg = config_file(tmp_path, sqlite_url, channels)
    down = spreadwatch("alerts", "send", config=cfg)  # nobody listens: one attempt allowed, so failed
    assert "sent 0" in down.stdout and "failed 1" in down.stdout and "ConnectionRefused" in down.stderr
    assert deliveries(db) == [("desk", "failed", 1)]
    with SMTPSink(port=port) as sink:
        again = spreadwatch("alerts", "retry", "--channel", "desk", config=cfg)
        assert again.stdout.startswith("1 failed deliveries will be tried again")
        sent = spreadwatch("alerts", "send", config=cfg)
        assert sent.stdout.startswith("sent 1 (0 digests carrying 0 alerts)") and len(sink.messages) == 1
    assert deliveries(db) == [("desk", "sent", 1)]


def test_alerts_test_sends_on_email_and_slack_and_says_what_failed(tmp_path: Path, server: LocalServer) -> None:
    server.route("/hook", lambda req: Response(200, b"ok"))
    with SMTPSink() as sink:
        channels = [email_channel(sink.port), {"name": "team", "type": "slack", "url": server.url("/hook")},
                    email_channel(free_port(), name="nowhere")]
        cfg = config_file(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", channels)
        mail = spreadwatch("alerts", "test", "--channel", "desk", config=cfg)
        assert mail.returncode == 0 and mail.stdout.strip() == "channel desk: test message sent"
        assert [m["Subject"] for m in sink.messages] == ["spreadwatch test: channel desk"]
        assert "if you read it, the channel works" in body(sink.messages[0], "plain")
        slack = spreadwatch("alerts", "test", "--channel", "team", config=cfg)
        assert slack.returncode == 0
        payload = json.loads(server.hits("/hook")[0].body)
        assert payload["text"] == "spreadwatch test: channel team" and payload["blocks"][0]["type"] == "section"
        down = spreadwatch("alerts", "test", "--channel", "nowhere", config=cfg)
        assert down.returncode == 1 and "channel nowhere: SMTP 127.0.0.1:" in down.stderr
        assert "ConnectionRefused" in down.stderr
        unknown = spreadwatch("alerts", "test", "--channel", "nope", config=cfg)
        assert unknown.returncode == 2 and "no alerts channel named 'nope' (desk, team, nowhere)" in unknown.stderr
