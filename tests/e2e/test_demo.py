"""The README's first command, for real: `spreadwatch demo` in a fresh directory, twice."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from spreadwatch.replay import load_corpus


def spreadwatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spreadwatch", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=240, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})


def test_demo_finds_the_rumour_and_a_second_run_adds_nothing(tmp_path: Path) -> None:
    first = spreadwatch("demo", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "spreadwatch.db").exists()
    assert "Articles matching 'kfor-withdrawal'" in first.stdout
    assert "bild" in first.stdout and "telegrafi" in first.stdout

    listed = spreadwatch("articles", "--watch", "kfor-withdrawal", "--json", "--limit", "500", cwd=tmp_path)
    rows = json.loads(listed.stdout)
    titles = {r["title"] for r in rows}
    corpus = load_corpus()
    assert corpus.article("bild-geheimdienste-abzug").title in titles
    assert corpus.article("kosovo-online-bild-relej").title in titles  # Cyrillic relay
    assert corpus.article("b92-bild-prenosi").title in titles  # windows-1250 page
    assert corpus.article("zeri-futboll-terheqje").title not in titles  # football is not the story
    assert corpus.article("euronews-serbia-pullback").title not in titles  # 2023 Serbian pullback
    assert all(r["matches"][0]["terms"] and r["matches"][0]["snippet"] for r in rows)

    stories = json.loads(spreadwatch("stories", "--json", cwd=tmp_path).stdout)
    top = stories[0]
    assert top["title"] == corpus.article("bild-geheimdienste-abzug").title and top["outlet_count"] >= 14
    history = json.loads(spreadwatch("story", str(top["id"]), "--json", cwd=tmp_path).stdout)
    assert history["origin"]["outlet"] == "bild" and len(history["denials"]) == 3
    rows = spreadwatch("story", str(top["id"]), "--csv", cwd=tmp_path).stdout.splitlines()
    assert rows[0].startswith("id,published_at,delay_seconds,outlet") and len(rows) == 1 + len(history["articles"])
    svg = tmp_path / "t.svg"
    assert spreadwatch("export", str(top["id"]), "--format", "svg", "-o", str(svg), cwd=tmp_path).returncode == 0
    assert svg.read_text().count('class="sw-arrow"') == len(history["articles"]) - 1
    assert "Europa in Sorge" in spreadwatch("search", "Geheimdienste Abzug", cwd=tmp_path).stdout
    by_url = spreadwatch("story", "--url", "https://telegrafi.com/telegrafi-bild-terheqja/?utm_source=x", "--json",
                         cwd=tmp_path)
    assert json.loads(by_url.stdout)["story"]["id"] == top["id"]

    alerts = json.loads(spreadwatch("alerts", "--json", cwd=tmp_path).stdout)
    sent = [a for a in alerts if any(d["state"] == "sent" for d in a["deliveries"])]
    assert any(a["story_id"] == top["id"] and a["rule"] == "spreading" and a["level"] == "10" for a in sent)
    assert any(a["story_id"] == top["id"] and a["rule"] == "denied" for a in sent)
    assert "Spreading: 'Europa in Sorge" in first.stdout  # the subject the SMTP sink received

    everything = json.loads(spreadwatch("articles", "--json", "--limit", "500", cwd=tmp_path).stdout)
    second = spreadwatch("demo", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    again = json.loads(spreadwatch("articles", "--json", "--limit", "500", cwd=tmp_path).stdout)
    assert len(again) == len(everything)  # nothing new the second time
    assert json.loads(spreadwatch("alerts", "--json", cwd=tmp_path).stdout) == alerts  # and no new alert
    assert "alerts: 0 sent" in second.stdout


def alert_set(alerts: list[dict]) -> list[tuple]:  # type: ignore[type-arg]
    """What the demo alerted, independent of ids: story, rule, level, and where each delivery ended."""
    return sorted((a["story_title"], a["rule"], a["level"], a["superseded"],
                   tuple(sorted((d["channel"], d["state"]) for d in a["deliveries"]))) for a in alerts)


def test_two_fresh_demos_alert_the_same_and_name_the_rumours_story(tmp_path: Path) -> None:
    """Same input, same alerts: the demo polls its feeds in the config's order, so the story engine
    and the rules see the same history each time (concurrent polling once gave 18 alerts, then 19)."""
    runs = []
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        out = spreadwatch("demo", cwd=folder)
        assert out.returncode == 0, out.stderr
        runs.append((folder, out.stdout, json.loads(spreadwatch("alerts", "--json", cwd=folder).stdout)))
    (folder, stdout, alerts), (_, _, again) = runs
    assert alerts and alert_set(alerts) == alert_set(again)

    printed = re.findall(r"spreadwatch story (\d+)", stdout)
    assert len(printed) == 1, "the demo prints the command for the rumour's story, with its id"
    bild = spreadwatch("story", "--url", "https://www.bild.de/bild-geheimdienste-abzug/", "--json", cwd=folder)
    assert json.loads(bild.stdout)["story"]["id"] == int(printed[0])
    shown = spreadwatch("story", printed[0], cwd=folder)
    assert shown.returncode == 0 and "bild (de) origin" in shown.stdout

    for channel in ("demo-email", "demo-slack"):  # tested by the demo while its local servers ran
        assert f"alerts test --channel {channel}: test message sent" in stdout
        assert any(d["channel"] == channel for a in alerts for d in a["deliveries"])
        later = spreadwatch("alerts", "test", "--channel", channel, "--db", "sqlite:///spreadwatch.db", cwd=folder)
        assert later.returncode == 2 and "Traceback" not in later.stderr
        assert f"no alerts channel named '{channel}'" in later.stderr and "exist only while the demo runs" in later.stderr
