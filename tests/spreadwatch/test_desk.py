"""The analyst's desk on the command line: every correction, followed by a new article arriving and a
full rebuild, holds; each is in the story's history with who made it, and can be undone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from bench.stories_eval import corpus_settings
from spreadwatch.cli import app
from spreadwatch.newsroom import Newsroom
from spreadwatch.replay import load_corpus
from storage import Article, Database, Link, Story
from tests.alerts.replayed import KOSOVO, POLITICO, ingest_story, story_drafts

runner = CliRunner()


@pytest.fixture
def desk(tmp_path: Path, db_url: str) -> Desk:
    return Desk(tmp_path, db_url)


class Desk:
    """A database holding the start of two stories, and the config file the commands read."""

    def __init__(self, tmp_path: Path, db_url: str, held_back: int | None = None) -> None:
        corpus = load_corpus()
        self.config = tmp_path / "my.yaml"
        self.config.write_text(yaml.safe_dump({"database_url": db_url, "outlets": Newsroom(corpus).outlets_config(),
                                               "alerts": {"rules": [{"name": "spreading"}]}}), encoding="utf-8")
        self.settings = corpus_settings(corpus, db_url).with_overrides(alerts={"rules": [{"name": "spreading"}]})
        self.db = Database(db_url)
        if held_back is None:
            ingest_story(self.db, self.settings, KOSOVO, upto=8)
        else:  # one Kosovo article arrives late, later (arrive())
            ingest_story(self.db, self.settings, KOSOVO, upto=held_back)
            ingest_story(self.db, self.settings, KOSOVO, start=held_back + 1, upto=8)
        ingest_story(self.db, self.settings, POLITICO, upto=6)

    def run(self, *args: str, ok: bool = True) -> str:
        result = runner.invoke(app, [*args, "--config", str(self.config)], env={"SPREADWATCH_USER": "ana",
                                                                                  "COLUMNS": "200"})
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result.output

    def ids(self, story: str, start: int = 0, upto: int | None = None) -> list[int]:
        urls = [d.url for _, d in story_drafts(story)[start:upto]]
        with self.db.session() as s:
            return list(s.scalars(select(Article.id).where(Article.url.in_(urls)).order_by(Article.id)))

    def stories_of(self, ids: list[int]) -> set[int | None]:
        with self.db.session() as s:
            return set(s.scalars(select(Article.story_id).where(Article.id.in_(ids))))

    def story(self, ids: list[int]) -> int:
        stories = self.stories_of(ids)
        assert len(stories) == 1, f"articles {ids} are in stories {stories}"
        return stories.pop()  # type: ignore[return-value]

    def arrive(self, story: str, n: int) -> int:
        """The story's next article (its n-th) arrives; its id."""
        ingest_story(self.db, self.settings, story, start=n, upto=n + 1)
        return self.ids(story, n, n + 1)[0]

    def rebuild(self) -> None:
        assert "articles placed again" in self.run("rebuild")


def test_merge_holds_for_new_articles_and_a_rebuild(desk: Desk) -> None:
    kosovo, politico = desk.story(desk.ids(KOSOVO)), desk.story(desk.ids(POLITICO))
    assert kosovo != politico  # the engine keeps them apart on its own
    out = desk.run("correct", "merge", str(kosovo), str(politico))
    assert f"story {politico} merged into story {kosovo}" in out
    both = desk.ids(KOSOVO) + desk.ids(POLITICO)
    assert desk.story(both) == kosovo
    newcomer = desk.arrive(POLITICO, 6)
    assert desk.story(both + [newcomer]) == kosovo
    desk.rebuild()
    assert desk.story(both + [newcomer]) == kosovo
    with desk.db.session() as s:
        story = s.get_one(Story, kosovo)
        assert story.outlet_count == len({a.outlet_id for a in s.scalars(select(Article).where(Article.story_id == kosovo))})
        assert s.get_one(Story, politico).status == "merged"
    history = json.loads(desk.run("history", str(kosovo), "--json"))
    assert [(h["kind"], h["who"], h["story_id"], h["other_story_id"]) for h in history] == [
        ("merge", "ana", kosovo, politico)]
    assert "merged story" in desk.run("history", str(kosovo))


