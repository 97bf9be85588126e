"""The offline demo: a replay newsroom on 127.0.0.1, one full cycle, and what spreadwatch found.

It replays February 2025: Bild's claim that the US may pull its troops out of KFOR, the Albanian
portals that copied it within hours, the relays, the denial, and unrelated noise around them.
The database stays in place afterwards, so `spreadwatch articles`, `stories`, `story ID`,
`alerts` and `serve` show what it found. A second run adds nothing new.
"""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from alerts.outbox import SendReport, send_due
from alerts.sinks import SMTPSink
from spreadwatch.commands.core import _progress_line
from spreadwatch.localserver import LocalServer, Response
from crawler import Fetcher
from spreadwatch.cycle import CycleReport, Progress, due_feeds, poll_feeds, sync_outlets
from spreadwatch.newsroom import Newsroom
from spreadwatch.report import print_cycle
from spreadwatch.settings import HttpSettings, OutletConfig, Settings
from storage import Database, utcnow
from storage.queries import list_articles
from storage.stories_repo import list_stories, story_history
from web.history import plain

DEMO_PORT = 8741  # fixed when free, so feed URLs (and their ETags) stay the same between runs


def demo_settings(base: Settings, newsroom: Newsroom, smtp_port: int, webhook_url: str) -> Settings:
    """The user's settings, pointed at the local newsroom and local alert sinks instead of real ones."""
    http = HttpSettings(**{**base.http.model_dump(), "per_host_delay": 0.0, "per_host_concurrency": 8,
                           "connect_timeout": 5.0, "read_timeout": 10.0, "retries": 1})
    outlets = [OutletConfig.model_validate(o) for o in newsroom.outlets_config()]
    channels = [  # named for what they are: they exist only while the demo runs
        {"name": "demo-email", "type": "email", "host": "127.0.0.1", "port": smtp_port,
         "from": "spreadwatch@localhost", "to": ["desk@newsroom.example"], "rate_per_minute": 60},
        {"name": "demo-slack", "type": "slack", "url": webhook_url, "rate_per_minute": 60},
    ]
    alerts = {**(base.alerts or {}), "channels": channels, "base_url": "http://127.0.0.1:8080"}
    return base.with_overrides(outlets=outlets, http=http, alerts=alerts)


def run_demo(base: Settings, *, console: Console, quiet: bool = False) -> dict[str, Any]:
    """Start the newsroom, run one cycle against it, print and return what was found."""
    with ExitStack() as stack:
        newsroom = stack.enter_context(_start_newsroom())
        smtp = stack.enter_context(SMTPSink())
        slack = stack.enter_context(LocalServer())
        slack.route("/slack", lambda req: Response(200, b"ok", {"Content-Type": "text/plain"}))
        settings = demo_settings(base, newsroom, smtp.port, slack.url("/slack"))
        console.rule("[bold]spreadwatch demo[/]: replaying February 2025 on " + newsroom.base_url)
        console.print(f"database: {settings.database_url}")
        db = Database(settings.database_url)
        progress = None if quiet else (lambda fr: console.print(_progress_line(fr)))
        report = poll_in_order(db, settings, progress)
        crawled = _crawl_spider_outlets(settings, console)
        print_cycle(console, report)
        summary = _print_found(console, db, settings)
        rumour = _print_stories(console, db, settings)
        sent = send_due(db, settings)
        _print_alerts(console, smtp, slack, sent)
        _test_channels(console, settings)
        _print_next(console, rumour)
        summary.update(new=report.new + crawled, feeds=len(report.feeds), alerts_sent=sent.sent,
                       story_id=rumour["story"]["id"] if rumour else None)
        return summary


def poll_in_order(db: Database, settings: Settings, progress: Progress | None) -> CycleReport:
    """Every feed once, one feed after another in the order of the config.

    The daemon polls its feeds concurrently, so articles reach ingest() in the order their pages
    happen to arrive; the story engine and the alert rules see a different history each time (a
    story whose first arrival was in Albanian alerts `new-language en` when an English article
    follows, and not when the English origin happens to come first). The demo replays a fixed
    newsroom, so it must give the same stories and alerts every time: same input, same order."""
    sync_outlets(db, settings)
    return asyncio.run(_poll_each(db, settings, progress))


