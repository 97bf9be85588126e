"""stories, story: what is spreading, and how one story spread."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from spreadwatch.commands.core import ConfigOpt, DbOpt, _settings
from storage.stories_repo import official_label
from web.history import format_delay, format_evidence, history_csv, parse_age, plain, tree_rows
from web.timeline import TimeScale

KIND_STYLE = {"origin": "bold", "copy": "red", "attribution": "cyan", "translation": "magenta",
              "same-event": "dim", "denial": "bold green"}
STRIP_WIDTH = 20  # characters of the timeline column


def register(app: typer.Typer) -> None:
    app.command("stories")(stories)
    app.command("story")(story)


def parse_since(text: str | None) -> datetime | None:
    """'24h', '7d', '90m', '2w' before now, as a command-line option."""
    try:
        return parse_age(text)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--since") from None


def stories(watch: Optional[str] = typer.Option(None, "--watch", "-w"),
            since: Optional[str] = typer.Option(None, "--since", help="e.g. 24h, 7d"),
            as_json: bool = typer.Option(False, "--json"), limit: int = typer.Option(50, "--limit", "-n"),
            config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Stories, the most widely spread first."""
    from storage import Database
    from storage.stories_repo import list_stories

    database = Database(_settings(config, db).database_url)
    with database.session(read_only=True) as s:
        rows = list_stories(s, watch=watch, since=parse_since(since), limit=limit)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Stories ({len(rows)})")
    for col in ("id", "outlets"):
        table.add_column(col, no_wrap=True, justify="right")
    table.add_column("languages")
    table.add_column("first seen (UTC)")
    table.add_column("spread over")
    table.add_column("title", overflow="fold")
    table.add_column("watches", overflow="fold")
    for r in rows:
        table.add_row(str(r["id"]), str(r["outlet_count"]), " ".join(r["languages"]), _when(r["first_seen"]),
                      _spread(r["first_seen"], r["last_seen"]), Text(plain(r["title"])), Text(", ".join(r["watches"])))
    Console().print(table)


