"""The alerts section: the example file validates, and bad input is a clear error that names what
to fix, while nothing already stored is touched."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alerts.config import alert_settings
from alerts.outbox import send_due
from spreadwatch.settings import ConfigError, load_settings
from storage import Database
from tests.alerts.replayed import KOSOVO, deliveries, email_channel, ingest_story, settings_with

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "alerts.example.yaml"


def test_the_example_config_validates_with_every_channel_type_and_secrets_from_the_environment() -> None:
    cfg = alert_settings(load_settings(EXAMPLE))
    assert {c.type for c in cfg.channels} == {"email", "slack", "webhook", "apprise"}
    assert [r.name for r in cfg.rules] == ["spreading", "new-language", "denied", "officially-denied", "breaking",
                                           "taking-off", "kfor-early"]
    assert [(r.window_minutes, r.factor) for r in cfg.rules if r.kind == "rate"] == [(60, None), (30, 3)]
    assert any(c.digest_minutes for c in cfg.channels) and any(c.security == "tls" for c in cfg.channels)
    for c in cfg.channels:
        assert c.url is None  # URLs (they hold Slack's secret) come from the environment
        assert (c.password_env is not None) == (c.username is not None)
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))["alerts"]
    assert not any("password" in c for c in raw["channels"])  # only password_env


def write(tmp_path: Path, alerts: dict) -> Path:  # type: ignore[type-arg]
    path = tmp_path / "my.yaml"
    path.write_text(yaml.safe_dump({"alerts": alerts}), encoding="utf-8")
    return path


@pytest.mark.parametrize("alerts, message", [
    ({"channels": [{"name": "desk", "type": "email", "host": "smtp.example.org"}]},
     r"my.yaml:3: alerts.channels\[desk\]: .*needs `to:`"),  # the line of the channel
    ({"channels": [{"name": "desk", "type": "email", "to": ["a@b.org"], "pasword_env": "X"}]},
     r"alerts.channels\[desk\].pasword_env: Extra inputs are not permitted"),
    ({"channels": [{"name": "team", "type": "slack"}]}, r"alerts.channels\[team\]: .*needs `url:` or `url_env:`"),
    ({"channels": [{"name": "team", "type": "teams", "url": "https://x"}]}, r"alerts.channels\[team\].type: Input should be"),
    ({"channels": [{"name": "d", "type": "email", "to": ["a@b.org"], "digest_minutes": 0}]},
     r"alerts.channels\[d\].digest_minutes: Input should be greater than 0"),
    ({"channels": [{"name": "d", "type": "email", "to": ["a@b.org"]}] * 2}, r"duplicate channel name: d"),
    ({"rules": [{"name": "s", "levels": [0, 3]}]}, r"alerts.rules\[s\]: .*levels must be outlet counts of 1 or more"),
    ({"rules": [{"name": "s", "levels": []}]}, r"alerts.rules\[s\].levels: List should have at least 1 item"),
    ({"rules": [{"name": "s", "window_hours": -1}]}, r"alerts.rules\[s\].window_hours: Input should be greater than 0"),
])
def test_bad_input_names_the_file_and_the_key(tmp_path: Path, alerts: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=message):
        alert_settings(load_settings(write(tmp_path, alerts)))


def test_a_broken_config_stops_the_sender_and_leaves_the_outbox_as_it_was(sqlite_url: str) -> None:
    good = settings_with(sqlite_url, [email_channel(25)])
    db = Database(sqlite_url)
    ingest_story(db, good, KOSOVO, upto=3)
    before = deliveries(db)
    broken = good.with_overrides(alerts={"channels": [{"name": "desk", "type": "email"}]})
    with pytest.raises(ConfigError, match="needs `to:`"):
        send_due(db, broken)
    assert deliveries(db) == before == [("desk", "pending", 0)]