def test_split_holds_and_the_next_bridging_copy_does_not_merge_them_again(desk: Desk) -> None:
    kosovo = desk.story(desk.ids(KOSOVO))
    leaving = desk.ids(KOSOVO, 5, 8)
    staying = desk.ids(KOSOVO, 0, 5)
    out = desk.run("correct", "split", str(kosovo), *map(str, leaving))
    assert "split into story" in out
    part = desk.story(leaving)
    assert part != kosovo and desk.story(staying) == kosovo
    # the next Kosovo articles are copies of Bild, like both parts: they join one part, never both
    later = [desk.arrive(KOSOVO, n) for n in (8, 9, 10)]
    assert desk.story(leaving) == part and desk.story(staying) == kosovo
    assert desk.stories_of(later) <= {kosovo, part}  # no third story: an uncorrected article is placed freely
    desk.rebuild()
    assert desk.story(leaving) != desk.story(staying)
    assert desk.story(leaving) == part and desk.story(staying) == kosovo  # the ids stay with their articles
    with desk.db.session() as s:
        n = len(s.scalars(select(Article).where(Article.story_id == part)).all())
        assert s.get_one(Story, part).outlet_count >= 3 and n >= 3
    history = json.loads(desk.run("history", str(part), "--json"))
    assert [(h["kind"], h["articles"]) for h in history] == [("split", leaving)]


def test_a_moved_article_is_not_put_back(desk: Desk) -> None:
    kosovo, politico = desk.story(desk.ids(KOSOVO)), desk.story(desk.ids(POLITICO))
    moved = desk.ids(KOSOVO, 7, 8)[0]
    assert f"moved from story {kosovo} to story {politico}" in desk.run("correct", "move", str(moved), "--to", str(politico))
    assert desk.stories_of([moved]) == {politico}
    desk.arrive(KOSOVO, 8)
    desk.arrive(POLITICO, 6)
    assert desk.stories_of([moved]) == {politico}
    desk.rebuild()
    assert desk.stories_of([moved]) == {politico}
    assert desk.story(desk.ids(KOSOVO, 0, 7)) == kosovo
    history = json.loads(desk.run("story", str(politico), "--json"))  # the tree of the story it went to has it
    entry = next(a for a in history["articles"] if a["id"] == moved)
    assert entry["kind"] == "origin" or desk.stories_of([entry["source"]]) == {politico}


@pytest.mark.parametrize("correction", ["split", "move"])
def test_a_late_article_that_replays_the_story_keeps_the_correction(tmp_path: Path, sqlite_url: str,
                                                                     correction: str) -> None:
    """An article published before the corrected ones arrives after the correction: placement takes
    the later articles out and places them again after it, and they go where the desk put them."""
    desk = Desk(tmp_path, sqlite_url, held_back=2)
    kosovo, politico = desk.story(desk.ids(KOSOVO)), desk.story(desk.ids(POLITICO))
    leaving = desk.ids(KOSOVO, 5, 8)
    if correction == "split":
        desk.run("correct", "split", str(kosovo), *map(str, leaving))
        target = desk.story(leaving)
    else:
        for aid in leaving:
            desk.run("correct", "move", str(aid), "--to", str(politico))
        target = politico
    late = desk.arrive(KOSOVO, 2)  # Oranews 07:31, before the articles moved out (08:22 on)
    assert desk.stories_of([late]) == {kosovo}
    with desk.db.session() as s:  # placement decided them again (the desk's own note is gone), held by the correction
        notes = [a.features["placement"] for a in s.scalars(select(Article).where(Article.id.in_(leaving)))]
    assert all("who" not in n["evidence"] for n in notes), notes
    assert {n["reason"] for n in notes} <= {"correction", "new"} and "correction" in {n["reason"] for n in notes}
    assert desk.story(leaving) == target and desk.story(desk.ids(KOSOVO, 0, 5)) == kosovo
    desk.rebuild()
    assert desk.story(leaving) == target and desk.story(desk.ids(KOSOVO, 0, 5)) == kosovo


def test_undo_places_the_articles_again_as_without_the_correction(desk: Desk) -> None:
    kosovo, politico = desk.story(desk.ids(KOSOVO)), desk.story(desk.ids(POLITICO))
    out = desk.run("correct", "merge", str(kosovo), str(politico))
    correction = out.split()[1].rstrip(":")
    assert desk.story(desk.ids(KOSOVO) + desk.ids(POLITICO)) == kosovo
    assert f"correction {correction} undone" in desk.run("correct", "undo", correction)
    # each story has its own articles back, under its own id (and so with its own alerts)
    assert desk.story(desk.ids(KOSOVO)) == kosovo and desk.story(desk.ids(POLITICO)) == politico
    desk.rebuild()
    assert desk.story(desk.ids(KOSOVO)) == kosovo and desk.story(desk.ids(POLITICO)) == politico
    with desk.db.session() as s:
        assert s.get_one(Story, politico).status == "active"
    history = json.loads(desk.run("history", str(kosovo), "--json"))
    assert history[0]["undone_by"] == "ana" and history[0]["text"].endswith("(undone)")
    assert "was undone already" in desk.run("correct", "undo", correction, ok=False)


