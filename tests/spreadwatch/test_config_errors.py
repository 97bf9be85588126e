"""A wrong config never starts: every command, run as a user runs it, validates the whole config as
`check` does, names file, line and key, exits 2, and creates no database. Exit codes 0/1/2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from alerts.sinks import free_port
from spreadwatch.localserver import LocalServer
from tests.spreadwatch.test_cycle import serve_newsroom

COMMANDS = [["check"], ["run", "--once"], ["stories"], ["articles"], ["alerts"], ["alerts", "send"], ["outlets"]]


def sw(*args: str, cwd: Path, env: dict[str, str] | None = None,
       timeout: float = 120) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SPREADWATCH_")}
    return subprocess.run([sys.executable, "-m", "spreadwatch", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**base, "COLUMNS": "200", **(env or {})})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my.yaml"
    path.write_text(text, encoding="utf-8")
    return path


BAD_TERM = """\
default_outlets: false
outlets:
  - {key: mynews, name: My News, feeds: ["http://127.0.0.1:9/feed.xml"]}
watches:
  - name: troops
    rules:
      - all: [[kfor, "**"]]
"""
BAD_RULE_KEY = """\
default_outlets: false
alerts:
  rules:
    - {name: spreading, levls: [3, 5]}
"""
UNKNOWN_WATCH = """\
default_outlets: false
alerts:
  rules:
    - name: spreading
      watch: no-such-watch
"""


@pytest.mark.parametrize("text, expected", [
    (BAD_TERM, "my.yaml:7: watches.0.rules.0.all.0.1: watch term '**' has a wildcard with no letters"),
    (BAD_RULE_KEY, "my.yaml:4: alerts.rules[spreading].levls: Extra inputs are not permitted"),
    (UNKNOWN_WATCH, "my.yaml:5: alerts.rules[spreading].watch: no watch named 'no-such-watch'"),
])
def test_every_command_refuses_a_bad_config_before_creating_the_database(tmp_path: Path, text: str,
                                                                        expected: str) -> None:
    cfg = write(tmp_path, text)
    db = tmp_path / "never.db"
    for command in COMMANDS:
        result = sw(*command, "--config", str(cfg), "--db", f"sqlite:///{db}", cwd=tmp_path)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert f"{tmp_path}/{expected}" in result.stderr, (command, result.stderr)
        assert "Traceback" not in result.stderr
        assert not db.exists(), command  # nothing was created
    assert list(tmp_path.iterdir()) == [cfg]


SPIDERS = """\
default_outlets: false
outlets:
  - key: one
    name: One
    sitemaps: [{url: "https://one.example/sitemap.xml", url_pattern: "/lajme/(\\\\d+"}]
  - key: two
    name: Two
    listings:
      - url: https://two.example/
        link_selector: "h2 a[["
        next_selector: "//a[@class="
"""


def test_spider_regexes_and_selectors_are_compiled_at_validation(tmp_path: Path) -> None:
    result = sw("check", "--config", str(write(tmp_path, SPIDERS)), cwd=tmp_path)
    assert result.returncode == 2
    err = result.stderr
    assert "my.yaml:5: outlets.0.sitemaps.0.url_pattern: not a valid regular expression: missing )" in err
    assert "my.yaml:10: outlets.1.listings.0.link_selector: not a valid CSS selector" in err
    assert "my.yaml:11: outlets.1.listings.0.next_selector: not a valid XPath selector" in err


def test_an_empty_file_is_an_error_not_the_defaults(tmp_path: Path) -> None:
    result = sw("check", "--config", str(write(tmp_path, "# to be filled in\n")), cwd=tmp_path)
    assert result.returncode == 2 and "my.yaml:1: the file is empty" in result.stderr


def test_a_typo_in_the_first_outlet_is_numbered_as_in_the_users_file(tmp_path: Path) -> None:
    cfg = write(tmp_path, "outlets:\n  - key: mynews\n    name: My News\n    feds: [https://example.org/rss]\n")
    result = sw("check", "--config", str(cfg), cwd=tmp_path)  # the 30 bundled outlets come first
    assert result.returncode == 2
    assert f"{cfg}:4: outlets.0.feds: unknown key (a typo?)" in result.stderr


def test_default_outlets_false_keeps_only_the_users_outlets(tmp_path: Path) -> None:
    mine = "outlets:\n  - {key: mynews, name: My News, feeds: [https://example.org/rss]}\n"
    with_defaults = sw("check", "--config", str(write(tmp_path, mine)), "--db", "sqlite:///x.db", cwd=tmp_path)
    assert with_defaults.returncode == 0, with_defaults.stderr
    bundled = int(with_defaults.stdout.split("config ok: ")[1].split(" outlets")[0])
    assert bundled > 20
    alone = sw("check", "--config", str(write(tmp_path, "default_outlets: false\n" + mine)), "--db", "sqlite:///x.db",
               cwd=tmp_path)
    assert alone.returncode == 0 and "config ok: 1 outlets (1 feeds enabled)" in alone.stdout, alone.stdout
    wrong = sw("check", "--config", str(write(tmp_path, "default_outlets: 'no'\n" + mine)), cwd=tmp_path)
    assert wrong.returncode == 2 and "my.yaml:1: default_outlets: expected true or false, got 'no'" in wrong.stderr


CHANNELS = """\
default_outlets: false
alerts:
  channels:
    - {name: team, type: slack, url_env: SW_TEST_SLACK_URL}
    - {name: desk, type: email, host: 127.0.0.1, to: [desk@example.org], username: u,
       password_env: SW_TEST_SMTP_PASSWORD}
