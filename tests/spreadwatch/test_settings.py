"""Config: the bundled files load; a user's typo is named by file, line and key before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from spreadwatch.settings import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "my.yaml"
    f.write_text(text, encoding="utf-8")
    return f


def test_bundled_config_loads() -> None:
    s = load_settings()
    assert {"bild", "telegrafi", "oranews", "n1", "ansa"} <= {o.key for o in s.outlets}
    assert [w.name for w in s.watches] == ["kfor-withdrawal"]
    assert {o.language for o in s.outlets} >= {"de", "en", "sq", "sr", "it"}


def test_user_file_extends_outlets_and_overrides_sections(tmp_path: Path) -> None:
    f = write(tmp_path, """
database_url: sqlite:///elsewhere.db
poll:
  interval_minutes: 5
outlets:
  - key: bild
    name: Bild (politics only)
    feeds: [https://www.bild.de/feed/politik.xml]
  - key: mynews
    name: My News
    feeds: [https://example.org/rss]
""")
    s = load_settings(f)
    assert s.database_url == "sqlite:///elsewhere.db" and s.poll.interval_minutes == 5
    assert s.outlet("bild").name == "Bild (politics only)"
    assert [x.url for x in s.outlet("bild").feeds] == ["https://www.bild.de/feed/politik.xml"]
    assert s.outlet("mynews").feeds[0].url == "https://example.org/rss"
    assert s.outlet("telegrafi")  # the defaults are still there


def test_typo_names_file_line_and_key(tmp_path: Path) -> None:
    f = write(tmp_path, """outlets:
  - key: mynews
    name: My News
    feds: [https://example.org/rss]
""")
    with pytest.raises(ConfigError) as err:
        load_settings(f)
    msg = str(err.value)
    assert f"{f}:4:" in msg and "feds" in msg and "unknown key" in msg


def test_wrong_type_in_a_nested_section(tmp_path: Path) -> None:
    f = write(tmp_path, "http:\n  user_agent: me\n  per_host_concurrency: many\n")
    with pytest.raises(ConfigError) as err:
        load_settings(f)
    assert f"{f}:3: http.per_host_concurrency" in str(err.value)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    f = write(tmp_path, "poll:\n  interval_minutes: 5\n outlets: [\n")
    with pytest.raises(ConfigError, match=rf"{f}:\d+: not valid YAML"):
        load_settings(f)


def test_duplicate_outlet_key_in_one_file(tmp_path: Path) -> None:
    f = write(tmp_path, "watches:\n  - {name: a, rules: [{all: [[x]]}]}\n  - {name: a, rules: [{all: [[y]]}]}\n")
    with pytest.raises(ConfigError, match="duplicate watch name: a"):
        load_settings(f)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.yaml")


def test_cli_reports_config_errors_without_a_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    f = write(tmp_path, "poll:\n  interval_minuts: 5\n")
    proc = subprocess.run([sys.executable, "-m", "spreadwatch", "check", "--config", str(f)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"{f}:2: poll.interval_minuts: unknown key" in proc.stderr
    assert "Traceback" not in proc.stderr
