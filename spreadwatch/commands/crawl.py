"""crawl, outlets: run the spiders; see each outlet's health."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from spreadwatch.commands.core import ConfigOpt, DbOpt, _settings
from web.history import plain


def register(app: typer.Typer) -> None:
    app.command("crawl")(crawl)
    app.command("outlets")(outlets)


def crawl(outlet: Optional[list[str]] = typer.Argument(None, help="Outlet keys (default: every enabled outlet "
                                                                  "with sitemaps, listings or JSON endpoints)."),
          pages: int = typer.Option(200, "--pages", min=1, help="Stop after this many pages (robots.txt included)."),
          cache: bool = typer.Option(False, "--cache", help="Scrapy's HTTP cache in ./spreadwatch-httpcache, "
                                                            "for developing a spider: repeated runs stay offline."),
          timeout: float = typer.Option(600, "--timeout", min=10, help="Kill the crawl after this many seconds."),
          render_pages: int = typer.Option(50, "--render-pages", min=0,
                                           help="At most this many pages rendered in the browser (render: outlets)."),
          config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Crawl outlets that have no usable feed (news sitemaps, listing pages, JSON endpoints).

    Exit codes: 0 every outlet crawled without an error, 1 an outlet had errors (each named) or the
    crawl failed, 2 the config is invalid."""
    from spiders import run_crawl

    report = run_crawl(_settings(config, db), outlet or None, page_limit=pages,
                       cache_dir=Path("spreadwatch-httpcache") if cache else None, timeout=timeout,
                       render_pages=render_pages)
    typer.echo(report.summary())
    for key, o in report.outlets.items():
        for e in o.errors[:5]:
            typer.echo(f"  {key}: {e}", err=True)
        if len(o.errors) > 5:
            typer.echo(f"  {key}: ... and {len(o.errors) - 5} more (the last one is on `spreadwatch outlets`)", err=True)
    if report.error or any(o.errors for o in report.outlets.values()):
        raise typer.Exit(1)


def outlet_health(database: Any) -> list[dict[str, Any]]:
    """Per outlet: last success, last error, failures, articles in the last 24 h, feeds."""
    from sqlalchemy import func, select

    from storage import Article, Feed, Outlet, utcnow
    from storage.queries import iso

    since = utcnow() - timedelta(hours=24)
    with database.session(read_only=True) as s:
        recent = dict(s.execute(select(Article.outlet_id, func.count(Article.id))
                                .where(Article.first_seen_at >= since).group_by(Article.outlet_id)).all())
        feeds: dict[int, list[dict[str, Any]]] = {}
        for f in s.scalars(select(Feed)):
            feeds.setdefault(f.outlet_id, []).append({"url": f.url, "failures": f.failures, "last_error": f.last_error,
                                                      "last_warning": f.last_warning, "last_ok_at": iso(f.last_ok_at),
                                                      "next_poll_at": iso(f.next_poll_at)})
        return [{"key": o.key, "name": o.name, "last_ok_at": iso(o.last_ok_at), "last_error": o.last_error,
                 "last_error_at": iso(o.last_error_at), "failures": o.failures, "articles_24h": recent.get(o.id, 0),
                 "feeds": feeds.get(o.id, [])} for o in s.scalars(select(Outlet).order_by(Outlet.key))]


def outlets(as_json: bool = typer.Option(False, "--json"), config: Optional[Path] = ConfigOpt,
            db: Optional[str] = DbOpt) -> None:
    """Health per outlet: last success, last error, articles in the last 24 hours."""
    from storage import Database

    rows = outlet_health(Database(_settings(config, db).database_url))
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Outlets ({len(rows)})")
    for col in ("outlet", "last ok", "articles 24h", "failures", "next try", "last error"):
        table.add_column(col, overflow="fold")
    for r in rows:
        err = r["last_error"] or next((f["last_warning"] for f in r["feeds"] if f["last_warning"]), "") or ""
        # when a failing feed is tried again (its backoff), so an operator knows whether to wait
        retry = min((f["next_poll_at"] for f in r["feeds"] if f["failures"] and f["next_poll_at"]), default="")
        last_ok = (r["last_ok_at"] or "never")[:16].replace("T", " ")
        table.add_row(r["key"], last_ok, str(r["articles_24h"]), str(r["failures"]), retry[:16].replace("T", " "),
                      Text(plain(err[:120])), style="red" if r["last_error"] else "")
    Console().print(table)
