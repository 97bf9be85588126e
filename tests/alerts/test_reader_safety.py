"""Nothing hostile reaches a reader of an alert: terminal escapes and direction overrides in a stored
title (stored before ingest cleaned titles) are gone from the email's subject and both parts, the
Slack message and the webhook JSON; Slack mrkdwn in a title stays text, also in the top-level
`text`; and a spreading alert's subject says what its rule saw."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select, update

from alerts.outbox import send_due
from alerts.sinks import SMTPSink
from spreadwatch.localserver import LocalServer, Request, Response
from storage import Article, Database, Story
from tests.alerts.replayed import KOSOVO, body, email_channel, ingest_story, settings_with, story_drafts

HOSTILE = "<!channel> \x1b[31mUS troops\x1b[0m to \u202eevomer\u202c leave \x07Kosovo"
SHOWN = "<!channel>  [31mUS troops [0m to evomer leave  Kosovo"


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def clean(text: str) -> bool:
    # a CRLF line end is mail's own (a quoted-printable body keeps it when decoded: apprise, once
    # imported, makes the stdlib encode UTF-8 mail that way for the whole process)
    text = text.replace("\r\n", "\n")
    return not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)


def test_a_hostile_stored_title_reaches_no_reader(server: LocalServer, db_url: str) -> None:
    seen: dict[str, list[Request]] = {"/slack": [], "/hook": []}
    for path in seen:
        server.route(path, lambda req, path=path: (seen[path].append(req), Response(200, b"ok"))[1])
    with SMTPSink() as sink:
        channels = [email_channel(sink.port),
                    {"name": "team", "type": "slack", "url": server.url("/slack"), "rate_per_minute": 100},
                    {"name": "hook", "type": "webhook", "url": server.url("/hook"), "rate_per_minute": 100}]
        settings = settings_with(db_url, channels)
        db = Database(db_url)
        ingest_story(db, settings, KOSOVO, upto=3)
        origin = story_drafts(KOSOVO)[0][1]
        with db.session() as s:  # as a database written before ingest cleaned titles holds it
            article = s.scalars(select(Article).where(Article.url == origin.url)).one()
            s.execute(update(Story).where(Story.id == article.story_id).values(title=HOSTILE))
            article.title = HOSTILE
        assert send_due(db, settings).sent == 3

        (msg,) = sink.messages
        for text in (str(msg["Subject"]), body(msg, "plain"), body(msg, "html")):
            assert clean(text) and "evomer" in text, text
        assert " ".join(SHOWN.split()) in str(msg["Subject"])  # a header is one line, spaces collapsed
        slack = json.loads(seen["/slack"][0].body)
        assert all(clean(s) for s in strings(slack))
        assert "<!channel>" not in slack["text"] and "&lt;!channel&gt;" in slack["text"]  # mrkdwn stays text
        mrkdwn = [b["text"]["text"] for b in slack["blocks"] if b["text"]["type"] == "mrkdwn"]
        assert mrkdwn and not any("<!channel>" in t for t in mrkdwn)  # (a plain_text header shows it as text)
        hook = json.loads(seen["/hook"][0].body)
        assert all(clean(s) for s in strings(hook))
        assert hook["story"]["story"]["title"] == SHOWN == hook["story"]["origin"]["title"]


def test_the_spreading_subject_states_the_level_and_the_time_that_reached_it(db_url: str) -> None:
    """The whole Bild story spans more than two days; its 10-outlet level was reached within the
    rule's 24 hours, and that is what the subject says."""
    with SMTPSink() as sink:
        settings = settings_with(db_url, [email_channel(sink.port)],
                                 rules=[{"name": "spreading", "levels": [10], "window_hours": 24}])
        db = Database(db_url)
        ingest_story(db, settings, KOSOVO)
        with db.session() as s:
            story = s.scalars(select(Story).where(Story.outlet_count >= 12)).one()
            whole = story.outlet_count
        assert send_due(db, settings).sent == 1
        subject = str(sink.messages[0]["Subject"])
        found = re.search(r"— (\d+) outlets in (\d+) (h|min) \(", subject)
        assert found, subject
        assert int(found.group(1)) == 10 != whole  # the level, not the story's count
        hours = int(found.group(2)) / (60 if found.group(3) == "min" else 1)
        assert hours <= 24, subject  # within the rule's window, not the story's whole span
