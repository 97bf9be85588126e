"""`spreadwatch check`: the configuration and the connections, checked without running anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from alerts.sinks import SMTPSink, free_port
from spreadwatch.localserver import LocalServer, static
from storage import Database
from tests.spreadwatch.test_cycle import serve_newsroom


def check(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spreadwatch", "check", "--config", str(cfg), *args],
                          capture_output=True, text=True, timeout=90, env={**os.environ, "COLUMNS": "250"})


def config(tmp_path: Path, server: LocalServer, db_url: str, smtp_port: int, **extra: object) -> Path:
    cfg = {"default_outlets": False, "database_url": db_url,
           "http": {"per_host_delay": 0, "retries": 0, "read_timeout": 3},
           "outlets": [{"key": "shembull", "name": "Shembull", "feeds": [server.url("/feed.xml")]},
                       {"key": "broken", "name": "Broken", "feeds": [server.url("/broken.xml")]},
                       {"key": "off", "name": "Off", "enabled": False, "feeds": [server.url("/never.xml")]}],
           "alerts": {"channels": [{"name": "desk", "type": "email", "host": "127.0.0.1", "port": smtp_port,
                                    "to": ["desk@example.org"], "timeout_seconds": 3}]},
           **extra}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def test_check_validates_and_reaches_the_database_without_creating_it(tmp_path: Path, server: LocalServer) -> None:
    serve_newsroom(server, ["a1"])
    db_file = tmp_path / "sub" / "s.db"
    result = check(config(tmp_path, server, f"sqlite:///{db_file}", free_port()))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "config ok: 3 outlets (2 feeds enabled)" in result.stdout and "1 channels" in result.stdout
    assert "does not exist yet" in result.stdout
    assert not db_file.exists() and not db_file.parent.exists()
    assert server.requests == []  # without --network nothing is fetched

    Database(f"sqlite:///{db_file}").dispose()  # a database that has been run once
    again = check(config(tmp_path, server, f"sqlite:///{db_file}", free_port()))
    assert again.returncode == 0 and "schema up to date" in again.stdout


def test_check_network_fetches_each_enabled_feed_and_reaches_the_mail_server(tmp_path: Path,
                                                                            server: LocalServer) -> None:
    serve_newsroom(server, ["a1", "a2"])
    server.route("/broken.xml", static("server on fire", "text/plain", status=500))
    with SMTPSink() as sink:
        result = check(config(tmp_path, server, f"sqlite:///{tmp_path / 's.db'}", sink.port), "--network")
        assert sink.messages == []  # connected to, never sent to
    out = result.stdout
    assert result.returncode == 1, out  # one feed is broken
    assert "✓ shembull" in out and "2 entries" in out
    assert "✗ broken" in out and "500" in out
    assert "feeds: 1 of 2 answered" in out
    assert "✓ channel desk" in out
    assert [r.path for r in server.requests if r.path.endswith(".xml")].count("/never.xml") == 0  # disabled
    assert not (tmp_path / "s.db").exists()  # and nothing was stored


def test_check_network_reports_a_mail_server_that_is_down(tmp_path: Path, server: LocalServer) -> None:
    serve_newsroom(server, ["a1"])
    server.route("/broken.xml", static("<rss version='2.0'><channel><title>t</title></channel></rss>",
                                       "application/rss+xml"))
    result = check(config(tmp_path, server, f"sqlite:///{tmp_path / 's.db'}", free_port()), "--network")
    assert result.returncode == 1
    assert "✗ channel desk" in result.stdout and "feeds: 2 of 2 answered" in result.stdout


def test_check_names_the_file_and_line_of_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("default_outlets: false\npoll:\n  interval_minuts: 5\n", encoding="utf-8")
    result = check(path)
    assert result.returncode == 2
    assert f"{path}:3: poll.interval_minuts: unknown key" in result.stderr


def test_check_reports_an_unreachable_database(tmp_path: Path, server: LocalServer) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    result = check(config(tmp_path, server, url, free_port()))
    assert result.returncode == 1
    assert "database unreachable" in result.stdout and "Connection refused" in result.stdout


def test_check_reaches_postgresql(tmp_path: Path, server: LocalServer, pg_url: str) -> None:
    result = check(config(tmp_path, server, pg_url, free_port()))
    assert result.returncode == 0, result.stdout
    assert "database ok: postgresql" in result.stdout and "schema is created on first run" in result.stdout
    Database(pg_url).dispose()
    again = check(config(tmp_path, server, pg_url, free_port()))
    assert "schema up to date" in again.stdout


def test_check_names_the_watch_and_term_of_an_unknown_list(tmp_path: Path) -> None:
    path = tmp_path / "watch.yaml"
    path.write_text("default_outlets: false\nwatches:\n  - name: mine\n    terms: {us: [us, usa]}\n"
                    "    rules:\n      - all: [[kosov*], [\"@us ~6> @cuts\"]]\n", encoding="utf-8")
    result = check(path)
    assert result.returncode == 2
    assert f"{path}:6: watches.0.rules.0.all.1.0" in result.stderr and "no list named 'cuts'" in result.stderr
