"""The desk through a real headless Chromium (Debian's, driven by Playwright): each correction made
on the story page holds when the next article arrives and through a full rebuild; undo, mute and
acknowledge from the page; a write without the form's CSRF value, or with the read token, is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from sqlalchemy import select

from alerts.sinks import free_port
from spreadwatch import desk as actions
from storage import Alert, Correction, Link
from tests.alerts.replayed import KOSOVO, POLITICO
from tests.spreadwatch.test_desk import Desk
from tests.web.conftest import ARTIFACTS, chromium, serve
from web.app import create_app

DESK_TOKEN = "desk secret/ana"
READ_TOKEN = "read-only"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


class Served(Desk):
    """The desk's database behind the app on 127.0.0.1, and a browser tab with the desk token."""

    def __init__(self, tmp_path: Path, db_url: str, browser: Any) -> None:
        super().__init__(tmp_path, db_url)
        app = create_app(self.settings, token=READ_TOKEN, desk_tokens={"ana": DESK_TOKEN})
        self.port = free_port()
        self.server = serve(app, self.port)
        self.base = f"http://127.0.0.1:{self.port}"
        self.tab = browser.new_page(viewport={"width": 1400, "height": 900})
        self.tab.set_default_timeout(20000)

    def open(self, story: int) -> None:
        self.tab.goto(f"{self.base}/stories/{story}?{httpx.QueryParams({'token': DESK_TOKEN})}")

    def submit(self, form: Any) -> None:
        """Press the form's button and wait for the page the redirect leads to."""
        with self.tab.expect_navigation():
            form.locator("button").click()

    def rows(self) -> list[int]:
        return [int(x) for x in self.tab.locator("tr.article-row").evaluate_all("rs => rs.map(r => r.dataset.id)")]

    def close(self) -> None:
        self.tab.close()
        self.server.should_exit = True


@pytest.fixture
def site(tmp_path: Path, sqlite_url: str, browser: Any) -> Iterator[Served]:
    served = Served(tmp_path, sqlite_url, browser)
    yield served
    served.close()


def test_merge_from_the_page_holds(site: Served) -> None:
    kosovo, politico = site.story(site.ids(KOSOVO)), site.story(site.ids(POLITICO))
    site.open(kosovo)
    site.tab.locator("#merge-form input[name=other]").fill(str(politico))
    site.submit(site.tab.locator("#merge-form"))
    assert site.tab.url.startswith(f"{site.base}/stories/{kosovo}?")
    assert sorted(site.rows()) == sorted(site.ids(KOSOVO) + site.ids(POLITICO))
    row = site.tab.locator("tr.correction-row")
    assert row.count() == 1 and "ana" in row.inner_text() and row.get_attribute("data-kind") == "merge"
    newcomer = site.arrive(POLITICO, 6)
    site.rebuild()
    assert site.story(site.ids(KOSOVO) + site.ids(POLITICO) + [newcomer]) == kosovo


def test_split_from_the_page_holds(site: Served) -> None:
    kosovo = site.story(site.ids(KOSOVO))
    leaving = site.ids(KOSOVO, 5, 8)
    site.open(kosovo)
    for aid in leaving:
        site.tab.locator(f"tr.article-row[data-id='{aid}'] input[name=article]").check()
    site.submit(site.tab.locator("#split-form"))
    part = site.story(leaving)
    assert part != kosovo and site.tab.url.startswith(f"{site.base}/stories/{part}?")
    assert sorted(site.rows()) == leaving
    for n in (8, 9):
        site.arrive(KOSOVO, n)
    site.rebuild()
    assert site.story(leaving) == part and site.story(site.ids(KOSOVO, 0, 5)) == kosovo


def test_move_from_the_page_holds(site: Served) -> None:
    kosovo, politico = site.story(site.ids(KOSOVO)), site.story(site.ids(POLITICO))
    moved = site.ids(KOSOVO, 6, 7)[0]
    site.open(kosovo)
    row = site.tab.locator(f"tr.article-row[data-id='{moved}']")
    row.locator("form.move input[name=to]").fill(str(politico))
    site.submit(row.locator("form.move"))
    assert site.tab.url.startswith(f"{site.base}/stories/{politico}?") and moved in site.rows()
    site.arrive(KOSOVO, 8)
    site.rebuild()
    assert site.stories_of([moved]) == {politico}


