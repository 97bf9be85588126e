"""alerts: what was alerted and where it went; send the due ones; test a channel."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from spreadwatch.commands.core import ConfigOpt, DbOpt, _settings

alerts_app = typer.Typer(help="Alerts and their delivery state.", invoke_without_command=True, no_args_is_help=False)


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")


@alerts_app.callback()
def alerts(ctx: typer.Context, as_json: bool = typer.Option(False, "--json"), config: Optional[Path] = ConfigOpt,
           db: Optional[str] = DbOpt) -> None:
    """List alerts with their delivery state (newest first)."""
    if ctx.invoked_subcommand:
        return
    from storage import Database

    rows = list_alerts(Database(_settings(config, db).database_url))
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Alerts ({len(rows)})")
    for col in ("id", "created", "story", "rule", "level", "deliveries"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(str(r["id"]), r["created_at"][:16], f"{r['story_id']} {r['story_title'][:50]}", r["rule"],
                      r["level"] + (" (superseded)" if r["superseded"] else "") + (" (muted)" if r["muted"] else "")
                      + (f" (acknowledged by {r['acknowledged_by']})" if r["acknowledged_at"] else ""),
                      ", ".join(_delivery_cell(d) for d in r["deliveries"]) or "-")
    Console().print(table)


def _delivery_cell(d: dict[str, Any]) -> str:
    digest = f" in digest {d['digest_id']}" if d["digest_id"] else ""
    error = f" ({d['last_error']})" if d["last_error"] else ""
    return f"{d['channel']}: {d['state']}{digest}{error}"


def list_alerts(database: Any) -> list[dict[str, Any]]:
    """Every alert, newest first, with each delivery's state (the shape `--json` prints)."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from storage.models import Alert, Story
    from storage.queries import iso

    with database.session() as s:
        alerts = s.scalars(select(Alert).options(selectinload(Alert.deliveries)).order_by(Alert.id.desc())).all()
        titles = {st.id: st.title for st in s.scalars(select(Story))}
        return [{"id": a.id, "created_at": iso(a.created_at), "story_id": a.story_id,
                 "story_title": titles.get(a.story_id, ""), "rule": a.rule, "level": a.level,
                 "superseded": bool(a.summary.get("superseded")), "muted": bool(a.summary.get("muted")),
                 "acknowledged_at": iso(a.acknowledged_at) if a.acknowledged_at else None,
                 "acknowledged_by": a.acknowledged_by,
                 "deliveries": [{"channel": d.channel, "state": d.state, "attempts": d.attempts,
                                 "last_error": d.last_error, "sent_at": iso(d.sent_at), "digest_id": d.digest_id}
                                for d in sorted(a.deliveries, key=lambda d: d.id)]}
                for a in alerts]


