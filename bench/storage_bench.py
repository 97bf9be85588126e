"""Storage: rows per second written by our ingest's storage path vs a bare Core executemany, same schema.

On SQLite (a temporary file, WAL, as storage/db.py sets it up) and on the local PostgreSQL (a
scratch database created for the run and dropped after it), each side writing into its own fresh
database, alternately in chunks of the same generated articles:
- article rows, ours: ingest() as the poller calls it, one transaction per article (URL check,
  outlet, savepoint, ORM insert, commit), with story placement and alerts switched off and no
  watches, so only its storage work is timed;
- article rows, floor: SQLAlchemy Core executemany of the same rows, one transaction per chunk;
- article rows, reference: Core, one row per transaction, to show what one transaction per article
  (the house rule: every write of one article is one transaction) costs by itself;
- LSH band rows (16 per article), ours: storage.stories_repo.save_bands (ORM) with a flush, one
  transaction per article, vs Core executemany of the same rows.

    python -m bench.storage_bench [--quick] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from unittest import mock

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

import spreadwatch.ingest
from bench.figures import Figure, interleaved, table
from bench.pages import GenArticle, build_site
from crawler.draft import ArticleDraft
from spreadwatch.settings import OutletConfig, Settings, load_settings
from storage import Article, Database, LshBand, Outlet
from storage import stories_repo as repo

PG_ADMIN = os.environ.get("SPREADWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def run(quick: bool = True, pg_admin: str | None = PG_ADMIN) -> list[Figure]:
    """The storage figures on SQLite, then on PostgreSQL unless `pg_admin` is None."""
    arts = build_site(600 if quick else 3000, "http://127.0.0.1").articles
    figures = _backend("sqlite", _sqlite_urls, arts, quick)
    if pg_admin:
        figures += _backend("postgresql", lambda: _pg_urls(pg_admin), arts, quick)
    return figures


@contextmanager
def _sqlite_urls() -> Iterator[Callable[[str], str]]:
    with tempfile.TemporaryDirectory(prefix="swbench-storage-") as tmp:
        yield lambda name: f"sqlite:///{Path(tmp) / name}.db"


@contextmanager
def _pg_urls(admin_url: str) -> Iterator[Callable[[str], str]]:
    """Scratch databases on the PostgreSQL server, all dropped at the end."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def url(name: str) -> str:
        db = f"swbench_{os.getpid()}_{name}"
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{db}"'))
        made.append(db)
        return make_url(admin_url).set(database=db).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as c:
            for db in made:
                c.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


def _backend(name: str, urls: Callable[[], Any], arts: list[GenArticle], quick: bool) -> list[Figure]:
    with urls() as url_for:
        dbs = {side: Database(url_for(side)) for side in ("ours", "core", "per_row", "bands", "bands_core")}
        try:
            return _measure(name, dbs, arts, quick)
        finally:
            for db in dbs.values():
                db.dispose()


def _measure(backend: str, dbs: dict[str, Database], arts: list[GenArticle], quick: bool) -> list[Figure]:
    settings = _settings(arts)
    ids = {side: _outlets(dbs[side], settings) for side in ("core", "per_row", "bands", "bands_core")}
    drafts = [_draft(a) for a in arts]
    with mock.patch.object(spreadwatch.ingest, "_place_and_alert", lambda *a, **k: None):
        rates, n = interleaved({
            "ours": lambda part: _ingest(dbs["ours"], settings, part),
            "core": lambda part: _core(dbs["core"], ids["core"], part),
            "per_row": lambda part: _core_per_row(dbs["per_row"], ids["per_row"], part),
        }, drafts, budget=15 if quick else 60, chunk=50)
        bands = _band_rows(dbs, quick)
    return [
        Figure("storage", f"article rows: ingest() storage path, {backend}", "rows/s", rates["ours"],
               "Core executemany, same rows", rates["core"], n, note="1 transaction/article"),
        Figure("storage", f"ref: Core, 1 row per transaction, {backend}", "rows/s", rates["per_row"],
               "Core executemany, same rows", rates["core"], n, note="the transaction's own price"),
        bands,
    ]


