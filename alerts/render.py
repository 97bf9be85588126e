"""What an alert says: a subject that tells what happened, the origin, the timeline, the links, the
matched terms; as plain text, HTML (everything scraped escaped) and Slack Block Kit."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any


@dataclass
class Message:
    subject: str
    text: str
    html: str
    blocks: list[dict[str, Any]]


def _span(seconds: float) -> str:
    h = seconds / 3600
    return f"{h:.0f} h" if h >= 1 else f"{seconds / 60:.0f} min"


def headline(alert: dict[str, Any], history: dict[str, Any]) -> str:
    story, arts = history["story"], history["articles"]
    langs = list(dict.fromkeys(a["language"] for a in arts if a["language"]))
    span = _span(max(a["delay_seconds"] for a in arts)) if arts else "0 min"
    what = {"outlets": "Spreading", "languages": "New language", "countries": "New country",
            "denial": "Denied"}.get(alert["kind"], "Alert")
    return (f"{what}: '{story['title'][:80]}' — {story['outlet_count']} outlets in {span} "
            f"({'→'.join(langs[:5])})")


def render(alert: dict[str, Any], history: dict[str, Any], base_url: str | None = None,
           terms: list[str] | None = None) -> Message:
    subject = headline(alert, history)
    origin, arts = history["origin"], history["articles"]
    terms = terms or []
    lines = [subject, "", f"Rule: {alert['rule']} reached {', '.join(alert['levels'])}",
             f"Origin: {origin['outlet_name']} ({origin['language']}) {origin['published_at'] or origin['first_seen_at']}",
             f"  {origin['title']}", f"  {origin['url']}", "", "Timeline:"]
    for a in arts:
        src = f" ← {a['source_outlet']}" if a["source_outlet"] else ""
        lines.append(f"  +{_span(a['delay_seconds']):>7}  {a['outlet']:<16} {a['language']}  {a['kind']}{src}")
        lines.append(f"            {a['title']}\n            {a['url']}")
    if base_url:
        lines += ["", f"Story: {base_url.rstrip('/')}/stories/{history['story']['id']}"]
    if terms:
        lines += ["", "Matched terms: " + ", ".join(terms)]
    return Message(subject, "\n".join(lines), _html(subject, alert, history, base_url), _blocks(subject, history))


def _html(subject: str, alert: dict[str, Any], history: dict[str, Any], base_url: str | None) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>+{e(_span(a['delay_seconds']))}</td><td>{e(a['outlet_name'])}</td><td>{e(a['language'])}</td>"
        f"<td>{e(a['kind'])}{' ← ' + e(a['source_outlet']) if a['source_outlet'] else ''}</td>"
        f"<td><a href=\"{e(a['url'])}\">{e(a['title'])}</a></td></tr>" for a in history["articles"])
    link = (f"<p><a href=\"{e(base_url.rstrip('/'))}/stories/{history['story']['id']}\">Open the story</a></p>"
            if base_url else "")
    return (f"<html><body><h2>{e(subject)}</h2><p>Rule <b>{e(alert['rule'])}</b> reached "
            f"{e(', '.join(alert['levels']))}.</p><table border=\"1\" cellpadding=\"4\">"
            f"<tr><th>since origin</th><th>outlet</th><th>lang</th><th>how</th><th>article</th></tr>{rows}</table>"
            f"{link}</body></html>")


def _blocks(subject: str, history: dict[str, Any]) -> list[dict[str, Any]]:
    def md(text: str) -> str:  # Slack mrkdwn: escape its three control characters
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    lines = [f"+{_span(a['delay_seconds'])} *{md(a['outlet'])}* ({a['language']}, {a['kind']}) "
             f"<{a['url']}|{md(a['title'][:90])}>" for a in history["articles"][:15]]
    more = len(history["articles"]) - 15
    if more > 0:
        lines.append(f"… and {more} more")
    return [{"type": "header", "text": {"type": "plain_text", "text": subject[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}}]