def test_a_link_is_not_a_copy_and_a_source_set_by_hand_hold(desk: Desk) -> None:
    ids = desk.ids(KOSOVO)
    with desk.db.session() as s:
        links = {l.article_id: (l.kind, l.source_article_id) for l in s.scalars(select(Link).where(Link.article_id.in_(ids)))}
    copy = next(aid for aid in ids if links[aid][0] == "copy")
    desk.run("correct", "link", str(copy), "--not", "copy")
    relinked = next(aid for aid in ids[2:] if links[aid][1] != ids[1])
    desk.run("correct", "source", str(relinked), "--from", str(ids[1]))

    def held() -> None:
        with desk.db.session() as s:
            now = {l.article_id: l for l in s.scalars(select(Link).where(Link.article_id.in_(ids)))}
        assert now[copy].kind != "copy" and now[copy].evidence.get("corrected") == "not a copy"
        assert now[relinked].source_article_id == ids[1] and now[relinked].evidence.get("source_set_by_hand")
    held()
    desk.arrive(KOSOVO, 8)
    held()
    desk.rebuild()
    held()
    story = json.loads(desk.run("story", str(desk.story(ids)), "--json"))
    assert next(a for a in story["articles"] if a["id"] == relinked)["source"] == ids[1]
    assert "not a copy" in desk.run("corrections")
    assert "cannot be its source" in desk.run("correct", "source", str(ids[1]), "--from", str(ids[3]), ok=False)
    assert "not a denial or not a copy" in desk.run("correct", "link", str(copy), "--not", "origin", ok=False)


def test_corrections_export_as_an_evaluation_stream(desk: Desk) -> None:
    from bench.streams import read_records

    kosovo, politico = desk.story(desk.ids(KOSOVO)), desk.story(desk.ids(POLITICO))
    desk.run("correct", "move", str(desk.ids(KOSOVO, 7, 8)[0]), "--to", str(politico))
    lines = [json.loads(line) for line in desk.run("corrections", "--json").splitlines() if line.strip()]
    assert len(lines) == 14  # every article of the two corrected stories
    by_story: dict[str, list[Any]] = {}
    for r in lines:
        by_story.setdefault(r["story"], []).append(r)
    assert sorted(len(v) for v in by_story.values()) == [7, 7]
    assert {r["story"] for r in lines} == {f"story-{kosovo}", f"story-{politico}"}
    path = desk.config.with_name("desk.jsonl")
    path.write_text("\n".join(json.dumps(r) for r in lines), encoding="utf-8")
    records = read_records(path)  # the benchmark's own reader takes it
    assert len(records) == 14 and sum(r.origin for r in records) == 2


def test_a_refused_correction_says_why_and_changes_nothing(desk: Desk) -> None:
    kosovo = desk.story(desk.ids(KOSOVO))
    out = desk.run("correct", "split", str(kosovo), *map(str, desk.ids(KOSOVO)), ok=False)
    assert "leaves nothing behind" in out
    assert "no story 999" in desk.run("correct", "merge", str(kosovo), "999", ok=False)
    assert json.loads(desk.run("history", str(kosovo), "--json")) == []


def test_mute_unmute_and_acknowledge_from_the_command_line(desk: Desk) -> None:
    kosovo = desk.story(desk.ids(KOSOVO))
    alerts = json.loads(desk.run("alerts", "--json"))
    mine = [a for a in alerts if a["story_id"] == kosovo]
    assert mine and all(a["acknowledged_at"] is None for a in mine)
    assert f"alert {mine[0]['id']} acknowledged" in desk.run("alerts", "ack", str(mine[0]["id"]))
    shown = {a["id"]: a for a in json.loads(desk.run("alerts", "--json"))}
    assert shown[mine[0]["id"]]["acknowledged_by"] == "ana"
    assert "acknowledged by ana" in desk.run("alerts")
    assert "no alert 999" in desk.run("alerts", "ack", "999", ok=False)
    assert f"story {kosovo} muted until 2099-01-01T00:00:00+00:00 up to 10 outlets" in desk.run(
        "mute", str(kosovo), "--until", "2099-01-01", "--upto", "10")
    desk.arrive(KOSOVO, 8)
    desk.arrive(KOSOVO, 9)  # ten outlets: level 10, muted
    levels = {a["level"]: a for a in json.loads(desk.run("alerts", "--json")) if a["story_id"] == kosovo}
    assert levels["10"]["muted"] and levels["10"]["deliveries"] == []
    assert "1 mute(s) lifted" in desk.run("unmute", str(kosovo))
    assert "is not a date" in desk.run("mute", str(kosovo), "--until", "soon", ok=False)
