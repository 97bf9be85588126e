"""The worker pool's commands: worker, workers, migrate (README "Scaling out")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from spreadwatch.commands.core import ConfigOpt, DbOpt, _settings


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.command("workers")(workers)
    app.command("migrate")(migrate)


def _pool_settings(config: Optional[Path], db: Optional[str]):  # type: ignore[no-untyped-def]
    from spreadwatch.pool import NotPostgres, require_postgres

    settings = _settings(config, db)
    try:
        require_postgres(settings.database_url)
    except NotPostgres as e:
        typer.echo(f"spreadwatch: {e}", err=True)
        raise typer.Exit(2) from None
    return settings


def worker(concurrency: int = typer.Option(8, "--concurrency", "-n", min=1, help="Jobs this worker runs at once."),
           config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt,
           name: Optional[str] = typer.Option(None, "--name", help="This worker's name (default host-pid)."),
           health_port: Optional[int] = typer.Option(None, "--health-port", help="Serve /healthz on PORT."),
           health_host: str = typer.Option("127.0.0.1", "--health-host", help="Address for /healthz."),
           log_json: bool = typer.Option(False, "--log-json", envvar="SPREADWATCH_LOG_JSON",
                                         help="Log one JSON object per line.")) -> None:
    """Join the worker pool that shares this PostgreSQL database (polls, pages, placement, alerts).

    Exit codes: 0 stopped cleanly, 1 the database failed, 2 the config is invalid or not PostgreSQL,
    3 a `spreadwatch run` polls this database."""
    from spreadwatch.exclusive import AnotherPoller, refuse_beside_run
    from spreadwatch.pool import run_worker
    from spreadwatch.validation import require_secrets

    settings = _pool_settings(config, db)
    require_secrets(settings)
    try:
        refuse_beside_run(settings.database_url)
    except AnotherPoller as e:
        typer.echo(f"spreadwatch: {e}", err=True)
        raise typer.Exit(3) from None
    run_worker(settings, concurrency, health_port=health_port, health_host=health_host, name=name, log_json=log_json)


def workers(config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt,
            as_json: bool = typer.Option(False, "--json", help="One JSON object instead of tables.")) -> None:
    """The pool: each worker with its heartbeat and running jobs, and the queue depths."""
    from spreadwatch.pool import apply_schema, pool_status
    from storage import Database

    settings = _pool_settings(config, db)
    database = Database(settings.database_url)
    apply_schema(database)
    status = pool_status(database)
    if as_json:
        typer.echo(json.dumps(status, default=str))
        return
    console = Console()
    t = Table(title=f"workers ({len(status['workers'])})")
    for col in ("id", "last heartbeat", "jobs running", "tasks"):
        t.add_column(col)
    for w in status["workers"]:
        t.add_row(str(w["id"]), str(w["last_heartbeat"]), str(w["doing"]), w["tasks"])
    console.print(t)
    q = Table(title=f"queues (feeds due now: {status['feeds_due']})")
    for col in ("task", "status", "jobs"):
        q.add_column(col)
    for row in status["queues"]:
        q.add_row(row["task_name"], row["status"], str(row["jobs"]))
    console.print(q)


def migrate(config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Bring the database's schema up to date (on PostgreSQL also the worker pool's job tables)."""
    from sqlalchemy.engine import make_url

    from spreadwatch.pool import apply_schema
    from storage import Database

    settings = _settings(config, db)
    database = Database(settings.database_url)  # applies the migrations
    extra = ""
    if make_url(settings.database_url).get_backend_name() == "postgresql":
        extra = " and the worker pool's job tables" + (" (created now)" if apply_schema(database) else "")
    typer.echo(f"database schema up to date{extra}")
