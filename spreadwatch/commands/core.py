"""Core commands: demo, run, articles, check."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

ConfigOpt = typer.Option(None, "--config", "-c", help="Your YAML config (or $SPREADWATCH_CONFIG).")
DbOpt = typer.Option(None, "--db", help="Database URL (default from config, else sqlite:///spreadwatch.db).")


def _settings(config: Optional[Path], db: Optional[str] = None):  # type: ignore[no-untyped-def]
    """Every command's settings, through the same full validation as `check` (exit 2 on an error)."""
    from spreadwatch.validation import load_config

    return load_config(config, db)


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
        health_port: Optional[int] = typer.Option(None, "--health-port", help="Serve /healthz and /metrics on PORT."),
        health_host: str = typer.Option("127.0.0.1", "--health-host",
                                        help="Address for them: 0.0.0.0 in a container, so Prometheus can scrape."),
        log_json: bool = typer.Option(False, "--log-json", envvar="SPREADWATCH_LOG_JSON",
                                      help="Log one JSON object per line instead of key=value text.")) -> None:
    """Poll the configured outlets: once, or as a scheduled daemon.

    Exit codes: 0 every feed answered, 1 some feeds failed (each named), 2 the config is invalid,
    3 another process polls this PostgreSQL database (a pool's workers, or another `run`)."""
    from spreadwatch.exclusive import AnotherPoller, sole_poller

    settings = _settings(config, db)
    try:
        with sole_poller(settings):  # on PostgreSQL: not beside a pool's workers or another `run`
            _run(settings, once, health_port, health_host, log_json)
    except AnotherPoller as e:
        typer.echo(f"spreadwatch: {e}", err=True)
        raise typer.Exit(3) from None


def _run(settings, once: bool, health_port: Optional[int], health_host: str, log_json: bool) -> None:  # type: ignore[no-untyped-def]
    from spreadwatch.logs import configure_logging
    from spreadwatch.validation import require_secrets

    if once:
        from spreadwatch.report import print_cycle
        from spreadwatch.cycle import run_once

        configure_logging(as_json=log_json, level=logging.WARNING)
        console = Console()
        report = run_once(settings, progress=lambda fr: console.print(_progress_line(fr)))
        print_cycle(console, report)
        if any(fr.status == "error" for fr in report.feeds):
            raise typer.Exit(1)
        return
    from spreadwatch.daemon import run_daemon

    require_secrets(settings)  # the daemon sends alerts: a channel without its secret cannot work
    run_daemon(settings, health_port=health_port, health_host=health_host, log_json=log_json)


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
    with database.session(read_only=True) as s:
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


def check(config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt,
          network: bool = typer.Option(False, "--network",
                                       help="Also fetch every enabled feed once and connect to each email "
                                            "channel's server (nothing is stored or sent).")) -> None:
    """Validate the configuration and reach the database (and with --network the feeds), without running."""
    from spreadwatch.validation import require_secrets

    settings = _settings(config, db)  # an invalid file stops here, naming file, line and key
    console = Console()
    _check_config(console, settings)
    require_secrets(settings)  # where `check` runs is where the daemon runs: its variables must be set
    ok = _check_database(console, settings.database_url)
    if network:
        ok = _check_feeds(console, settings) and ok
        ok = _check_channels(console, settings) and ok
        _check_rendering(console, settings)  # advice, not a failure: those outlets still work with render
    if not ok:
        raise typer.Exit(1)


def _check_config(console: Console, settings) -> None:  # type: ignore[no-untyped-def]
    from alerts.config import alert_settings

    alerts = alert_settings(settings)  # validated already, by _settings
    feeds = sum(len(o.feeds) for o in settings.outlets if o.enabled)
    console.print(f"config ok: {len(settings.outlets)} outlets ({feeds} feeds enabled), "
                  f"{len(settings.watches)} watches, {len(alerts.rules)} alert rules, "
                  f"{len(alerts.channels)} channels, from {', '.join(settings.sources)}")


