"""`spreadwatch serve` as a process, as a user and their tools meet it: the token never lands in the
access log, HEAD answers like GET without a body, a browser gets HTML error pages while the API keeps
JSON, and /docs is served from this server alone."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from alerts.sinks import free_port
from tests.web.conftest import Site
from tests.web.test_cli import wait_for

TOKEN = "tok-3x4mple"
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}  # what a browser sends


@pytest.fixture(scope="module")
def served(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`spreadwatch serve --token` over the web tests' database: its address and its log file."""
    port, folder = free_port(), tmp_path_factory.mktemp("serve")
    log_path = folder / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPREADWATCH_")}
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "spreadwatch", "serve", "--port", str(port), "--token",
                                 TOKEN, "--db", site.db_url], env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_for(f"http://127.0.0.1:{port}/api/stories", {"token": TOKEN}) == 200
        yield f"http://127.0.0.1:{port}", log_path
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_the_token_is_masked_in_the_access_log(served: tuple[str, Path]) -> None:
    base, log = served
    assert httpx.get(base + "/", params={"token": TOKEN, "watch": "kfor-withdrawal"}, timeout=10).status_code == 200
    assert httpx.get(base + "/api/stories", params={"limit": 2, "token": TOKEN}, timeout=10).status_code == 200
    assert httpx.get(base + "/api/stories", params={"token": "wrong-guess"}, timeout=10).status_code == 401
    text = log.read_text()
    assert TOKEN not in text and "wrong-guess" not in text
    assert re.search(r'"GET /\?token=\[redacted\]&watch=kfor-withdrawal HTTP/1.1" 200', text), text[-2000:]
    assert re.search(r'"GET /api/stories\?limit=2&token=\[redacted\] HTTP/1.1" 200', text)


def test_head_answers_as_get_without_a_body(served: tuple[str, Path], rumour: dict[str, Any]) -> None:
    base, _ = served
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for path in ("/", f"/stories/{rumour['story']['id']}", "/api/stories", f"/stories/{rumour['story']['id']}/timeline.png",
                 "/docs", "/openapi.json"):
        head = httpx.head(base + path, headers=auth, timeout=30)
        get = httpx.get(base + path, headers=auth, timeout=30)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"], path
        assert int(head.headers["content-length"]) == len(get.content), path
    assert httpx.head(base + "/stories/999999", headers=auth, timeout=10).status_code == 404
    assert httpx.head(base + "/", timeout=10).status_code == 401


def test_browsers_get_html_error_pages_and_the_api_keeps_json(served: tuple[str, Path]) -> None:
    base, _ = served
    page = httpx.get(base + "/stories/999999", params={"token": TOKEN}, headers=HTML, timeout=10)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert '<h1 id="error" data-status="404">404 Not Found</h1>' in page.text and "No story 999999." in page.text
    assert f'href="/?token={TOKEN}"' in page.text  # the way back keeps the token
    locked = httpx.get(base + "/", headers=HTML, timeout=10)
    assert locked.status_code == 401 and "401 Unauthorized" in locked.text and locked.headers["www-authenticate"]
    bad = httpx.get(base + "/stories/abc", params={"token": TOKEN}, headers=HTML, timeout=10)
    assert bad.status_code == 422 and "The address is not valid" in bad.text
    missing = httpx.get(base + "/no/such/page", params={"token": TOKEN}, headers=HTML, timeout=10)
    assert missing.status_code == 404 and "404 Not Found" in missing.text
    api = httpx.get(base + "/api/stories/999999", params={"token": TOKEN}, headers=HTML, timeout=10)
    assert api.status_code == 404 and api.json() == {"detail": "no story 999999"}
    plain_client = httpx.get(base + "/stories/999999", params={"token": TOKEN}, timeout=10)
    assert plain_client.status_code == 404 and plain_client.json() == {"detail": "no story 999999"}


def test_docs_are_served_from_this_server_alone(served: tuple[str, Path]) -> None:
    base, _ = served
    docs = httpx.get(base + "/docs", timeout=10)  # open without the token: it holds no data
    assert docs.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert sources and all(s.startswith("/docs/") for s in sources), sources
    assert "script-src 'self'" in docs.headers["content-security-policy"] and "<script>" not in docs.text
    for src in sources:
        assert httpx.get(base + src, timeout=10).status_code == 200, src