def _settings(arts: list[GenArticle]) -> Settings:
    outlets = sorted({a.outlet for a in arts})
    return load_settings().with_overrides(outlets=[OutletConfig(key=k, name=k) for k in outlets], watches=[])


def _outlets(db: Database, settings: Settings) -> dict[str, int]:
    """The outlet rows, written up front; their ids by key."""
    with db.engine.begin() as c:
        c.execute(insert(Outlet), [{"key": o.key, "name": o.name, "failures": 0} for o in settings.outlets])
        return {k: i for i, k in c.execute(select(Outlet.id, Outlet.key)).all()}


def _draft(a: GenArticle) -> ArticleDraft:
    url = f"https://{a.outlet}.example{a.path}"
    return ArticleDraft(outlet_key=a.outlet, url=url, canonical_url=url, title=a.title,
                        text="\n\n".join(a.paragraphs), language=a.language, published_at=a.published, via="bench")


def _ingest(db: Database, settings: Settings, part: Sequence[ArticleDraft]) -> None:
    for draft in part:
        with db.session() as s:  # as spreadwatch/cycle.py does: one transaction per article
            spreadwatch.ingest.ingest(s, draft, settings)


def _row(ids: dict[str, int], d: ArticleDraft) -> dict[str, Any]:
    """The article row ingest() writes, built without ingest()."""
    return {"outlet_id": ids[d.outlet_key], "canonical_url": d.canonical_url, "url": d.url, "title": d.title,
            "text": d.text, "language": d.language, "published_at": d.published_at,
            "first_seen_at": datetime.now(timezone.utc), "via": d.via, "links": [], "extraction_note": None,
            "content_hash": hashlib.sha256(d.text.encode("utf-8")).hexdigest()}


def _core(db: Database, ids: dict[str, int], part: Sequence[ArticleDraft]) -> None:
    with db.engine.begin() as c:
        c.execute(insert(Article), [_row(ids, d) for d in part])


def _core_per_row(db: Database, ids: dict[str, int], part: Sequence[ArticleDraft]) -> None:
    for d in part:
        with db.engine.begin() as c:
            c.execute(insert(Article), [_row(ids, d)])


def _band_rows(dbs: dict[str, Database], quick: bool) -> Figure:
    """16 band rows per article: save_bands (ORM, flush, a transaction per article) vs executemany."""
    articles = 300 if quick else 1500
    for side in ("bands", "bands_core"):
        with dbs[side].engine.begin() as c:  # the articles the band rows point at
            c.execute(insert(Article), [{"id": i + 1, "outlet_id": 1, "canonical_url": f"https://x.example/{i}",
                                         "url": "", "title": "", "text": "", "language": "", "via": "bench",
                                         "first_seen_at": datetime.now(timezone.utc), "links": [],
                                         "content_hash": ""} for i in range(articles)])
    keys = [[hash((i, b)) % 2**31 for b in range(16)] for i in range(articles)]
    backend = make_url(dbs["bands"].url).get_backend_name()
    rates, n = interleaved({
        "ours": lambda part: _save_bands(dbs["bands"], part, keys),
        "core": lambda part: _bands_core(dbs["bands_core"], part, keys),
    }, list(range(articles)), budget=10 if quick else 30, chunk=50)
    return Figure("storage", f"LSH band rows: stories_repo.save_bands, {backend}", "rows/s", 16 * rates["ours"],
                  "Core executemany, same rows", 16 * rates["core"], 16 * n, note="1 transaction/article")


def _save_bands(db: Database, part: Sequence[int], keys: list[list[int]]) -> None:
    for i in part:
        with db.session() as s:
            repo.save_bands(s, i + 1, keys[i])
            s.flush()


def _bands_core(db: Database, part: Sequence[int], keys: list[list[int]]) -> None:
    with db.engine.begin() as c:
        c.execute(insert(LshBand), [{"article_id": i + 1, "band": b, "key": k}
                                    for i in part for b, k in enumerate(keys[i])])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pg", default=PG_ADMIN, help="admin URL of a PostgreSQL server ('' to skip)")
    args = ap.parse_args()
    print(table(run(args.quick, args.pg or None)))


if __name__ == "__main__":
    main()
