"""Terminal reports of a cycle: which outlets were polled, what matched."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from spreadwatch.cycle import CycleReport


def print_cycle(console: Console, report: CycleReport) -> None:
    table = Table(title="Feeds polled")
    for col in ("outlet", "status", "entries", "new", "matched", "note"):
        table.add_column(col, overflow="fold")
    for fr in sorted(report.feeds, key=lambda f: f.outlet):
        style = {"error": "red", "not-modified": "dim"}.get(fr.status, "")
        table.add_row(fr.outlet, fr.status, str(fr.entries), str(fr.new), str(fr.matched),
                      fr.error or fr.warning or "", style=style)
    console.print(table)
    errors = sum(f.status == "error" for f in report.feeds)
    console.print(f"{len(report.feeds)} feeds polled, {errors} failed, {report.new} new articles stored")
