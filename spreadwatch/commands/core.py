"""Core commands: demo, run, articles, check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

ConfigOpt = typer.Option(None, "--config", "-c", help="Your YAML config (or $SPREADWATCH_CONFIG).")
DbOpt = typer.Option(None, "--db", help="Database URL (default from config, else sqlite:///spreadwatch.db).")


def _settings(config: Optional[Path], db: Optional[str] = None):  # type: ignore[no-untyped-def]
    from spreadwatch.settings import load_settings

    settings = load_settings(config)
    return settings.with_overrides(database_url=db) if db else settings


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("run")(run)
    app.command("articles")(articles)
    app.command("check")(check)


def demo(db: Optional[str] = DbOpt, config: Optional[Path] = ConfigOpt,
         quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the summary.")) -> None:
    """Run the offline demo: a local replay newsroom on 127.0.0.1, one full cycle, what it found."""
    from spreadwatch.demo import run_demo

    run_demo(_settings(config, db), console=Console(), quiet=quiet)


def run(once: bool = typer.Option(False, "--once", help="One cycle, then exit."),
        config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt,
        health_port: Optional[int] = typer.Option(None, "--health-port")) -> None:
    """Poll the configured outlets: once, or as a scheduled daemon."""
    settings = _settings(config, db)
    if once:
        from spreadwatch.report import print_cycle
        from spreadwatch.cycle import run_once

        console = Console()
        report = run_once(settings, progress=lambda fr: console.print(_progress_line(fr)))
        print_cycle(console, report)
        return
    from spreadwatch.daemon import run_daemon

    run_daemon(settings, health_port=health_port)


def _progress_line(fr) -> str:  # type: ignore[no-untyped-def]
    if fr.status == "error":
        return f"[red]✗[/] {fr.outlet:<18} {fr.url}  [red]{fr.error}[/]"
    if fr.status == "not-modified":
        return f"[dim]= {fr.outlet:<18} not modified (304)[/]"
    warn = f"  [yellow]warning: {fr.warning}[/]" if fr.warning else ""
    return f"[green]✓[/] {fr.outlet:<18} {fr.entries} entries, {fr.new} new, {fr.matched} matched{warn}"


def articles(watch: Optional[str] = typer.Option(None, "--watch", "-w", help="Only articles matching this watch."),
             as_json: bool = typer.Option(False, "--json"), limit: int = typer.Option(50, "--limit", "-n"),
             config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """List stored articles, newest first."""
    from storage import Database
    from storage.queries import list_articles

    settings = _settings(config, db)
    database = Database(settings.database_url)
    with database.session() as s:
        rows = list_articles(s, watch=watch, limit=limit)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Articles{f' matching {watch}' if watch else ''} ({len(rows)})")
    for col in ("id", "published", "outlet", "lang", "title", "watches"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(str(r["id"]), (r["published_at"] or "")[:16], r["outlet"], r["language"],
                      r["title"][:80], ", ".join(m["watch"] for m in r["matches"]))
    Console().print(table)


def check(config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Validate the configuration and reach the database, without polling anything."""
    from sqlalchemy import text

    from storage import make_engine

    settings = _settings(config, db)
    console = Console()
    feeds = sum(len(o.feeds) for o in settings.outlets if o.enabled)
    console.print(f"config ok: {len(settings.outlets)} outlets ({feeds} feeds enabled), "
                  f"{len(settings.watches)} watches, from {', '.join(settings.sources)}")
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as c:
            c.execute(text("select 1"))
    except Exception as e:  # any driver error: report it plainly
        console.print(f"[red]database unreachable[/]: {settings.database_url}: {e.__class__.__name__}: {e}")
        raise typer.Exit(1)
    console.print(f"database ok: {engine.url.render_as_string(hide_password=True)}")