def story(story_id: Optional[int] = typer.Argument(None), url: Optional[str] = typer.Option(None, "--url"),
          as_json: bool = typer.Option(False, "--json"), as_csv: bool = typer.Option(False, "--csv"),
          config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """The propagation history of one story: who had it first, who copied whom, when."""
    from storage import Database
    from storage.stories_repo import find_story_by_url, story_history

    database = Database(_settings(config, db).database_url)
    with database.session(read_only=True) as s:
        if url:
            story_id = find_story_by_url(s, url)
            if story_id is None:
                typer.echo(f"no stored article has the address {url}", err=True)
                raise typer.Exit(1)
        if story_id is None:
            raise typer.BadParameter("give a story ID or --url")
        history = story_history(s, story_id)
    if history is None:
        typer.echo(f"no story {story_id}", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(history, ensure_ascii=False, indent=2))
        return
    if as_csv:
        sys.stdout.write(history_csv(history))  # as is: click.echo would rewrite the data
        return
    print_history(Console(), history)


def print_history(console: Console, history: dict[str, Any]) -> None:
    """The story's summary, its propagation tree, and a timeline table with each link's evidence."""
    st = history["story"]
    console.rule(Text.assemble(("Story ", "bold"), (str(st["id"]), "bold"), ": ", plain(st["title"])))
    console.print(Text(f"{st['outlet_count']} outlets, {st['article_count']} articles, languages "
                       f"{', '.join(st['languages'])}; first seen {_when(st['first_seen'])}, "
                       f"last seen {_when(st['last_seen'])} (UTC)"))
    console.print(propagation_tree(history))
    console.print(timeline_table(history, console.width))


def propagation_tree(history: dict[str, Any]) -> Tree:
    """Each article under the one it was taken from."""
    root = Tree(Text(f"Story {history['story']['id']}", style="bold"))
    parents: list[Tree] = [root]
    for depth, a in tree_rows(history):
        del parents[depth + 1:]  # back up to this article's source
        parents.append(parents[-1].add(_label(a)))
    return root


WIDE = 150  # columns from which each fact gets its own column; below, a row stacks them


def timeline_table(history: dict[str, Any], width: int = WIDE) -> Table:
    """Every article in time order: when, how long after the origin, who, how, from whom, why.
    Narrower than WIDE (a default 80-column terminal, a pipe), each row stacks who and how, the
    title and the evidence in one cell, so none of them is squeezed to nothing."""
    if width < WIDE:
        return _stacked_table(history)
    articles = history["articles"]
    span = max((a["delay_seconds"] / 60 for a in articles), default=60.0)
    scale = TimeScale(0, STRIP_WIDTH - 1, max(span, 60.0))
    table = Table(title="Timeline and evidence (time axis: log scale, as on the web page)")
    for col in ("when (UTC)", "since origin", "timeline", "outlet", "lang", "kind", "source", "evidence", "title"):
        table.add_column(col, overflow="fold", no_wrap=col in ("when (UTC)", "since origin", "timeline", "kind"))
    for a in articles:
        style = KIND_STYLE.get(a["kind"], "")
        table.add_row(_when(a["published_at"] or a["first_seen_at"]), format_delay(a["delay_seconds"]),
                      _strip(scale, a["delay_seconds"] / 60, a["kind"]),
                      Text(plain(a["outlet"]) + (" (official)" if a.get("outlet_kind") == "official" else "")),
                      Text(plain(a["language"])), Text(a["kind"], style=style), Text(plain(a["source_outlet"])),
                      Text(plain(format_evidence(a["evidence"]))), Text(plain(a["title"])))
    return table


def _stacked_table(history: dict[str, Any]) -> Table:
    """The narrow layout: time and strip on the left; outlet, language, kind and source, then the
    title, then the evidence, on lines of their own on the right."""
    articles = history["articles"]
    span = max((a["delay_seconds"] / 60 for a in articles), default=60.0)
    scale = TimeScale(0, STRIP_WIDTH - 1, max(span, 60.0))
    table = Table(title="Timeline and evidence (log time axis)", show_lines=True)
    table.add_column("when (UTC)", no_wrap=True)
    table.add_column("article", overflow="fold", ratio=1)
    for a in articles:
        style = KIND_STYLE.get(a["kind"], "")
        source = f" ← {plain(a['source_outlet'])}" if a["source_outlet"] else ""
        who = Text.assemble((plain(a["outlet"]), "bold"), f" ({plain(a['language'])}) ", (a["kind"], style), source)
        lines = [who, Text(plain(a["title"]))]
        evidence = plain(format_evidence(a["evidence"]))
        if evidence:
            lines.append(Text(evidence, style="dim"))
        when = Text.assemble(_when(a["published_at"] or a["first_seen_at"]), "\n",
                             format_delay(a["delay_seconds"]), "\n", _strip(scale, a["delay_seconds"] / 60, a["kind"]))
        table.add_row(when, Text("\n").join(lines))
    return table


def _strip(scale: TimeScale, minutes: float, kind: str) -> Text:
    """A row of dots with one mark where the article falls on the time axis (a diamond for a denial)."""
    at = min(STRIP_WIDTH - 1, max(0, round(scale.x(minutes))))
    return Text.assemble(("·" * at, "dim"), ("◆" if kind == "denial" else "●", KIND_STYLE.get(kind, "")),
                         ("·" * (STRIP_WIDTH - 1 - at), "dim"))


def _label(a: dict[str, Any]) -> Text:
    """'telegrafi (sq) +0h42 attribution — title'; the origin says only that it is the origin."""
    style = KIND_STYLE.get(a["kind"], "")
    when = "" if a["kind"] == "origin" else f"{format_delay(a['delay_seconds'])} "
    label = official_label(a)  # "Denied by KFOR": an official source's word weighs more than a portal's
    return Text.assemble((plain(a["outlet"]), style or "bold"), f" ({plain(a['language'])}) {when}",
                         (a["kind"], style), *([" ", (f"[{plain(label)}]", "bold yellow")] if label else []),
                         " — ", plain(a["title"]))


def _spread(first: str | None, last: str | None) -> str:
    """How long a story has been spreading: from its first article to its latest."""
    if not first or not last:
        return ""
    seconds = (datetime.fromisoformat(last.replace("Z", "+00:00"))
               - datetime.fromisoformat(first.replace("Z", "+00:00"))).total_seconds()
    return format_delay(seconds).lstrip("+")


def _when(iso: str | None) -> str:
    return (iso or "")[:16].replace("T", " ")
