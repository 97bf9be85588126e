"""The analyst's desk on the command line: correct (merge, split, move, link, source, undo), rebuild,
history, corrections, mute, unmute. (`alerts ack` lives with the alerts.)"""

from __future__ import annotations

import getpass
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from rich.table import Table

from spreadwatch.commands.core import ConfigOpt, DbOpt, _settings

correct_app = typer.Typer(help="Correct a story: merge, split, move an article, a link's kind, a source; undo.",
                          no_args_is_help=True)
WhoOpt = typer.Option(None, "--who", help="Your name for the history (default $SPREADWATCH_USER, else your login).")


def register(app: typer.Typer) -> None:
    app.add_typer(correct_app, name="correct")
    app.command("rebuild")(rebuild)
    app.command("history")(history)
    app.command("corrections")(corrections)
    app.command("mute")(mute)
    app.command("unmute")(unmute)


def desk_user(who: Optional[str]) -> str:
    """Who made a correction on the command line."""
    return who or os.environ.get("SPREADWATCH_USER") or getpass.getuser()


def run_desk(config: Optional[Path], db: Optional[str], act: Callable[[Any, Any], str]) -> None:
    """One desk action in one transaction; its sentence on stdout, or its refusal on stderr (exit 1)."""
    from spreadwatch.desk import DeskError
    from storage import Database

    settings = _settings(config, db)
    database = Database(settings.database_url)
    try:
        with database.session(purpose="desk") as s:
            said = act(s, settings)
    except DeskError as e:
        typer.echo(f"spreadwatch: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(said)


@correct_app.command("merge")
def merge(into: int = typer.Argument(..., help="The story kept."), other: int = typer.Argument(..., help="The story merged into it."),
          who: Optional[str] = WhoOpt, config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Two stories are one: OTHER's articles join INTO, and stay together from now on."""
    from spreadwatch import desk

    run_desk(config, db, lambda s, st: f"correction {desk.merge(s, into, other, desk_user(who), st).id}: "
                                       f"story {other} merged into story {into}")


@correct_app.command("split")
def split(story: int = typer.Argument(...), articles: list[int] = typer.Argument(..., help="Article IDs that leave."),
          who: Optional[str] = WhoOpt, config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """These articles are another story: they leave STORY for a new one, kept apart from it."""
    from spreadwatch import desk

    def act(s: Any, st: Any) -> str:
        c = desk.split(s, story, articles, desk_user(who), st)
        return f"correction {c.id}: articles {', '.join(map(str, c.together))} split into story {c.other_story_id}"
    run_desk(config, db, act)


@correct_app.command("move")
def move(article: int = typer.Argument(...), to: int = typer.Option(..., "--to", help="The story it belongs to."),
         who: Optional[str] = WhoOpt, config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """One article belongs to another story: it moves there and is not put back."""
    from spreadwatch import desk

    def act(s: Any, st: Any) -> str:
        c = desk.move(s, article, to, desk_user(who), st)
        return f"correction {c.id}: article {article} moved from story {c.story_id} to story {c.other_story_id}"
    run_desk(config, db, act)


@correct_app.command("link")
def link(article: int = typer.Argument(...), not_kind: str = typer.Option(..., "--not", help="denial or copy"),
         who: Optional[str] = WhoOpt, config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """The article's link is not a denial (or not a copy): the tree says what it is without that."""
    from spreadwatch import desk

    run_desk(config, db, lambda s, st: f"correction {desk.mark_link(s, article, not_kind, desk_user(who), st).id}: "
                                       f"article {article} is not a {not_kind}")


@correct_app.command("source")
def source(article: int = typer.Argument(...), source_id: int = typer.Option(..., "--from", help="The article it was taken from."),
           who: Optional[str] = WhoOpt, config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Set an article's source by hand (an earlier article of the same story)."""
    from spreadwatch import desk

    run_desk(config, db, lambda s, st: f"correction {desk.set_source(s, article, source_id, desk_user(who), st).id}: "
                                       f"article {article} was taken from article {source_id}")


@correct_app.command("undo")
def undo(correction: int = typer.Argument(...), who: Optional[str] = WhoOpt,
         config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Take a correction back: its articles are placed again as if it had never been made."""
    from spreadwatch import desk

    run_desk(config, db, lambda s, st: f"correction {desk.undo(s, correction, desk_user(who), st).id} undone")


def rebuild(config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Place every stored article again in publication order, keeping the corrections (no alert is sent twice)."""
    from spreadwatch import desk

    run_desk(config, db, lambda s, st: f"{desk.rebuild(s, st)} articles placed again")


def history(story: int = typer.Argument(...), as_json: bool = typer.Option(False, "--json"),
            config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """The corrections made to a story (and to the stories merged into it), oldest first."""
    from spreadwatch.desk import story_corrections
    from storage import Database

    with Database(_settings(config, db).database_url).session(read_only=True) as s:
        rows = story_corrections(s, story)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    _table(f"Corrections of story {story} ({len(rows)})", rows)


def _table(title: str, rows: list[dict[str, Any]]) -> None:
    table = Table(title=title)
    for col in ("id", "when (UTC)", "who", "correction"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(str(r["id"]), (r["at"] or "")[:16].replace("T", " "), r["who"], r["text"])
    Console().print(table)


def corrections(as_json: bool = typer.Option(False, "--json", help="The corrected stories as an evaluation stream (JSON lines)."),
                config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Every correction; with --json the articles they name, labelled with their corrected story, in
    the evaluation stream format (bench/streams.py reads it), so a desk's corrections become labels."""
    from spreadwatch.desk import all_corrections, export_stream, shown
    from storage import Database

    with Database(_settings(config, db).database_url).session(read_only=True) as s:
        if as_json:
            for record in export_stream(s):
                typer.echo(json.dumps(record, ensure_ascii=False))
            return
        rows = [shown(c) for c in all_corrections(s)]
    _table(f"Corrections ({len(rows)})", rows)


def _date(text: Optional[str]) -> Optional[datetime]:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (2026-03-01 or 2026-03-01T18:00)", param_hint="--until") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def mute(story: int = typer.Argument(...),
         until: Optional[str] = typer.Option(None, "--until", help="Until this date or time (UTC)."),
         upto: Optional[int] = typer.Option(None, "--upto", help="Only outlet levels up to this; higher ones alert."),
         who: Optional[str] = WhoOpt, config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """No more alerts for a story (until a date, or up to an outlet level)."""
    from spreadwatch import desk

    when = _date(until)

    def act(s: Any, st: Any) -> str:
        m = desk.mute(s, story, desk_user(who), when, upto)
        return (f"story {m.story_id} muted" + (f" until {when.isoformat()}" if when else "")
                + (f" up to {upto} outlets" if upto else ""))
    run_desk(config, db, act)


def unmute(story: int = typer.Argument(...), config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Alerts for the story again (for levels it reaches from now on)."""
    from spreadwatch import desk

    run_desk(config, db, lambda s, st: f"story {story}: {desk.unmute(s, story)} mute(s) lifted")