def test_a_link_kind_and_a_source_from_the_page_hold(site: Served) -> None:
    kosovo = site.story(site.ids(KOSOVO))
    site.open(kosovo)
    copy_row = site.tab.locator("tr.article-row[data-kind='copy']").first
    copy = int(copy_row.get_attribute("data-id"))
    site.submit(copy_row.locator("form.link"))
    assert site.tab.locator(f"tr.article-row[data-id='{copy}']").get_attribute("data-kind") != "copy"
    ids = site.ids(KOSOVO)
    target = ids[5]
    row = site.tab.locator(f"tr.article-row[data-id='{target}']")
    row.locator("form.source input[name=from]").fill(str(ids[1]))
    site.submit(row.locator("form.source"))
    site.arrive(KOSOVO, 8)
    site.rebuild()
    with site.db.session() as s:
        links = {l.article_id: l for l in s.scalars(select(Link).where(Link.article_id.in_([copy, target])))}
    assert links[copy].kind != "copy" and links[target].source_article_id == ids[1]
    site.open(kosovo)
    assert site.tab.locator("tr.correction-row").count() == 2


def test_undo_mute_and_acknowledge_from_the_page(site: Served) -> None:
    kosovo, politico = site.story(site.ids(KOSOVO)), site.story(site.ids(POLITICO))
    with site.db.session() as s:
        actions.merge(s, kosovo, politico, "ana", site.settings)
    site.open(kosovo)
    site.submit(site.tab.locator("tr.correction-row form.undo-form"))
    assert site.story(site.ids(KOSOVO)) != site.story(site.ids(POLITICO))
    site.open(kosovo)
    assert "(undone)" in site.tab.locator("tr.correction-row").inner_text()
    alert = site.tab.locator("tr.alert-row").first
    alert_id = int(alert.get_attribute("data-id"))
    site.submit(alert.locator("form.ack-form"))
    assert "acknowledged by ana" in site.tab.locator(f"tr.alert-row[data-id='{alert_id}']").inner_text()
    site.tab.locator("#mute-form input[name=upto]").fill("10")
    site.submit(site.tab.locator("#mute-form"))
    assert "Muted by ana up to 10 outlets" in site.tab.locator("#muted").inner_text()
    with site.db.session() as s:
        assert s.get_one(Alert, alert_id).acknowledged_by == "ana"
    assert site.tab.locator("script").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    site.tab.screenshot(path=str(ARTIFACTS / "story-desk.png"), full_page=True)


def test_writes_need_the_desk_token_and_the_forms_csrf_value(site: Served) -> None:
    kosovo, politico = site.story(site.ids(KOSOVO)), site.story(site.ids(POLITICO))
    url = f"{site.base}/stories/{kosovo}/merge"
    form = {"other": str(politico)}
    no_csrf = httpx.post(url, params={"token": DESK_TOKEN}, data=form, timeout=30)
    assert no_csrf.status_code == 403 and "expired" in no_csrf.text
    forged = httpx.post(url, params={"token": DESK_TOKEN}, data={**form, "csrf": "1700000000.abc"}, timeout=30)
    assert forged.status_code == 403
    site.open(kosovo)  # a valid value, but sent with the read token: still not a desk user
    csrf = site.tab.locator("#merge-form input[name=csrf]").get_attribute("value")
    read_only = httpx.post(url, params={"token": READ_TOKEN}, data={**form, "csrf": csrf}, timeout=30)
    assert read_only.status_code == 403
    assert httpx.post(url, data={**form, "csrf": csrf}, timeout=30).status_code == 401
    page = httpx.get(f"{site.base}/stories/{kosovo}", params={"token": READ_TOKEN}, timeout=30).text
    assert "merge-form" not in page  # the read token sees the history, not the forms
    with site.db.session() as s:
        assert s.scalars(select(Correction)).all() == []
    ok = httpx.post(url, params={"token": DESK_TOKEN}, data={**form, "csrf": csrf}, timeout=30,
                    follow_redirects=False)
    assert ok.status_code == 303
    assert site.story(site.ids(KOSOVO) + site.ids(POLITICO)) == kosovo