"""


def test_check_and_the_daemon_name_each_missing_secret(tmp_path: Path) -> None:
    cfg = write(tmp_path, CHANNELS)
    db = f"sqlite:///{tmp_path / 's.db'}"
    for command in (["check"], ["run", "--health-port", str(free_port())]):
        result = sw(*command, "--config", str(cfg), "--db", db, cwd=tmp_path, timeout=60)
        assert result.returncode == 2, (command, result.stderr)
        assert f"{cfg}:4: alerts.channels[team].url_env: the environment variable SW_TEST_SLACK_URL is not set" \
            in result.stderr
        assert f"{cfg}:6: alerts.channels[desk].password_env: the environment variable SW_TEST_SMTP_PASSWORD" \
            in result.stderr
    assert not (tmp_path / "s.db").exists()
    env = {"SW_TEST_SLACK_URL": "http://127.0.0.1:9/hook", "SW_TEST_SMTP_PASSWORD": "x"}
    assert sw("check", "--config", str(cfg), "--db", db, cwd=tmp_path, env=env).returncode == 0


def test_database_urls_that_cannot_work_are_one_line(tmp_path: Path) -> None:
    cfg = write(tmp_path, "default_outlets: false\ndatabase_url: mysqlx://u:secret@db/x\n")
    scheme = sw("stories", "--config", str(cfg), cwd=tmp_path)
    assert scheme.returncode == 2 and scheme.stderr.count("\n") == 1, scheme.stderr
    assert f"{cfg}:2: database_url: mysqlx://u:***@db/x: no database backend is called 'mysqlx'" in scheme.stderr
    down = f"postgresql://postgres:secret@127.0.0.1:{free_port()}/nothing"
    for command in (["stories"], ["run", "--once"], ["check"]):
        result = sw(*command, "--config", str(cfg), "--db", down, cwd=tmp_path)
        assert result.returncode == 1, (command, result.stderr)
        shown = result.stderr + result.stdout
        assert "secret" not in shown and "postgres:***@127.0.0.1" in shown and "Connection refused" in shown, shown
        assert "Traceback" not in shown and len(result.stderr.splitlines()) <= 1, command


def test_run_once_exit_codes_and_log_lines_name_outlet_and_address(tmp_path: Path, server: LocalServer) -> None:
    serve_newsroom(server, ["a1"])
    good = {"key": "shembull", "name": "Shembull", "feeds": [server.url("/feed.xml")]}
    dead = [{"key": f"dead{n}", "name": f"Dead {n}", "feeds": [f"http://127.0.0.1:{free_port()}/feed.xml"]}
            for n in range(3)]
    base = {"default_outlets": False, "http": {"per_host_delay": 0, "retries": 0, "read_timeout": 3}}
    ok = write(tmp_path, yaml.safe_dump({**base, "outlets": [good]}))
    db = f"sqlite:///{tmp_path / 's.db'}"
    assert sw("run", "--once", "--config", str(ok), "--db", db, cwd=tmp_path).returncode == 0
    failing = write(tmp_path, yaml.safe_dump({**base, "outlets": dead}))
    result = sw("run", "--once", "--config", str(failing), "--db", db, cwd=tmp_path)
    assert result.returncode == 1
    assert "3 feeds polled, 3 failed" in result.stdout
    lines = [line for line in result.stderr.splitlines() if "feed failed" in line]
    assert len(lines) == 3
    for outlet in dead:
        assert any(f"outlet={outlet['key']} feed={outlet['feeds'][0]}" in line for line in lines), lines


def test_crawl_exits_1_when_outlets_fail_and_names_each(tmp_path: Path) -> None:
    dead = [{"key": "one", "name": "One", "sitemaps": [{"url": f"http://127.0.0.1:{free_port()}/sitemap.xml"}]},
            {"key": "two", "name": "Two", "listings": [{"url": f"http://127.0.0.1:{free_port()}/lajme/"}]}]
    cfg = write(tmp_path, yaml.safe_dump({"default_outlets": False, "http": {"retries": 0, "per_host_delay": 0},
                                          "outlets": dead}))
    result = sw("crawl", "--config", str(cfg), "--db", f"sqlite:///{tmp_path / 'c.db'}", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 outlets, 0 pages, 0 new articles" in result.stdout and "2 errors" in result.stdout
    for outlet in dead:
        address = (outlet.get("sitemaps") or outlet.get("listings"))[0]["url"]  # type: ignore[index]
        assert re.search(rf"{outlet['key']}: {re.escape(address)}: connection failed", result.stderr), result.stderr