def _check_database(console: Console, url: str) -> bool:
    """Connect and report the schema's migration state; nothing is changed."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from storage import make_engine
    from storage.db import alembic_config

    if _sqlite_file_missing(url):
        return _check_sqlite_folder(console, url)
    engine = make_engine(url)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as c:
            current = set(MigrationContext.configure(c).get_current_heads())
    except Exception as e:  # any driver error: report it plainly
        console.print(f"[red]database unreachable[/]: {shown}: {e.__class__.__name__}: {e}")
        return False
    finally:
        engine.dispose()
    heads = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    state = "schema up to date" if current == heads else (
        "empty: the schema is created on first run" if not current else "older schema: migrated on first run")
    console.print(f"database ok: {shown} ({state})")
    return True


def _sqlite_file_missing(url: str) -> bool:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    db = parsed.database
    if parsed.get_backend_name() != "sqlite" or not db or db == ":memory:":
        return False
    return not Path(db).expanduser().exists()


def _check_sqlite_folder(console: Console, url: str) -> bool:
    """A SQLite file that does not exist yet: checking must not create it, only its folder must allow it."""
    import os

    from sqlalchemy.engine import make_url

    path = Path(make_url(url).database or "").expanduser().absolute()
    folder = next((p for p in path.parents if p.exists()), Path("/"))
    if not os.access(folder, os.W_OK | os.X_OK):
        console.print(f"[red]database cannot be created[/]: {path}: {folder} is not writable")
        return False
    console.print(f"database ok: {path} does not exist yet; it is created on first run")
    return True


def _check_feeds(console: Console, settings) -> bool:  # type: ignore[no-untyped-def]
    import asyncio

    results = asyncio.run(_probe_feeds(settings))
    for outlet, url, error, entries in results:
        if error:
            console.print(f"[red]✗[/] {outlet:<18} {url}  [red]{error}[/]")
        else:
            console.print(f"[green]✓[/] {outlet:<18} {url}  {entries} entries")
    failed = sum(1 for r in results if r[2])
    console.print(f"feeds: {len(results) - failed} of {len(results)} answered with a readable feed")
    return failed == 0


async def _probe_feeds(settings) -> list[tuple[str, str, Optional[str], int]]:  # type: ignore[no-untyped-def]
    """Fetch and parse each enabled feed once, through the same polite client the daemon uses."""
    import asyncio

    from crawler import CrawlError, Fetcher, poll_feed

    async def probe(fetcher: Fetcher, outlet: str, url: str) -> tuple[str, str, Optional[str], int]:
        try:
            poll = await poll_feed(fetcher, url)
        except CrawlError as e:
            return outlet, url, str(e), 0
        return outlet, url, None, len(poll.entries)

    async with Fetcher(settings.http) as fetcher:
        return list(await asyncio.gather(*(probe(fetcher, o.key, f.url) for o in settings.outlets if o.enabled
                                           for f in o.feeds)))


def _check_rendering(console: Console, settings) -> None:  # type: ignore[no-untyped-def]
    """Which enabled outlets look JavaScript-only without a browser (spiders/rendering.py decides)."""
    import asyncio

    from spiders.rendering import ScriptOnly, probe_outlets

    for key, found in asyncio.run(probe_outlets(settings)):
        if isinstance(found, ScriptOnly):
            console.print(f"[yellow]![/] {key:<18} {found.url}  looks JavaScript-only ({found.reason}): "
                          "set render: true on the outlet", markup=True, highlight=False, soft_wrap=True)
        else:
            console.print(f"[yellow]![/] {key:<18} could not be checked for JavaScript: {found}",
                          highlight=False, soft_wrap=True)


def _check_channels(console: Console, settings) -> bool:  # type: ignore[no-untyped-def]
    """Open (and close) a connection to each email channel's server; webhooks are not called."""
    import socket

    from alerts.config import alert_settings

    ok = True
    for chan in alert_settings(settings).channels:
        if chan.type != "email":
            continue
        try:
            socket.create_connection((chan.host, chan.port), timeout=chan.timeout_seconds).close()
            console.print(f"[green]✓[/] channel {chan.name}: {chan.host}:{chan.port} accepts connections")
        except OSError as e:
            console.print(f"[red]✗[/] channel {chan.name}: {chan.host}:{chan.port}: {e.strerror or e}")
            ok = False
    return ok
