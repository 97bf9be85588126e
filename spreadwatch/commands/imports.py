"""import: load an archive (JSON lines, CSV, a web archive) through the same ingest() as the poller."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from spreadwatch.commands.core import ConfigOpt, DbOpt, _settings


def register(app: typer.Typer) -> None:
    app.command("import")(import_file)


def import_file(file: Path = typer.Argument(..., help="A .jsonl or .csv archive (either may be gzipped), "
                                                     "or a web archive (.warc.gz, .warc)."),
                fmt: Optional[str] = typer.Option(None, "--format",
                                                  help="jsonl, csv or warc, when the name does not say."),
                alerts: bool = typer.Option(True, "--alerts/--no-alerts",
                                            help="Evaluate the alert rules as the poller does (the default); "
                                                 "--no-alerts for an archive of the past."),
                every: int = typer.Option(500, "--every", min=1,
                                          help="Without a terminal, print a progress line every N records."),
                config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Import articles from a file, in its order: matched, placed in stories and alerted on like polled ones."""
    from spreadwatch.archive import ArchiveError, open_archive
    from storage import Database

    settings = _settings(config, db)
    if not alerts:
        settings = settings.with_overrides(alerts={**settings.alerts, "rules": []})
    err = Console(stderr=True)
    if fmt not in (None, "jsonl", "csv", "warc"):
        err.print(f"spreadwatch: --format must be jsonl, csv or warc, not {fmt!r}")
        raise typer.Exit(2)
    try:
        archive = open_archive(file, fmt, settings)  # type: ignore[arg-type]
        database = Database(settings.database_url)
        report = _run(archive, database, settings, err, every)
    except ArchiveError as e:
        err.print(f"spreadwatch: {e}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    typer.echo(report.summary())
    if report.stopped:
        err.print(f"import {report.stopped}; run it again to store the rest", markup=False, highlight=False,
                  soft_wrap=True)
    if report.bad or report.stopped:
        raise typer.Exit(1)


def _run(archive, database, settings, err: Console, every: int):  # type: ignore[no-untyped-def]
    from spreadwatch.archive import BadRecord, import_archive

    def bad_line(rec: object) -> None:
        if isinstance(rec, BadRecord):
            err.print(f"{rec.where(archive.path)}: {rec.reason}", markup=False, highlight=False, soft_wrap=True)

    if not err.is_terminal:
        def line(report, rec) -> None:  # type: ignore[no-untyped-def]
            bad_line(rec)
            if report.records % every == 0:
                err.print(f"{report.records} records: {report.counts()}", soft_wrap=True, highlight=False)

        return import_archive(database, settings, archive.records(), on_record=line)
    columns = (TextColumn("[bold]import[/]"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
               TextColumn("{task.fields[counts]}"))
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task("import", total=archive.size, counts="")

        def bar(report, rec) -> None:  # type: ignore[no-untyped-def]
            bad_line(rec)
            progress.update(task, completed=archive.position(),
                            counts=report.counts())

        report = import_archive(database, settings, archive.records(), on_record=bar)
        progress.update(task, completed=archive.size)
    return report
