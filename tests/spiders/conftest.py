"""The recorded sites of tests/data/spiders, each served by a real HTTP server on its own 127.0.0.1 port."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from spreadwatch.localserver import LocalServer, Request, Response

DATA = Path(__file__).resolve().parents[1] / "data" / "spiders"
SITES = ("wordpress", "pangea", "custom", "tanjug", "trt", "kosovapress")
_TYPES = {".html": "text/html; charset=utf-8", ".xml": "application/xml", ".json": "application/json",
          ".txt": "text/plain", ".js": "application/javascript"}


class RecordedSite:
    """One folder of tests/data/spiders over HTTP; its real origin in the files becomes this server's."""

    def __init__(self, name: str) -> None:
        self.folder = DATA / name
        spec = yaml.safe_load((self.folder / "routes.yaml").read_text(encoding="utf-8"))
        self.origin: str = spec["origin"]
        self.server = LocalServer()
        variants: dict[str, dict[str, dict[str, Any]]] = {}  # path -> query -> route
        for target, route in spec["routes"].items():
            path, _, query = target.partition("?")
            variants.setdefault(path, {})[query] = route
        for path, by_query in variants.items():
            self.server.route(path, self._handler(by_query))

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def url(self, path: str) -> str:
        return self.server.url(path)

    def hits(self, path: str) -> list[Request]:
        return self.server.hits(path)

    def _handler(self, by_query: dict[str, dict[str, Any]]):  # type: ignore[no-untyped-def]
        def handle(req: Request) -> Response:
            route = by_query.get(req.query) or by_query.get("")
            if route is None:
                return Response(404, b"not found", {"Content-Type": "text/plain"})
            return self._respond(route)
        return handle

    def _respond(self, route: dict[str, Any]) -> Response:
        status = int(route.get("status", 200))
        if "location" in route:
            return Response(status, b"", {"Location": self._local(route["location"].encode()).decode()})
        body = self._body(route)
        headers = {"Content-Type": route.get("type") or _TYPES.get(Path(route["file"]).suffix, "text/plain"),
                   **route.get("headers", {})}
        return Response(status, gzip.compress(body) if route.get("gzip") else body, headers,
                        delay=float(route.get("delay", 0)))  # a server that takes its time (or hangs)

    def _body(self, route: dict[str, Any]) -> bytes:
        body = self._local((self.folder / route["file"]).read_bytes())
        if "pad_to" in route:
            chunk = route["pad_with"].encode("utf-8")
            body = body.replace(b"{{PAD}}", chunk * (int(route["pad_to"]) // len(chunk) + 1))
        return body

    def _local(self, data: bytes) -> bytes:
        # origins are ASCII, so this works on windows-1250 pages as well as UTF-8 ones
        return data.replace(self.origin.encode("ascii"), self.base_url.encode("ascii"))


class Sites(dict):  # type: ignore[type-arg]
    """Recorded sites by folder name, each started on first use."""

    def __missing__(self, name: str) -> RecordedSite:
        site = self[name] = RecordedSite(name)
        site.server.start()
        return site


@pytest.fixture
def sites() -> Iterator[Sites]:
    """The recorded sites (started as a test asks for them); stopped after the test."""
    started = Sites()
    try:
        yield started
    finally:
        stoppers = [threading.Thread(target=site.server.stop) for site in started.values()]
        for t in stoppers:  # in parallel: each stop waits for its server's poll interval
            t.start()
        for t in stoppers:
            t.join(timeout=10)


def start_all(sites: Sites) -> Sites:
    """Every recorded site, started."""
    for name in SITES:
        _ = sites[name]
    return sites
