"""The JSON API on 127.0.0.1 over the replay corpus: the CLI's shapes, the filters, the
"spreading now" order, errors, and an OpenAPI document that describes every route."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from spreadwatch.cli import app as cli
from tests.web.conftest import Site

SUMMARY_KEYS = {"id", "title", "status", "outlet_count", "article_count", "languages", "countries", "watches",
                "first_seen", "last_seen", "origin_article_id"}
ENTRY_KEYS = {"id", "outlet", "outlet_name", "outlet_kind", "country", "language", "url", "title", "published_at",
              "first_seen_at", "delay_seconds", "source", "source_outlet", "kind", "score", "evidence", "watches",
              "placement"}


def run_cli(site: Site, *args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--db", site.db_url], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result


def test_story_history_is_the_cli_json(site: Site, rumour: dict[str, Any]) -> None:
    sid = rumour["story"]["id"]
    assert set(rumour) == {"story", "origin", "articles", "denials"}
    assert set(rumour["story"]) == SUMMARY_KEYS and all(set(a) == ENTRY_KEYS for a in rumour["articles"])
    assert rumour["origin"]["outlet"] == "bild" and len(rumour["denials"]) == 3
    assert len(rumour["articles"]) == rumour["story"]["article_count"] >= 15
    assert json.loads(run_cli(site, "story", str(sid), "--json").stdout) == rumour


def test_story_list_is_the_cli_shape(site: Site, rumour: dict[str, Any]) -> None:
    listed = site.get("/api/stories", params={"limit": 500}).json()
    assert all(set(s) == SUMMARY_KEYS for s in listed)
    from_cli = {s["id"]: s for s in json.loads(run_cli(site, "stories", "--json", "-n", "500").stdout)}
    assert {s["id"]: s for s in listed} == from_cli
    assert next(s for s in listed if s["id"] == rumour["story"]["id"]) == rumour["story"]


def test_spreading_now_comes_first(site: Site, rumour: dict[str, Any]) -> None:
    listed = site.get("/api/stories").json()
    fresh = site.story_titled("Road closed by floods")
    # Two outlets in the last hours outrank the rumour's seventeen outlets of 2025.
    assert listed[0]["id"] == fresh["id"] and fresh["outlet_count"] == 2
    rest = listed[1:]
    assert rest[0]["id"] == rumour["story"]["id"]
    assert [s["outlet_count"] for s in rest] == sorted((s["outlet_count"] for s in rest), reverse=True)


def test_filters(site: Site, rumour: dict[str, Any]) -> None:
    everything = site.get("/api/stories", params={"limit": 500}).json()
    sid = rumour["story"]["id"]
    assert [s["id"] for s in site.get("/api/stories", params={"language": "it"}).json()] == [sid]
    assert [s["id"] for s in site.get("/api/stories", params={"outlet": "ansa"}).json()] == [sid]
    watched = site.get("/api/stories", params={"watch": "kfor-withdrawal"}).json()
    assert sid in [s["id"] for s in watched] and len(watched) < len(everything)
    recent = site.get("/api/stories", params={"since": "24h"}).json()
    assert [s["title"] for s in recent] == ["Road closed by floods"]
    assert len(site.get("/api/stories", params={"since": "52w", "limit": 500}).json()) == 1
    assert len(site.get("/api/stories", params={"limit": 2}).json()) == 2


def test_errors_are_json_for_a_person(site: Site) -> None:
    missing = site.get("/api/stories/999999")
    assert missing.status_code == 404 and missing.json() == {"detail": "no story 999999"}
    assert site.get("/stories/999999").status_code == 404
    assert site.get("/stories/999999/timeline.png").status_code == 404
    assert site.get("/api/stories", params={"since": "yesterday"}).status_code == 422
    assert site.get("/api/stories", params={"limit": 0}).status_code == 422
    page = site.get("/", params={"since": "yesterday"})
    assert page.status_code == 200 and "is not an age" in page.text


def test_openapi_describes_every_route(site: Site) -> None:
    spec = site.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths) == {"/api/stories", "/api/stories/{story_id}", "/stories/{story_id}/timeline.svg",
                          "/stories/{story_id}/timeline.png", "/stories/{story_id}/history.csv", "/",
                          "/stories/{story_id}"}
    listing = paths["/api/stories"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listing["items"] == {"$ref": "#/components/schemas/StorySummary"}
    one = paths["/api/stories/{story_id}"]["get"]["responses"]
    assert one["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/StoryHistory"}
    assert one["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert paths["/stories/{story_id}/timeline.png"]["get"]["responses"]["200"]["content"]["image/png"]["schema"] == {
        "type": "string", "format": "binary"}
    schemas = spec["components"]["schemas"]
    assert set(schemas["StorySummary"]["properties"]) == SUMMARY_KEYS
    assert set(schemas["ArticleEntry"]["properties"]) == ENTRY_KEYS
    for name in ("StorySummary", "ArticleEntry"):
        undescribed = [k for k, v in schemas[name]["properties"].items() if not v.get("description")]
        assert undescribed == [], f"{name} fields without a description: {undescribed}"
    for path, ops in paths.items():
        op = ops["get"]
        assert op.get("summary") and op.get("description"), f"{path} is not described"
    params = {p["name"]: p for p in paths["/api/stories"]["get"]["parameters"]}
    assert set(params) == {"watch", "language", "outlet", "since", "limit"}
    assert all(p.get("description") for p in params.values())


def test_a_merged_story_leads_to_the_story_it_joined(site: Site, rumour: dict[str, Any]) -> None:
    from storage import Database, Story

    with Database(site.db_url).session() as s:
        merged = Story(title="an early duplicate", status="merged", merged_into_id=rumour["story"]["id"])
        s.add(merged)
        s.flush()
        merged_id = merged.id
    assert site.get(f"/api/stories/{merged_id}").json() == rumour
    page = site.get(f"/stories/{merged_id}", follow_redirects=False)
    assert page.status_code == 307 and page.headers["location"] == f"/stories/{rumour['story']['id']}"
    assert merged_id not in [s["id"] for s in site.get("/api/stories", params={"limit": 500}).json()]


def test_spreading_now_on_both_databases(db_url: str) -> None:
    """The order's own query (outlets per story since a cutoff) on SQLite and the real PostgreSQL."""
    from datetime import datetime, timedelta, timezone

    from bench.stories_eval import corpus_settings
    from spreadwatch.ingest import ingest
    from spreadwatch.replay import load_corpus
    from storage import Database
    from tests.web.conftest import ESCAPES_SHOWN, HOSTILE, hand_made
    from storage.stories_repo import list_stories
    from web.app import find_stories

    settings = corpus_settings(load_corpus(), db_url)
    db = Database(db_url)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for draft in hand_made(now - timedelta(days=400), now):
        with db.session() as s:
            ingest(s, draft, settings)
    with db.session() as s:
        rows = find_stories(s, now=now)
        assert [r["title"] for r in rows][0] == "Road closed by floods"
        assert [r["recent_outlets"] for r in rows] == [2] + [0] * (len(rows) - 1)
        last_90m = list_stories(s, spreading_since=now - timedelta(minutes=90))
        assert [r["recent_outlets"] for r in last_90m] == [1] + [0] * (len(rows) - 1)
        # filters apply before the limit: an outlet's one story is found however many others come first
        (tender,) = list_stories(s, outlet="telegrafi", limit=1)
        assert tender["title"] == ESCAPES_SHOWN and tender["outlet_count"] == 2  # cleaned at ingest
        # the tender's text is English though its draft says sq: each article's language is its text's
        assert list_stories(s, outlet="telegrafi", language="de") == []
        assert [r["title"] for r in list_stories(s, outlet="telegrafi", language="en")] == [ESCAPES_SHOWN]
        assert [r["title"] for r in list_stories(s, outlet="zeri", spreading_since=now - timedelta(days=1))] == [
            "Road closed by floods", HOSTILE]
        recent = find_stories(s, since=now - timedelta(days=1), now=now)
        assert [r["title"] for r in recent] == ["Road closed by floods"]