async def _poll_each(db: Database, settings: Settings, progress: Progress | None) -> CycleReport:
    place = {f.url: n for n, f in enumerate(f for o in settings.outlets for f in o.feeds)}
    feeds = sorted(due_feeds(db, settings, utcnow(), force=True), key=lambda f: place[f.url])
    report = CycleReport()
    async with Fetcher(settings.http) as fetcher:
        for feed in feeds:  # a feed's own pages are still fetched concurrently, and stored oldest first
            part = await poll_feeds(db, settings, fetcher, [feed], progress=progress)
            report.feeds += part.feeds
            report.new_article_ids += part.new_article_ids
    return report


def _start_newsroom() -> Newsroom:
    try:
        return Newsroom(port=DEMO_PORT)
    except OSError:  # the port is taken: any free one will do
        return Newsroom()


def _crawl_spider_outlets(settings: Settings, console: Console) -> int:
    spider_outlets = [o.key for o in settings.outlets if o.sitemaps or o.listings or o.json_endpoints]
    if not spider_outlets:
        return 0
    from spiders import run_crawl


    report = run_crawl(settings, spider_outlets)
    console.print(f"spiders: {report.summary()}")
    return report.ingested


def _print_found(console: Console, db: Database, settings: Settings) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for watch in settings.watches:
        with db.session(read_only=True) as s:
            rows = list_articles(s, watch=watch.name, limit=500)
        table = Table(title=f"Articles matching '{watch.name}' ({len(rows)})")
        for col in ("published", "outlet", "lang", "title", "matched terms"):
            table.add_column(col, overflow="fold")
        for r in sorted(rows, key=lambda r: r["published_at"] or ""):
            terms = next(m["terms"] for m in r["matches"] if m["watch"] == watch.name)
            table.add_row((r["published_at"] or "")[:16].replace("T", " "), Text(plain(r["outlet"])),
                          Text(plain(r["language"])), Text(plain(r["title"])[:70]), Text(plain(", ".join(terms[:6]))))
        console.print(table)
        found[watch.name] = len(rows)
    return {"matched": found}


def _print_stories(console: Console, db: Database, settings: Settings) -> dict[str, Any] | None:
    """The stories that match a watch, and the history of the widest one (the rumour), returned."""
    from spreadwatch.commands.stories import print_history

    with db.session(read_only=True) as s:
        stories = [st for st in list_stories(s) if st["watches"]]
        top = story_history(s, stories[0]["id"]) if stories else None
    table = Table(title=f"Stories matching a watch ({len(stories)})")
    for col in ("id", "outlets", "languages", "first seen", "title"):
        table.add_column(col, overflow="fold")
    for st in stories:
        table.add_row(str(st["id"]), str(st["outlet_count"]), Text(plain(" ".join(st["languages"]))),
                      (st["first_seen"] or "")[:16].replace("T", " "), Text(plain(st["title"])[:70]))
    console.print(table)
    if top:
        print_history(console, top)
    return top


def _print_alerts(console: Console, smtp: SMTPSink, slack: LocalServer, sent: SendReport) -> None:
    table = Table(title="Alerts delivered to the local sinks (an SMTP server and a Slack-style webhook)")
    table.add_column("channel")
    table.add_column("subject", overflow="fold")
    for msg in smtp.messages:
        table.add_row("email", Text(plain(str(msg["Subject"]))))
    for _ in slack.hits("/slack"):
        table.add_row("slack", "(Block Kit message, same content)")
    console.print(table)
    console.print(f"alerts: {sent.sent} sent, {sent.superseded} superseded by a newer level, "
                  f"{sent.retrying} to retry, {sent.failed} failed")


def _test_channels(console: Console, settings: Settings) -> None:
    """`spreadwatch alerts test` on the demo's own channels, while their local servers still run."""
    from alerts.config import alert_settings
    from spreadwatch.commands.alerts import send_test

    for chan in alert_settings(settings).channels:
        error = send_test(chan)
        console.print(f"alerts test --channel {chan.name}: " + (f"[red]{error}[/]" if error else "test message sent"))


def _print_next(console: Console, rumour: dict[str, Any] | None) -> None:
    """The commands to look further, with the real id of the story the demo is about."""
    if rumour:
        st = rumour["story"]
        console.print(Text.assemble("Who copied whom in the widest story, ", (repr(plain(st["title"])), "bold"),
                                    f" ({st['outlet_count']} outlets): ", (f"spreadwatch story {st['id']}", "bold")))
    console.print("Next: spreadwatch stories · spreadwatch articles --watch kfor-withdrawal · spreadwatch alerts · "
                  "spreadwatch serve")
