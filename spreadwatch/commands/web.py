"""serve, search, export: the web app, finding stories by words, and a story's history as a file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from spreadwatch.commands.core import ConfigOpt, DbOpt, _settings
from web.history import plain

FORMATS = ("json", "csv", "svg", "png")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("search")(search)
    app.command("export")(export)


def serve(host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
          port: int = typer.Option(8080, "--port"),
          token: Optional[str] = typer.Option(None, "--token", help="Require this token (or $SPREADWATCH_WEB_TOKEN)."),
          desk_token: Optional[list[str]] = typer.Option(None, "--desk-token", help=(
              "NAME=SECRET: a token that may also correct stories, recorded as NAME (repeat it; "
              "or $SPREADWATCH_DESK_TOKENS, comma-separated).")),
          config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Start the web app: stories at /, a story at /stories/ID, the API at /api/ (docs at /docs); read-only
    unless desk tokens are given."""
    import uvicorn

    from web.app import create_app
    from web.desk import parse_desk_tokens

    try:
        tokens = parse_desk_tokens(",".join(desk_token)) if desk_token else None
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--desk-token") from None
    uvicorn.run(create_app(_settings(config, db), token=token, desk_tokens=tokens), host=host, port=port,
                log_level="info")


def search(text: str = typer.Argument(..., help="Words that must all appear in a title or text."),
           as_json: bool = typer.Option(False, "--json"), limit: int = typer.Option(20, "--limit", "-n"),
           config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Find stories by words in their articles' titles or text."""
    from storage import Database
    from storage.stories_repo import search_stories

    if not text.split():
        raise typer.BadParameter("give at least one word", param_hint="TEXT")
    with Database(_settings(config, db).database_url).session(read_only=True) as s:
        rows = search_stories(s, text, limit=limit)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        typer.echo(f"{r['id']:>5}  {r['outlet_count']:>3} outlets  {' '.join(r['languages']):<15} {plain(r['title'])}")
    if not rows:
        typer.echo("no story matches", err=True)


def export(story_id: int = typer.Argument(...),
           fmt: Optional[str] = typer.Option(None, "--format", "-f",
                                             help="json, csv, svg or png (default: from the -o suffix, else json)"),
           output: Optional[Path] = typer.Option(None, "--output", "-o", help="File to write (default: stdout)."),
           config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """A story's history as JSON, CSV (one row per article) or the timeline picture as SVG or PNG."""
    from storage import Database
    from storage.stories_repo import story_history

    fmt = choose_format(fmt, output)
    with Database(_settings(config, db).database_url).session(read_only=True) as s:
        history = story_history(s, story_id)
    if history is None:
        typer.echo(f"no story {story_id}", err=True)
        raise typer.Exit(1)
    data = render(history, fmt)
    if output:
        output.write_bytes(data)
        typer.echo(f"wrote {output} ({fmt}, {len(data):,} bytes)", err=True)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def choose_format(fmt: str | None, output: Path | None) -> str:
    """The format asked for, else the one the output file's suffix names, else JSON."""
    chosen = (fmt or (output.suffix.lstrip(".") if output and output.suffix else "json")).lower()
    if chosen not in FORMATS:
        raise typer.BadParameter(f"{chosen!r}: use one of {', '.join(FORMATS)}", param_hint="--format")
    return chosen


def render(history: dict[str, Any], fmt: str) -> bytes:
    """The export's bytes: JSON and CSV as `story --json/--csv`, SVG and PNG as the web page's timeline."""
    from web.history import history_csv
    from web.timeline import layout_timeline

    if fmt == "json":
        return (json.dumps(history, ensure_ascii=False, indent=2) + "\n").encode()
    if fmt == "csv":
        return history_csv(history).encode()
    if fmt == "svg":
        from web.svg import render_svg

        return render_svg(layout_timeline(history)).encode()
    from web.png import render_png

    return render_png(layout_timeline(history))
