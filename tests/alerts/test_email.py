"""Email alerts against a real SMTP server (aiosmtpd) on 127.0.0.1: what arrives, and every way the
server can fail: refused login, a dropped connection, a server that is down, a permanent refusal,
TLS that is verified, and a sender killed after the server took the message."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from datetime import timedelta
from email.utils import parsedate_to_datetime

import pytest
from sqlalchemy import select

from alerts.channels import send_email
from alerts.config import Channel
from alerts.outbox import requeue_failed, send_due
from alerts.render import Message, headline
from alerts.sinks import SMTPSink, free_port
from storage import Database, Delivery, utcnow
from tests.alerts.replayed import (
    body,
    KOSOVO,
    deliveries,
    email_channel,
    ingest_story,
    kill_sender_mid_send,
    settings_with,
    story_drafts,
    story_of,
)

if TYPE_CHECKING:  # the fixture's type only: conftest is pytest's to import
    from tests.alerts.conftest import Certificate

BASE = "https://spreadwatch.example.org"


def test_email_alert_has_headers_both_parts_and_the_whole_story(db_url: str) -> None:
    with SMTPSink() as sink:
        settings = settings_with(db_url, [email_channel(sink.port)], base_url=BASE)
        db = Database(db_url)
        ingest_story(db, settings, KOSOVO, upto=5)  # level 3 at the third outlet, level 5 at the fifth
        report = send_due(db, settings)
        assert (report.sent, report.superseded, report.failed) == (1, 1, 0)
        assert len(sink.messages) == 1 and sink.recipients == [["desk@example.org"]]
        msg = sink.messages[0]
        assert msg["Subject"] == ("Spreading: 'Europa in Sorge: Geheimdienste rechnen mit Abzug der US-Truppen' "
                                  "— 5 outlets in 2 h (de→sq)")
        assert msg["From"] == "sw@localhost" and msg["To"] == "desk@example.org"
        assert msg["Auto-Submitted"] == "auto-generated"
        assert abs(parsedate_to_datetime(msg["Date"]) - utcnow()) < timedelta(hours=1)
        assert re.fullmatch(r"<spreadwatch-delivery-\d+-[0-9a-f]{16}@localhost>", msg["Message-ID"])
        assert msg.get_content_type() == "multipart/alternative"
        plain = body(msg, "plain")
        html = body(msg, "html")
        story = story_of(db, "https://www.bild.de/bild-geheimdienste-abzug/")
        assert "spreading: reached 5 outlets within 24 h" in plain
        assert "Origin: Bild (de) 2025-02-19T06:10" in plain
        assert f"Story: {BASE}/stories/{story}" in plain and f'href="{BASE}/stories/{story}"' in html
        assert re.search(r"Matched terms: .*Abzug", plain) and re.search(r"Matched terms: .*Abzug", html)
        assert "Origin: <a href=\"https://www.bild.de/bild-geheimdienste-abzug/\">" in html
        for _, draft in story_drafts(KOSOVO)[:5]:  # the timeline links every article, in both parts
            assert draft.url in plain and f'href="{draft.url}"' in html
        assert "+2 h  ntv" in plain  # ntv's copy came 1 h 55 min after Bild
        # a quiet story: nothing new, so nothing is sent again and no alert is added
        ingest_story(db, settings, KOSOVO, upto=5)
        assert send_due(db, settings).sent == 0 and len(sink.messages) == 1


def _history(title: str, langs: list[str], hours: list[float]) -> dict:  # type: ignore[type-arg]
    arts = [{"language": lang, "delay_seconds": h * 3600} for lang, h in zip(langs, hours)]
    return {"story": {"id": 1, "title": title, "outlet_count": len(arts)}, "articles": arts}


def test_subject_says_what_how_far_how_fast_and_where() -> None:
    spreading = {"kind": "outlets", "rule": "spreading", "levels": ["5"]}
    history = _history("US troops to leave Kosovo", ["de", "sq", "sq", "de", "sq"], [0, 0.5, 1, 2, 3])
    assert headline(spreading, history) == "Spreading: 'US troops to leave Kosovo' — 5 outlets in 3 h (de→sq)"
    quick = _history("A\nheadline  with\r\nbreaks", ["en", "sr"], [0, 0.25])
    assert headline({"kind": "languages", "rule": "l", "levels": ["sr"]}, quick) == \
        "New language: 'A headline with breaks' — 2 outlets in 15 min (en→sr)"
    long = _history("word " * 40, ["en"], [0])
    subject = headline({"kind": "denial", "rule": "d", "levels": ["denied"]}, long)
    assert subject.startswith("Denied: 'word word") and "…'" in subject and len(subject) < 120


def test_long_non_ascii_subjects_arrive_word_for_word() -> None:
    """Folding a long subject into encoded words must keep the spaces between them (the demo's
    Albanian headline once arrived as 'qëevropianët')."""
    subjects = ["New language: 'Vejvoda: Vizita e Rutte-s garanton që evropianët mbeten në KFOR' — 5 outlets "
                "in 5 h (sq→en→sr)",
                "Spreading: 'Билд: Италија се спрема за повлачење америчких војника са Косова' — 12 outlets in "
                "27 h (en→sq→sr→it)", "Denied: 'plain ASCII that is long enough to be folded over two lines or "
                "more' — 3 outlets in 1 h (en)"]
    with SMTPSink() as sink:
        chan = Channel.model_validate(email_channel(sink.port, **{"from": "Spreadwatch Ëmri <sw@localhost>"}))
        for i, subject in enumerate(subjects):
            send_email(chan, Message(subject, "text", "<p>html</p>", []), f"k{i}")
        assert [m["Subject"] for m in sink.messages] == subjects
        assert sink.messages[0]["From"] == "Spreadwatch Ëmri <sw@localhost>"


def test_refused_login_is_retried_then_fails_visibly_and_retry_delivers(sqlite_url: str,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SW_TEST_SMTP_PASSWORD", "wrong")
    with SMTPSink(user="spreadwatch", password="right") as sink:
        chan = email_channel(sink.port, username="spreadwatch", password_env="SW_TEST_SMTP_PASSWORD")
        settings = settings_with(sqlite_url, [chan], max_attempts=2)
        db = Database(sqlite_url)
        ingest_story(db, settings, KOSOVO, upto=3)
        first = send_due(db, settings)
        assert first.retrying == 1 and "SMTP login refused for 'spreadwatch': 535" in first.errors[0]
        assert send_due(db, settings).failed == 1
        assert deliveries(db) == [("desk", "failed", 2)] and sink.messages == []
        monkeypatch.setenv("SW_TEST_SMTP_PASSWORD", "right")  # the user fixes the password
        assert requeue_failed(db) == 1
        assert send_due(db, settings).sent == 1 and len(sink.messages) == 1
        assert deliveries(db) == [("desk", "sent", 1)]


def test_a_missing_password_variable_is_named_and_the_alert_waits(sqlite_url: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SW_TEST_UNSET_PASSWORD", raising=False)
    with SMTPSink(user="spreadwatch", password="right") as sink:
        chan = email_channel(sink.port, username="spreadwatch", password_env="SW_TEST_UNSET_PASSWORD")
        settings = settings_with(sqlite_url, [chan])
        db = Database(sqlite_url)
        ingest_story(db, settings, KOSOVO, upto=3)
        report = send_due(db, settings)
        assert report.retrying == 1 and "environment variable SW_TEST_UNSET_PASSWORD" in report.errors[0]
        assert deliveries(db) == [("desk", "pending", 1)] and sink.messages == []


def test_server_down_then_back_delivers_exactly_once(db_url: str) -> None:
    port = free_port()
    settings = settings_with(db_url, [email_channel(port)])
    db = Database(db_url)
    ingest_story(db, settings, KOSOVO, upto=3)
    down = send_due(db, settings)  # nobody listens on the port
    assert down.sent == 0 and down.retrying == 1 and "ConnectionRefused" in down.errors[0]
    assert deliveries(db) == [("desk", "pending", 1)]  # the alert stays, waiting
    with SMTPSink(port=port) as sink:
        assert send_due(db, settings).sent == 1
        assert send_due(db, settings).sent == 0
        assert len(sink.messages) == 1
    assert deliveries(db) == [("desk", "sent", 2)]


def test_connection_dropped_mid_message_is_retried_and_delivered_once(sqlite_url: str) -> None:
    with SMTPSink() as sink:
        sink.drop_next = 1
        settings = settings_with(sqlite_url, [email_channel(sink.port)])
        db = Database(sqlite_url)
        ingest_story(db, settings, KOSOVO, upto=3)
        dropped = send_due(db, settings)
        assert dropped.retrying == 1 and "SMTPServerDisconnected" in dropped.errors[0]
        assert sink.messages == [] and sink.drop_next == 0  # the server really took the drop path
        assert send_due(db, settings).sent == 1
        assert send_due(db, settings).sent == 0
        assert len(sink.messages) == 1 and deliveries(db) == [("desk", "sent", 2)]


def test_a_permanent_refusal_fails_at_once_with_the_servers_words(sqlite_url: str) -> None:
    with SMTPSink() as sink:
        sink.refuse.add("desk@example.org")
        settings = settings_with(sqlite_url, [email_channel(sink.port)])
        db = Database(sqlite_url)
        ingest_story(db, settings, KOSOVO, upto=3)
        report = send_due(db, settings)
        assert report.failed == 1 and "recipients refused" in report.errors[0] and "550" in report.errors[0]
        assert deliveries(db) == [("desk", "failed", 1)] and sink.messages == []


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
def test_tls_with_login_is_verified_and_delivers(sqlite_url: str, certificate: Certificate, implicit: bool,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SW_TEST_SMTP_PASSWORD", "right")
    with SMTPSink(user="spreadwatch", password="right", tls=certificate.server, implicit_tls=implicit) as sink:
        chan = email_channel(sink.port, security="tls" if implicit else "starttls", ca_file=str(certificate.pem),
                             username="spreadwatch", password_env="SW_TEST_SMTP_PASSWORD")
        settings = settings_with(sqlite_url, [chan])
        db = Database(sqlite_url)
        ingest_story(db, settings, KOSOVO, upto=3)
        assert send_due(db, settings).sent == 1
        assert len(sink.messages) == 1 and sink.messages[0]["Subject"].startswith("Spreading:")


def test_an_untrusted_certificate_is_refused(sqlite_url: str, certificate: Certificate) -> None:
    with SMTPSink(tls=certificate.server) as sink:
        settings = settings_with(sqlite_url, [email_channel(sink.port, security="starttls")])  # no ca_file
        db = Database(sqlite_url)
        ingest_story(db, settings, KOSOVO, upto=3)
        report = send_due(db, settings)
        assert report.retrying == 1 and "CERTIFICATE_VERIFY_FAILED" in report.errors[0]
        assert sink.messages == []


def test_a_sender_killed_after_the_server_took_the_message_resends_with_the_same_message_id(
        db_url: str) -> None:
    """The one repeat the outbox allows: the receiver can recognise it by its Message-ID."""
    with SMTPSink() as sink:
        channels = [email_channel(sink.port, timeout_seconds=30)]
        settings = settings_with(db_url, channels)
        db = Database(db_url)
        ingest_story(db, settings, KOSOVO, upto=3)
        kill_sender_mid_send(sink, db_url, channels)  # the server took the message, the sender died
        with db.session() as s:  # the dead sender's claim is still there
            assert s.scalar(select(Delivery.state)) == "sending"
        assert send_due(db, settings).sent == 0  # its lease holds
        later = utcnow() + timedelta(seconds=31)
        assert send_due(db, settings, now=later).sent == 1
        assert len(sink.messages) == 2 and sink.messages[0]["Message-ID"] == sink.messages[1]["Message-ID"]
        assert send_due(db, settings, now=later + timedelta(minutes=5)).sent == 0
        assert deliveries(db) == [("desk", "sent", 1)]
