"""serve, search, export: the web app, finding stories by words, and a story's history as a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from spreadwatch.commands.core import ConfigOpt, DbOpt, _settings
from spreadwatch.commands.stories import history_csv


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("search")(search)
    app.command("export")(export)


def serve(host: str = typer.Option("127.0.0.1", "--host"), port: int = typer.Option(8080, "--port"),
          token: Optional[str] = typer.Option(None, "--token", help="Require this token (or $SPREADWATCH_WEB_TOKEN)."),
          config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Start the read-only web app: stories at /, a story at /stories/ID, the API at /api/ (docs at /docs)."""
    import uvicorn

    from web.app import create_app

    uvicorn.run(create_app(_settings(config, db), token=token), host=host, port=port, log_level="info")


def search(text: str = typer.Argument(..., help="Words that must all appear in a title or text."),
           as_json: bool = typer.Option(False, "--json"), config: Optional[Path] = ConfigOpt,
           db: Optional[str] = DbOpt) -> None:
    """Find stories by words in their articles' titles or text."""
    from storage import Database
    from storage.stories_repo import search_stories

    with Database(_settings(config, db).database_url).session() as s:
        rows = search_stories(s, text)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        typer.echo(f"{r['id']:>5}  {r['outlet_count']:>3} outlets  {' '.join(r['languages']):<15} {r['title']}")
    if not rows:
        typer.echo("no story matches", err=True)


def export(story_id: int = typer.Argument(...), fmt: str = typer.Option("json", "--format", help="json, csv or svg"),
           output: Optional[Path] = typer.Option(None, "--output", "-o"), config: Optional[Path] = ConfigOpt,
           db: Optional[str] = DbOpt) -> None:
    """A story's history as JSON, CSV (one row per article) or a standalone SVG timeline."""
    from storage import Database
    from storage.stories_repo import story_history
    from web.timeline import render_svg

    with Database(_settings(config, db).database_url).session() as s:
        h = story_history(s, story_id)
    if h is None:
        typer.echo(f"no story {story_id}", err=True)
        raise typer.Exit(1)
    if fmt == "json":
        data = json.dumps(h, ensure_ascii=False, indent=2)
    elif fmt == "svg":
        data = render_svg(h)
    elif fmt == "csv":
        data = history_csv(h)
    else:
        raise typer.BadParameter("json, csv or svg", param_hint="--format")
    if output:
        output.write_text(data, encoding="utf-8")
        typer.echo(f"wrote {output}")
    else:
        typer.echo(data)