@alerts_app.command("ack")
def ack(alert_ids: list[int] = typer.Argument(..., help="Alert IDs (from `spreadwatch alerts`)."),
        who: Optional[str] = typer.Option(None, "--who", help="Your name (default $SPREADWATCH_USER, else your login)."),
        config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Acknowledge alerts: shown as seen, and a digest leaves their stories out."""
    from spreadwatch.commands.desk import desk_user, run_desk
    from spreadwatch.desk import acknowledge

    def act(s: Any, settings: Any) -> str:
        return "; ".join(f"alert {acknowledge(s, i, desk_user(who)).id} acknowledged" for i in alert_ids)
    run_desk(config, db, act)


@alerts_app.command("send")
def send_now(config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Send the deliveries (and digests) that are due, once."""
    from alerts.outbox import send_due
    from storage import Database

    settings = _settings(config, db)
    database = Database(settings.database_url)
    r = send_due(database, settings)
    typer.echo(f"sent {r.sent} ({r.digests} digests carrying {r.digested} alerts), retrying {r.retrying}, "
               f"failed {r.failed}, deferred {r.deferred}, superseded {r.superseded}")
    for line in still_waiting(database):
        typer.echo(f"  {line}")
    for e in r.errors:
        typer.echo(f"  {e}", err=True)


def still_waiting(database: Any) -> list[str]:
    """What this run did not send and when it will go: messages held under another sender's lease
    (a sender that was killed mid-send: taken over when the lease ends), and retries not due yet."""
    from sqlalchemy import func, select

    from storage.models import Delivery, Digest, utcnow

    now, lines = utcnow(), []
    with database.session(read_only=True) as s:
        for model, what in ((Delivery, "deliveries"), (Digest, "digests")):
            held = s.execute(select(func.count(), func.max(model.claimed_until))
                             .where(model.state == "sending", model.claimed_until >= now)).one()
            later = s.execute(select(func.count(), func.min(model.next_try_at))
                              .where(model.state == "pending", model.next_try_at > now)).one()
            if held[0]:
                lines.append(f"{held[0]} {what} held under another sender's lease (one that stopped or is still "
                             f"sending), taken over by the first send after {_utc(held[1])}")
            if later[0]:
                lines.append(f"{later[0]} {what} waiting to be retried, the first at {_utc(later[1])}")
    return lines


def _utc(when: Any) -> str:
    return f"{when:%Y-%m-%d %H:%M:%S} UTC" if when else "?"


@alerts_app.command("retry")
def retry_failed(channel_name: Optional[str] = typer.Option(None, "--channel", help="Only this channel."),
                 config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Try failed deliveries again from the start (after fixing a password, an address, a URL)."""
    from alerts.outbox import requeue_failed
    from storage import Database

    settings = _settings(config, db)
    n = requeue_failed(Database(settings.database_url), channel_name)
    typer.echo(f"{n} failed deliveries will be tried again by the next `spreadwatch alerts send` (or the daemon)")


@alerts_app.command("test")
def test_channel(channel_name: str = typer.Option(..., "--channel"), config: Optional[Path] = ConfigOpt,
                 db: Optional[str] = DbOpt) -> None:
    """Send a test message on one channel, to check the set-up."""
    from alerts.config import channel
    from spreadwatch.settings import ConfigError

    settings = _settings(config, db)
    try:
        chan = channel(settings, channel_name)
    except ConfigError as e:
        raise ConfigError(f"{e}{_recorded_under(settings, channel_name)}") from None
    error = send_test(chan)
    if error:
        typer.echo(f"channel {chan.name}: {error}", err=True)
        raise typer.Exit(1)
    typer.echo(f"channel {chan.name}: test message sent")


def send_test(chan: Any) -> str | None:
    """Send the test message on this channel; None when it went, else why not."""
    from alerts.channels import SendError, send
    from alerts.render import Message

    text = "This is a test message from spreadwatch: if you read it, the channel works."
    msg = Message(f"spreadwatch test: channel {chan.name}", text, f"<html><body><p>{text}</p></body></html>",
                  [{"type": "section", "text": {"type": "mrkdwn", "text": text}}])
    try:
        # a fresh key each time: a receiver that drops repeated Message-IDs must not drop a second test
        send(chan, msg, {"test": True, "channel": chan.name}, f"spreadwatch-test-{uuid.uuid4().hex}")
    except SendError as e:
        return str(e)
    return None


def _recorded_under(settings: Any, name: str) -> str:
    """When deliveries in the database carry this name (the demo's, or a channel since removed): say
    where they came from. The database is only read, and not created when it does not exist."""
    from sqlalchemy import func, select
    from sqlalchemy.exc import SQLAlchemyError

    from spreadwatch.commands.core import _sqlite_file_missing
    from storage import Database
    from storage.models import Delivery

    if _sqlite_file_missing(settings.database_url):
        return ""
    try:
        database = Database(settings.database_url, migrate=False)
        with database.session(read_only=True) as s:
            recorded = s.scalar(select(func.count(Delivery.id)).where(Delivery.channel == name)) or 0
        database.dispose()
    except SQLAlchemyError:  # no database yet, or not ours: nothing was recorded there
        return ""
    if not recorded:
        return ""
    return (f"; the {recorded} deliveries to {name!r} in the database were made under a config that had it "
            "(`spreadwatch demo` uses its own local channels, demo-email and demo-slack, which exist only "
            "while the demo runs; the demo tests both each time)")
