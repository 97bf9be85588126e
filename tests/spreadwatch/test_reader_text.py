"""What the commands show a reader: scraped text cleaned at ingest, search words taken literally, and
`story ID` readable in an 80-column terminal. The CLI runs as a subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from crawler.draft import ArticleDraft
from spreadwatch.ingest import ingest
from storage import Article, Database, WatchMatch
from tests.alerts.replayed import KOSOVO, ingest_story, settings_with

WHEN = datetime(2025, 2, 19, 6, 10, tzinfo=timezone.utc)


def sw(*args: str, db_url: str, columns: int = 200) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPREADWATCH_")}
    return subprocess.run([sys.executable, "-m", "spreadwatch", *args, "--db", db_url], capture_output=True,
                          text=True, timeout=120, env={**env, "COLUMNS": str(columns)})


def test_ingest_stores_scraped_text_without_controls_or_direction_overrides(db_url: str) -> None:
    settings = settings_with(db_url, [])
    db = Database(db_url)
    draft = ArticleDraft(
        outlet_key="bild", url="https://www.bild.de/abzug-x/", canonical_url="https://www.bild.de/abzug-x/",
        title="\x1b]0;owned\x07Abzug der US-Truppen aus dem \u202eovosoK\u202c?",
        text="Italien bereitet sich auf einen möglichen Abzug der US-Truppen aus dem Kosovo vor.\x1b[2J\n"
             "Die KFOR-Mission\u2066 der NATO\u2069 stünde ohne die Amerikaner da.\x00 " * 5,
        language="de", published_at=WHEN)
    with db.session() as s:
        result = ingest(s, draft, settings)
    with db.session() as s:
        stored = s.get_one(Article, result.article_id)
        snippets = list(s.scalars(select(WatchMatch.snippet)))
    controls = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
    assert stored.title == " ]0;owned Abzug der US-Truppen aus dem ovosoK?".strip()
    assert not controls.search(stored.text) and "\n" in stored.text  # newlines are kept
    assert result.watches == ["kfor-withdrawal"] and snippets and not any(controls.search(x) for x in snippets)


def test_search_takes_percent_and_underscore_literally(db_url: str) -> None:
    settings = settings_with(db_url, [])
    db = Database(db_url)
    ingest_story(db, settings, KOSOVO, upto=3)
    assert json.loads(sw("search", "Geheimdienste", "--json", db_url=db_url).stdout)  # a word finds its story
    for pattern in ("%", "_", "%%", "Geheim%", "Gehe_mdienste", "\\"):
        result = sw("search", pattern, "--json", db_url=db_url)
        assert result.returncode == 0 and json.loads(result.stdout) == [], pattern
    with db.session() as s:  # a real percent sign in a title is found as such
        s.scalars(select(Article)).first().title = "Inflation bei 100% und mehr"  # type: ignore[union-attr]
    assert len(json.loads(sw("search", "100%", "--json", db_url=db_url).stdout)) == 1


def test_story_reads_at_80_columns(sqlite_url: str) -> None:
    settings = settings_with(sqlite_url, [])
    db = Database(sqlite_url)
    ingest_story(db, settings, KOSOVO)
    story = json.loads(sw("stories", "--json", db_url=sqlite_url).stdout)[0]
    history = json.loads(sw("story", str(story["id"]), "--json", db_url=sqlite_url).stdout)
    result = sw("story", str(story["id"]), db_url=sqlite_url, columns=80)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    table = result.stdout[result.stdout.index("Timeline and evidence"):]
    cells = re.sub(r"\s+", " ", re.sub(r"[│┃┏┓┗┛┡┩└┘├┤┼━─╇┳┻╋]", " ", table))
    words = set(cells.split())
    for a in history["articles"]:  # every title, outlet and piece of evidence is there, whole words
        assert a["outlet"] in words and set(a["title"].split()) <= words, a["title"]
        if a["evidence"].get("jaccard"):
            assert f"jaccard={a['evidence']['jaccard']}" in cells
    wide = sw("story", str(story["id"]), db_url=sqlite_url, columns=200).stdout
    assert "┃ outlet" in wide and "┃ evidence" in wide  # a wide terminal keeps one column per fact
    assert timedelta(seconds=history["articles"][-1]["delay_seconds"]) > timedelta(days=2)
