"""Replayed stories fed through the real ingest with alert settings, and the sender and rule runs
that tests start in other processes (so a crash is a real SIGKILL and a race is two real processes)."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import datetime
from typing import Any

from sqlalchemy import event, select, update

from alerts.outbox import send_due
from alerts.rules import evaluate
from bench.stories_eval import corpus_settings, drafts
from spreadwatch.ingest import ingest
from spreadwatch.replay import load_corpus
from spreadwatch.settings import Settings
from storage import Article, Database, Delivery, Story

FAST = {"max_attempts": 4, "backoff_seconds": 0, "max_backoff_seconds": 0, "lease_seconds": 30}
KOSOVO = "bild-kosovo-withdrawal"  # Bild's claim, then the Albanian copies: de → sq
POLITICO = "politico-kfor-scaleback"  # a second story the default watch matches


def settings_with(db_url: str, channels: list[dict[str, Any]], rules: list[dict[str, Any]] | None = None, *,
                  base_url: str | None = None, **delivery: float) -> Settings:
    """Only the outlet-count rule unless told otherwise, so each test knows how many alerts to expect."""
    base = corpus_settings(load_corpus(), db_url)
    alerts: dict[str, Any] = {"channels": channels, "delivery": {**FAST, **delivery},
                              "rules": [{"name": "spreading"}] if rules is None else rules}
    if base_url:
        alerts["base_url"] = base_url
    return base.with_overrides(alerts=alerts)


def email_channel(port: int, **kw: Any) -> dict[str, Any]:
    return {"name": "desk", "type": "email", "host": "127.0.0.1", "port": port, "from": "sw@localhost",
            "to": ["desk@example.org"], "timeout_seconds": 3, "rate_per_minute": 100, **kw}


def story_drafts(story: str) -> list[tuple[str, Any]]:
    """The story's articles as drafts, in publication order, with their corpus keys."""
    corpus = load_corpus()
    chosen = [(key, d) for key, d in drafts(corpus) if corpus.article(key).labels.story == story]
    return sorted(chosen, key=lambda x: corpus.article(x[0]).published)


def ingest_story(db: Database, settings: Settings, story: str, upto: int | None = None,
                 start: int = 0, now: datetime | None = None) -> None:
    """Ingest the story's articles `start`..`upto` (publication order), one transaction each;
    `now` is when spreadwatch saw them (and so when their alerts were made)."""
    for _, draft in story_drafts(story)[start:upto]:
        with db.session() as s:
            ingest(s, draft, settings, now=now)


def story_of(db: Database, url: str) -> int:
    with db.session() as s:
        sid = s.scalar(select(Article.story_id).where(Article.url == url))
    assert sid is not None, f"no story holds {url}"
    return sid


def body(msg: Any, kind: str) -> str:
    """The decoded text of a received message's `plain` or `html` part (which must be there)."""
    part = msg.get_body((kind,))
    assert part is not None, f"no {kind} part"
    return str(part.get_content())


def deliveries(db: Database) -> list[tuple[str, str, int]]:
    with db.session() as s:
        return [(d.channel, d.state, d.attempts) for d in s.scalars(select(Delivery).order_by(Delivery.id))]


# ------------------------------------------------------------------ runs in other processes

def spawn() -> multiprocessing.context.SpawnContext:
    """A clean interpreter per process: no threads or connections inherited from the test."""
    return multiprocessing.get_context("spawn")


def send_in_process(db_url: str, channels: list[dict[str, Any]], now: str | None) -> None:
    """A sender process: one send_due run (the test kills it mid-send)."""
    settings = settings_with(db_url, channels)
    send_due(Database(db_url, migrate=False), settings, now=datetime.fromisoformat(now) if now else None)


def kill_sender_mid_send(sink: Any, db_url: str, channels: list[dict[str, Any]], now: str | None = None) -> None:
    """A sender process that reaches the SMTP sink, which takes the message and does not answer, and
    is killed there: its claim (and lease) stays behind. The sink answers again afterwards."""
    sink.hold = threading.Event()
    sender = spawn().Process(target=send_in_process, args=(db_url, channels, now))
    sender.start()
    try:
        assert sink.received.wait(60), "the sender process never reached the SMTP server"
    finally:
        sender.kill()
        sender.join(30)
    sink.hold.set()


def evaluate_first(db_url: str, story_id: int, now: str, flushed: Any, go: Any, out: Any) -> None:
    """Process A of the race: as ingest does, changes the story and records its alerts in one
    transaction, says so, and commits only when told."""
    settings = settings_with(db_url, [email_channel(25)])
    db = Database(db_url, migrate=False)
    with db.session() as s:
        s.execute(update(Story).where(Story.id == story_id).values(last_seen_at=Story.last_seen_at))
        fired = evaluate(s, [story_id], settings, datetime.fromisoformat(now))
        s.flush()
        flushed.set()
        go.wait(60)
    out.put(("first", len(fired)))


def evaluate_second(db_url: str, story_id: int, now: str, inserting: Any, out: Any) -> None:
    """Process B of the race: evaluates while A's alerts are written but not committed."""
    settings = settings_with(db_url, [email_channel(25)])
    db = Database(db_url, migrate=False)

    @event.listens_for(db.engine, "before_cursor_execute")
    def _tell(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO ALERT"):
            inserting.set()  # B has read no alert (A's is not committed) and is about to write its own

    with db.session() as s:
        fired = evaluate(s, [story_id], settings, datetime.fromisoformat(now))
    out.put(("second", len(fired)))
