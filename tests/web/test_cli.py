"""The command line over the same database: `story` (tree and timeline, --json, --csv, --url),
`search`, `export` in every format, and `serve` as a real process on 127.0.0.1."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from typer.testing import CliRunner

from alerts.sinks import free_port
from spreadwatch.cli import app as cli
from tests.web.conftest import ARTIFACTS, Site
from web.timeline import layout_timeline


def invoke(site: Site, *args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--db", site.db_url], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result


def test_story_prints_tree_and_timeline(site: Site, rumour: dict[str, Any]) -> None:
    out = invoke(site, "story", str(rumour["story"]["id"])).stdout
    lines = out.splitlines()
    origin_line = next(l for l in lines if "bild (de) origin — Europa in Sorge" in l)
    telegrafi = next(l for l in lines if re.search(r"telegrafi \(sq\) \+0h42 attribution — Bild: Italia", l))
    # telegrafi hangs under the origin, its copies under it: deeper means further right
    copy_of_telegrafi = next(a for a in rumour["articles"] if a["source_outlet"] == "telegrafi")
    copy_line = next(l for l in lines if l.lstrip("│├└─ ").startswith(f"{copy_of_telegrafi['outlet']} (sq)"))
    assert origin_line.index("bild") < telegrafi.index("telegrafi") < copy_line.index(copy_of_telegrafi["outlet"])
    table = [l for l in lines if l.startswith("│ 20")]
    assert len(table) == len(rumour["articles"])
    hibrid = next(l for l in table if " hibrid " in l)
    assert "+2d2h50" in hibrid and "◆" in hibrid and "denial" in hibrid and "Fact-check" in hibrid
    assert "●···" in table[0] and "jaccard=" in out


def test_story_json_csv_and_url(site: Site, rumour: dict[str, Any]) -> None:
    sid = str(rumour["story"]["id"])
    assert json.loads(invoke(site, "story", sid, "--json").stdout) == rumour
    rows = list(csv.DictReader(io.StringIO(invoke(site, "story", sid, "--csv").stdout)))
    assert [int(r["id"]) for r in rows] == [a["id"] for a in rumour["articles"]]
    assert rows[1]["source_outlet"] and json.loads(rows[1]["evidence"]) == rumour["articles"][1]["evidence"]
    telegrafi = next(a for a in rumour["articles"] if a["outlet"] == "telegrafi")
    by_url = invoke(site, "story", "--url", telegrafi["url"] + "?utm_source=newsletter", "--json")
    assert json.loads(by_url.stdout)["story"]["id"] == rumour["story"]["id"]
    missing = CliRunner().invoke(cli, ["story", "--url", "https://nowhere.example/x", "--db", site.db_url])
    assert missing.exit_code == 1 and "no stored article" in missing.output


def test_search_finds_stories_by_words(site: Site, rumour: dict[str, Any]) -> None:
    out = invoke(site, "search", "Geheimdienste Abzug").stdout
    assert out.split()[0] == str(rumour["story"]["id"]) and "Europa in Sorge" in out
    found = json.loads(invoke(site, "search", "Nervosität Bondsteel", "--json").stdout)  # words of Bild's text only
    assert [s["id"] for s in found] == [rumour["story"]["id"]]
    nothing = CliRunner().invoke(cli, ["search", "zzyzx qqq", "--db", site.db_url])
    assert nothing.exit_code == 0 and "no story matches" in nothing.output


def test_export_in_every_format(site: Site, rumour: dict[str, Any], tmp_path: Path) -> None:
    sid = str(rumour["story"]["id"])
    tl = layout_timeline(rumour)
    invoke(site, "export", sid, "-o", str(tmp_path / "t.png"))  # the format from the suffix
    img = Image.open(tmp_path / "t.png")
    assert img.format == "PNG" and img.size == (tl.width * 2, tl.height * 2)
    invoke(site, "export", sid, "--format", "svg", "-o", str(tmp_path / "t.svg"))
    assert (tmp_path / "t.svg").read_text().count('class="sw-arrow"') == len(rumour["articles"]) - 1
    invoke(site, "export", sid, "--format", "csv", "-o", str(tmp_path / "t.csv"))
    assert (tmp_path / "t.csv").read_text().count("\n") == len(rumour["articles"]) + 1
    assert json.loads(invoke(site, "export", sid).stdout) == rumour  # JSON to stdout by default
    wrong = CliRunner().invoke(cli, ["export", sid, "--format", "pdf", "--db", site.db_url])
    assert wrong.exit_code == 2 and "json, csv, svg, png" in wrong.output
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "timeline.png").write_bytes((tmp_path / "t.png").read_bytes())


def test_serve_runs_the_app(site: Site, tmp_path: Path) -> None:
    """`spreadwatch serve` as a process of its own, polled for at most 30 s, then stopped."""
    port = free_port()
    env = {**os.environ, "SPREADWATCH_WEB_TOKEN": "t0k"}
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "spreadwatch", "serve", "--host", "127.0.0.1", "--port",
                             str(port), "--db", site.db_url], env=env, cwd=tmp_path, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        status = wait_for(f"http://127.0.0.1:{port}/api/stories", {"token": "t0k"})
        assert status == 200
        assert httpx.get(f"http://127.0.0.1:{port}/api/stories", timeout=10).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def wait_for(url: str, params: dict[str, str]) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            return httpx.get(url, params=params, timeout=5).status_code
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"nothing answered at {url} within 30 s")
