"""stories, story: what is spreading, and how one story spread."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from spreadwatch.commands.core import ConfigOpt, DbOpt, _settings

KIND_STYLE = {"origin": "bold", "copy": "red", "attribution": "cyan", "translation": "magenta",
              "same-event": "dim", "denial": "green"}


def register(app: typer.Typer) -> None:
    app.command("stories")(stories)
    app.command("story")(story)


def parse_since(text: str | None) -> datetime | None:
    """'24h', '7d', '90m' before now."""
    if not text:
        return None
    m = re.fullmatch(r"(\d+)([mhd])", text.strip())
    if not m:
        raise typer.BadParameter("use a number and m, h or d, e.g. 24h or 7d", param_hint="--since")
    unit = {"m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
    return datetime.now(timezone.utc) - timedelta(**{unit: int(m.group(1))})


def stories(watch: Optional[str] = typer.Option(None, "--watch", "-w"),
            since: Optional[str] = typer.Option(None, "--since", help="e.g. 24h, 7d"),
            as_json: bool = typer.Option(False, "--json"), limit: int = typer.Option(50, "--limit", "-n"),
            config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Stories, the most widely spread first."""
    from storage import Database
    from storage.stories_repo import list_stories

    database = Database(_settings(config, db).database_url)
    with database.session() as s:
        rows = list_stories(s, watch=watch, since=parse_since(since), limit=limit)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Stories ({len(rows)})")
    for col in ("id", "outlets", "articles", "languages", "first seen", "last seen", "title", "watches"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(str(r["id"]), str(r["outlet_count"]), str(r["article_count"]), " ".join(r["languages"]),
                      (r["first_seen"] or "")[:16], (r["last_seen"] or "")[:16], r["title"][:70],
                      ", ".join(r["watches"]))
    Console().print(table)


def story(story_id: Optional[int] = typer.Argument(None), url: Optional[str] = typer.Option(None, "--url"),
          as_json: bool = typer.Option(False, "--json"), as_csv: bool = typer.Option(False, "--csv"),
          config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """The propagation history of one story: who had it first, who copied whom, when."""
    from storage import Database
    from storage.stories_repo import find_story_by_url, story_history

    database = Database(_settings(config, db).database_url)
    with database.session() as s:
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
        typer.echo(history_csv(history), nl=False)
        return
    print_history(Console(), history)


def history_csv(history: dict[str, Any]) -> str:
    """One row per article: when, who, how, from whom, and the evidence as JSON."""
    import csv
    import io

    buf = io.StringIO()
    cols = ["id", "published_at", "delay_seconds", "outlet", "language", "kind", "source", "source_outlet",
            "score", "title", "url", "evidence"]
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    for a in history["articles"]:
        w.writerow({**a, "evidence": json.dumps(a["evidence"], ensure_ascii=False)})
    return buf.getvalue()


def delay(seconds: float) -> str:
    sign = "-" if seconds < 0 else "+"
    seconds = abs(int(seconds))
    d, rem = divmod(seconds, 86400)
    h, m = divmod(rem // 60, 60)
    return f"{sign}{d}d{h}h{m:02d}" if d else f"{sign}{h}h{m:02d}"


def print_history(console: Console, history: dict[str, Any]) -> None:
    st, origin = history["story"], history["origin"]
    console.rule(f"[bold]Story {st['id']}[/]: {st['title']}")
    console.print(f"{st['outlet_count']} outlets, {st['article_count']} articles, languages "
                  f"{', '.join(st['languages'])}; first seen {st['first_seen']}, last seen {st['last_seen']}")
    by_source: dict[int | None, list[dict[str, Any]]] = {}
    for a in history["articles"]:
        by_source.setdefault(a["source"], []).append(a)
    root = Tree(_label(origin, root=True))
    _grow(root, origin["id"], by_source)
    console.print(root)
    table = Table(title="Timeline and evidence")
    for col in ("when", "since origin", "outlet", "lang", "kind", "source", "evidence", "title"):
        table.add_column(col, overflow="fold")
    for a in history["articles"]:
        table.add_row((a["published_at"] or a["first_seen_at"])[:16].replace("T", " "), delay(a["delay_seconds"]),
                      a["outlet"], a["language"], f"[{KIND_STYLE.get(a['kind'], '')}]{a['kind']}[/]",
                      a["source_outlet"] or "", _evidence(a["evidence"]), a["title"][:60])
    console.print(table)


def _label(a: dict[str, Any], root: bool = False) -> str:
    style = KIND_STYLE.get(a["kind"], "")
    when = "origin" if root else delay(a["delay_seconds"])
    return f"[{style}]{a['outlet']}[/] ({a['language']}) {when} [{style}]{a['kind']}[/] — {a['title'][:70]}"


def _grow(node: Tree, article_id: int, by_source: dict[int | None, list[dict[str, Any]]]) -> None:
    for child in by_source.get(article_id, []):
        if child["id"] != article_id:
            _grow(node.add(_label(child)), child["id"], by_source)


def _evidence(ev: dict[str, Any]) -> str:
    parts = []
    for k, v in ev.items():
        if v in ([], None, ""):
            continue
        parts.append(f"{k}={', '.join(map(str, v)) if isinstance(v, list) else v}")
    return "; ".join(parts)
