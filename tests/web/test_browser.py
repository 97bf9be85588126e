"""A real headless Chromium (Debian's package, driven by Playwright) against the app on 127.0.0.1:
the story list loads, the story page draws the timeline with one point per article and one arrow per
link, a hostile headline shows as text and runs nothing. Screenshots are kept in artifacts/."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.web.conftest import ARTIFACTS, HOSTILE, Site, chromium



DIALOGS: list[str] = []  # an alert() from a hostile headline would land here


def note_dialog(dialog: Any) -> None:
    DIALOGS.append(dialog.message)
    dialog.dismiss()


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        tab.set_default_timeout(15000)
        tab.on("dialog", note_dialog)
        yield tab


def test_story_list_loads_with_every_story(site: Site, page: Any) -> None:
    stories = site.get("/api/stories", params={"limit": 200}).json()
    page.goto(site.base + "/")
    rows = page.locator("tr.story-row")
    assert rows.count() == len(stories)
    assert [int(rows.nth(i).get_attribute("data-id")) for i in range(rows.count())] == [s["id"] for s in stories]
    assert page.get_by_role("link", name=HOSTILE, exact=True).count() == 1  # shown as text
    assert page.locator("script").count() == 0 and DIALOGS == []
    page.locator("input[name=language]").fill("it")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/?*language=it*")
    assert page.locator("tr.story-row").count() == len(site.get("/api/stories", params={"language": "it"}).json())
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(site.base + "/")
    page.screenshot(path=str(ARTIFACTS / "story-list.png"), full_page=True)


def test_story_page_draws_the_timeline(site: Site, page: Any, rumour: dict[str, Any]) -> None:
    n = len(rumour["articles"])
    linked = sum(a["source"] is not None for a in rumour["articles"])
    page.goto(f"{site.base}/stories/{rumour['story']['id']}")
    svg = page.locator("svg.sw-timeline")
    assert svg.count() == 1 and svg.bounding_box()["width"] > 900
    assert page.locator("svg.sw-timeline .sw-point").count() == n
    assert page.locator("svg.sw-timeline .sw-arrow").count() == linked == n - 1
    assert page.locator("svg.sw-timeline .sw-denial").count() == len(rumour["denials"]) == 3
    assert page.locator("svg.sw-timeline .sw-origin").count() == 1
    for point in page.locator("svg.sw-timeline .sw-point").all():  # every point is drawn, not only in the DOM
        box = point.bounding_box()
        assert box is not None and 12 <= box["width"] <= 30
    rows = page.locator("tr.article-row")
    assert rows.count() == n
    shown = sorted(int(rows.nth(i).get_attribute("data-id")) for i in range(n))
    assert shown == sorted(a["id"] for a in rumour["articles"])
    assert page.locator("tr.article-row[data-depth='2']").count() >= 1  # copies of copies sit deeper
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "story-page.png"), full_page=True)
    assert (ARTIFACTS / "story-page.png").stat().st_size > 10_000


def test_hostile_headline_is_shown_as_text(site: Site, page: Any) -> None:
    story = site.story_titled(HOSTILE)
    page.goto(f"{site.base}/stories/{story['id']}")
    assert page.locator("h1").inner_text() == HOSTILE
    assert page.locator("svg.sw-timeline .sw-title").text_content() == HOSTILE
    assert page.locator("script").count() == 0 and DIALOGS == []


def test_docs_render_without_internet(site: Site, page: Any) -> None:
    """Swagger UI from the package's own files: every request the page makes goes to this server."""
    requested: list[str] = []

    def note(request: Any) -> None:
        requested.append(request.url)

    page.on("request", note)
    try:
        page.goto(site.base + "/docs")
        page.locator(".opblock-summary-path").first.wait_for()  # the operations are drawn from /openapi.json
    finally:
        page.remove_listener("request", note)
    paths = {p.get_attribute("data-path") for p in page.locator(".opblock-summary-path").all()}
    assert {"/api/stories", "/api/stories/{story_id}", "/stories/{story_id}/timeline.svg"} <= paths
    assert requested and all(url.startswith(site.base) for url in requested), requested
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "docs.png"))


def test_a_missing_story_is_an_html_page_in_the_browser(site: Site, page: Any) -> None:
    response = page.goto(site.base + "/stories/999999")
    assert response is not None and response.status == 404
    assert page.locator("h1#error").inner_text() == "404 Not Found"
    assert page.get_by_role("link", name="All stories").count() == 1
