"""Scraped text is untrusted: escaped in HTML and SVG, never a script or a javascript: link, never a
spreadsheet formula, never a terminal escape; and the optional token guards every route."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import httpx
from fastapi.routing import APIRoute
from typer.testing import CliRunner

from spreadwatch.cli import app as cli
from tests.web.conftest import BAD_URL, ESCAPES, ESCAPES_SHOWN, FORMULA, HOSTILE, TOKEN, Site

SVG = "{http://www.w3.org/2000/svg}"


def test_token_guards_every_route(site: Site) -> None:
    story = site.story_titled(HOSTILE)["id"]
    routes = [r.path.replace("{story_id}", str(story)) for r in site.app.routes if isinstance(r, APIRoute)]
    assert len(routes) == 7
    for path in routes:
        url = site.locked + path
        assert httpx.get(url, timeout=30).status_code == 401, path
        assert httpx.get(url, params={"token": "wrong"}, timeout=30).status_code == 401, path
        assert httpx.get(url, params={"token": TOKEN}, timeout=30).status_code == 200, path
        assert httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30).status_code == 200, path
    assert httpx.get(site.locked + "/openapi.json", timeout=30).status_code == 200  # the schema holds no data
    page = httpx.get(site.locked + "/", params={"token": TOKEN}, timeout=30).text
    assert f'/stories/{story}?token=s3cret+token%2Fwith%26odd%3Dchars' in page  # links carry it, encoded


def test_hostile_headline_is_text_in_html_and_svg(site: Site) -> None:
    story = site.story_titled(HOSTILE)["id"]
    for path in ("/", f"/stories/{story}", f"/stories/{story}/timeline.svg"):
        body = site.get(path).text
        assert "<script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body, path
    svg = ET.fromstring(site.get(f"/stories/{story}/timeline.svg").content)  # valid XML
    assert svg.findtext(f"{SVG}title") == HOSTILE


def test_pages_forbid_scripts_and_referrers(site: Site) -> None:
    for path in ("/", "/api/stories", f"/stories/{site.story_titled(HOSTILE)['id']}/timeline.svg"):
        headers = site.get(path).headers
        assert "default-src 'none'" in headers["content-security-policy"] and "script-src" not in headers[
            "content-security-policy"], path
        assert headers["referrer-policy"] == "no-referrer" and headers["x-content-type-options"] == "nosniff"


def test_javascript_urls_never_become_links(site: Site) -> None:
    story = site.story_titled(ESCAPES)["id"]
    history = site.get(f"/api/stories/{story}").json()
    assert BAD_URL in [a["url"] for a in history["articles"]]  # stored as given, shown as text
    page = site.get(f"/stories/{story}").text
    assert 'href="javascript:' not in page and "javascript:alert(document.domain)//" in page
    assert 'href="https://telegrafi.com/tender/"' in page
    svg = ET.fromstring(site.get(f"/stories/{story}/timeline.svg").content)
    hrefs = [a.get("href") for a in svg.iter(f"{SVG}a")]
    assert hrefs == ["https://telegrafi.com/tender/"]


def test_control_characters_are_dropped_from_html_and_svg(site: Site) -> None:
    story = site.story_titled(ESCAPES)["id"]
    for path in ("/", f"/stories/{story}"):
        page = site.get(path).text
        assert "\x1b" not in page and "\x07" not in page and "\u202e" not in page and ESCAPES_SHOWN in page, path
    svg = site.get(f"/stories/{story}/timeline.svg").content
    assert b"\x1b" not in svg and b"\x07" not in svg and "\u202e".encode() not in svg
    assert ET.fromstring(svg).findtext(f"{SVG}title") == ESCAPES_SHOWN


def test_csv_cells_cannot_run_as_formulas(site: Site) -> None:
    story = site.story_titled(ESCAPES)["id"]
    from_web = site.get(f"/stories/{story}/history.csv")
    assert from_web.headers["content-disposition"] == f'attachment; filename="story-{story}-history.csv"'
    runner = CliRunner()
    from_cli = runner.invoke(cli, ["story", str(story), "--csv", "--db", site.db_url])
    # CliRunner reads "\r\n" (RFC 4180's line end) back as "\n"
    assert from_cli.exit_code == 0 and from_cli.stdout == from_web.text.replace("\r\n", "\n")
    rows = list(csv.DictReader(io.StringIO(from_web.text)))
    titles = {r["title"] for r in rows}
    assert "'" + FORMULA in titles and FORMULA not in titles
    assert all(not cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r.values())
    assert json.loads(rows[0]["evidence"]) == {} and rows[0]["title"] == ESCAPES_SHOWN


def test_terminal_output_shows_markup_and_escapes_as_text(site: Site) -> None:
    runner = CliRunner()
    for title in (HOSTILE, ESCAPES):
        story = site.story_titled(title)["id"]
        result = runner.invoke(cli, ["story", str(story), "--db", site.db_url], env={"COLUMNS": "250"})
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout and "\u202e" not in result.stdout
    listed = runner.invoke(cli, ["stories", "-n", "500", "--db", site.db_url], env={"COLUMNS": "250"})
    assert listed.exit_code == 0 and "Hostile [/bold] headline" in listed.stdout
    shown = runner.invoke(cli, ["story", str(site.story_titled(HOSTILE)["id"]), "--db", site.db_url],
                          env={"COLUMNS": "250"})
    assert "<script>alert(1)</script> Hostile [/bold] headline" in shown.stdout
