"""What an alert says: a subject that tells what happened, the origin, the timeline, the links, the
matched terms; as plain text, HTML (everything scraped escaped) and Slack Block Kit. A digest says
the same for each story it carries, in one message."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit
from dataclasses import dataclass, field
from typing import Any

from storage.stories_repo import official_label

SLACK_MAX_BLOCKS = 50  # Slack rejects a message with more
SLACK_MAX_SECTION = 3000  # characters of one section's text
DIGEST_TIMELINE = 10  # articles listed per story in a digest; the story page has the rest


@dataclass
class Message:
    subject: str
    text: str
    html: str
    blocks: list[dict[str, Any]]
    markdown: str = ""  # for apprise, which turns it into each service's own format


@dataclass
class StoryNews:
    """One story's part of a message: its history, the alerts it raised, the watch terms it matched."""

    history: dict[str, Any]
    alerts: list[dict[str, Any]]  # each: rule, kind, levels (and window_hours for outlet rules)
    terms: list[str] = field(default_factory=list)


def _oneline(text: str, limit: int) -> str:
    """Whitespace collapsed (a header never carries a line break) and cut at a word with an ellipsis."""
    flat = re.sub(r"\s+", " ", text or "").strip()
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def _span(seconds: float) -> str:
    h = seconds / 3600
    if h >= 48:
        return f"{h / 24:.0f} d"
    return f"{h:.0f} h" if h >= 1 else f"{max(seconds, 0) / 60:.0f} min"


def _offset(seconds: float) -> str:
    return f"+{_span(seconds)}" if seconds >= 0 else f"−{_span(-seconds)}"


def headline(alert: dict[str, Any], history: dict[str, Any]) -> str:
    """`Spreading: 'TITLE' — 5 outlets in 3 h (de→sq)`: what happened, how far, how fast, where.

    A spreading alert says what its rule saw: the level it reached and the shortest time in which
    that many outlets carried the story, not the whole story's count and age (a level reached
    within 24 h of a story that has spread for 27 h is "5 outlets in 20 h", not "7 outlets in 27 h")."""
    story, arts = history["story"], history["articles"]
    outlets, seen = story["outlet_count"], arts
    if alert["kind"] == "outlets":
        level = max((int(lv) for lv in alert["levels"] if str(lv).isdigit()), default=0)
        seen = _quickest(arts, level) or arts
        outlets = level or outlets
    langs = list(dict.fromkeys(a["language"] for a in seen if a["language"]))
    route = "→".join(langs[:5]) + ("→…" if len(langs) > 5 else "")
    delays = [a["delay_seconds"] for a in seen]
    span = _span(max(delays) - min(delays)) if delays else "0 min"
    what = {"outlets": "Spreading", "languages": "New language", "countries": "New country",
            "denial": "Denied"}.get(alert["kind"], "Alert")
    denier = _official_denier(alert, history)
    what = f"Denied by {denier}" if denier else what
    return f"{what}: '{_oneline(story['title'], 80)}' — {outlets} outlets in {span} ({route})"


def _quickest(arts: list[dict[str, Any]], level: int) -> list[dict[str, Any]]:
    """The articles of the shortest stretch of time in which `level` distinct outlets carried the
    story (empty if it never had that many): the outlets rule's own sliding window, tightest."""
    ordered = sorted(enumerate(arts), key=lambda ia: ia[1]["delay_seconds"])
    inside: dict[Any, int] = {}
    best: tuple[float, int, int] | None = None
    first = 0
    for last, (i, a) in enumerate(ordered):
        inside[a.get("outlet", i)] = inside.get(a.get("outlet", i), 0) + 1
        while len(inside) >= level and level > 0:
            span = a["delay_seconds"] - ordered[first][1]["delay_seconds"]
            if best is None or span < best[0]:
                best = (span, first, last)
            gone = ordered[first][1].get("outlet", ordered[first][0])
            inside[gone] -= 1
            if not inside[gone]:
                del inside[gone]
            first += 1
    return [a for _, a in ordered[best[1]:best[2] + 1]] if best else []


def what_happened(alert: dict[str, Any]) -> str:
    """The rule's news in words: `spreading: reached 3 → 5 outlets within 24 h`."""
    levels = list(alert["levels"])
    kind = alert["kind"]
    if kind == "outlets":
        hours = alert.get("window_hours")
        within = f" within {hours:g} h" if hours else ""
        news = f"reached {' → '.join(levels)} outlets{within}"
    elif kind in ("languages", "countries"):
        news = f"crossed into {'a new language' if kind == 'languages' else 'a new country'}: {', '.join(levels)}"
    elif kind == "rate":
        minutes = alert.get("window_minutes")
        news = f"gained {' → '.join(levels)} new outlets within {minutes:g} min" if minutes else ", ".join(levels)
    elif kind == "denial":
        news = "an official source denied it" if "official" in levels else "a denial or debunk appeared"
    else:
        news = ", ".join(levels)
    return f"{alert['rule']}: {news}"


def _official_denier(alert: dict[str, Any], history: dict[str, Any]) -> str | None:
    """The name of the first official source that denied the story, for an `official` denial alert."""
    if alert["kind"] != "denial" or "official" not in alert["levels"]:
        return None
    return next((a["outlet_name"] for a in history["articles"]
                 if a["kind"] == "denial" and a.get("outlet_kind") == "official"), None)


def _marked(entry: dict[str, Any]) -> str:
    """' — Official statement: …' after an official source's article in a timeline; '' for a newsroom's."""
    label = official_label(entry)
    return f" — {label}" if label else ""


def merge_alerts(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per rule, its levels joined in order: a digest says `3 → 5`, not two lines."""
    merged: dict[str, dict[str, Any]] = {}
    for a in alerts:
        if a["rule"] in merged:
            known = merged[a["rule"]]["levels"]
            known += [lv for lv in a["levels"] if lv not in known]
        else:
            merged[a["rule"]] = {**a, "levels": list(a["levels"])}
    return list(merged.values())


def _web(url: str) -> bool:
    """Only http(s) links are made clickable: a feed could carry `javascript:` or worse."""
    return urlsplit(url or "").scheme.lower() in ("http", "https")


def _a(url: str, label: str) -> str:
    e = html.escape
    return f"<a href=\"{e(url)}\">{e(label)}</a>" if _web(url) else f"{e(label)} ({e(url)})"


def _story_url(history: dict[str, Any], base_url: str | None) -> str | None:
    return f"{base_url.rstrip('/')}/stories/{history['story']['id']}" if base_url else None


# ------------------------------------------------------------------ plain text


def _text_story(news: StoryNews, base_url: str | None, timeline_limit: int | None) -> list[str]:
    origin, arts = news.history["origin"], news.history["articles"]
    lines = [*(what_happened(a) for a in news.alerts),
             f"Origin: {origin['outlet_name']} ({origin['language']}) {origin['published_at'] or origin['first_seen_at']}",
             f"  {_oneline(origin['title'], 200)}", f"  {origin['url']}", "", "Timeline:"]
    for a in arts[:timeline_limit]:
        src = f" ← {a['source_outlet']}" if a["source_outlet"] else ""
        lines.append(f"  {_offset(a['delay_seconds']):>7}  {a['outlet']:<16} {a['language']}  {a['kind']}{src}"
                     f"{_marked(a)}")
        lines.append(f"            {_oneline(a['title'], 200)}\n            {a['url']}")
    hidden = len(arts) - len(arts[:timeline_limit])
    if hidden:
        lines.append(f"  … and {hidden} more articles")
    url = _story_url(news.history, base_url)
    if url:
        lines += ["", f"Story: {url}"]
    if news.terms:
        lines += ["", "Matched terms: " + ", ".join(news.terms)]
    return lines


# ------------------------------------------------------------------ HTML


def _html_story(news: StoryNews, base_url: str | None, timeline_limit: int | None) -> str:
    e = html.escape
    origin, arts = news.history["origin"], news.history["articles"]
    rows = "".join(
        f"<tr><td>{e(_offset(a['delay_seconds']))}</td><td>{e(a['outlet_name'])}</td><td>{e(a['language'])}</td>"
        f"<td>{e(a['kind'])}{' ← ' + e(a['source_outlet']) if a['source_outlet'] else ''}"
        f"{e(_marked(a))}</td>"
        f"<td>{_a(a['url'], a['title'])}</td></tr>" for a in arts[:timeline_limit])
    hidden = len(arts) - len(arts[:timeline_limit])
    more = f"<p>… and {hidden} more articles</p>" if hidden else ""
    url = _story_url(news.history, base_url)
    link = f"<p>{_a(url, 'Open the story')}</p>" if url else ""
    terms = f"<p>Matched terms: {e(', '.join(news.terms))}</p>" if news.terms else ""
    happened = "".join(f"<li>{e(what_happened(a))}</li>" for a in news.alerts)
    return (f"<ul>{happened}</ul><p>Origin: {_a(origin['url'], origin['title'])} — "
            f"{e(origin['outlet_name'])} ({e(origin['language'])}), "
            f"{e(origin['published_at'] or origin['first_seen_at'] or '')}</p>"
            f"<table border=\"1\" cellpadding=\"4\"><tr><th>since origin</th><th>outlet</th><th>lang</th>"
            f"<th>how</th><th>article</th></tr>{rows}</table>{more}{terms}{link}")


# ------------------------------------------------------------------ Slack Block Kit


def _md(text: str) -> str:
    """Slack mrkdwn: escape its three control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(subject: str) -> str:
    """A Slack message's top-level `text` (its notification): mrkdwn too, so escaped like the blocks;
    a scraped `<!channel>` must not page a whole channel."""
    return _md(_oneline(subject, 300))


def _slack_link(url: str, label: str) -> str:
    text = _md(_oneline(label, 90))
    return f"<{_md(url)}|{text.replace('|', '¦')}>" if _web(url) else f"{text} ({_md(url)})"


def _slack_story(news: StoryNews, base_url: str | None, limit: int, title: str | None) -> str:
    origin, arts = news.history["origin"], news.history["articles"]
    lines = [f"*{_md(title)}*"] if title else []
    lines += [_md(what_happened(a)) for a in news.alerts]
    lines.append(f"Origin: *{_md(origin['outlet_name'])}* ({origin['language']}) "
                 f"{_slack_link(origin['url'], origin['title'])}")
    lines += [f"{_offset(a['delay_seconds'])} *{_md(a['outlet'])}* ({a['language']}, {a['kind']}){_md(_marked(a))} "
              f"{_slack_link(a['url'], a['title'])}" for a in arts[:limit]]
    if len(arts) > limit:
        lines.append(f"… and {len(arts) - limit} more")
    if news.terms:
        lines.append("Matched terms: " + _md(", ".join(news.terms)))
    url = _story_url(news.history, base_url)
    if url:
        lines.append(_slack_link(url, "Open the story"))
    return _cut("\n".join(lines), SLACK_MAX_SECTION)


def _cut(text: str, limit: int) -> str:
    """Cut at a line, so a Slack link is never split in half."""
    if len(text) <= limit:
        return text
    return text[:limit - 2].rsplit("\n", 1)[0] + "\n…"


def _header(subject: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": _oneline(subject, 148)}}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


# ------------------------------------------------------------------ Markdown (apprise)

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~])")


def _mdx(text: str) -> str:
    """Scraped text as literal Markdown: every character Markdown could read as markup is escaped,
    so a headline cannot become a link, an image or a heading."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_link(url: str, label: str) -> str:
    if not _web(url):
        return f"{_mdx(label)} ({_mdx(url)})"
    # percent-encode what would end or break the link's destination
    target = url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")
    return f"[{_mdx(label)}]({target})"


def _markdown_story(news: StoryNews, base_url: str | None, limit: int | None) -> list[str]:
    origin, arts = news.history["origin"], news.history["articles"]
    lines = [f"- {_mdx(what_happened(a))}" for a in news.alerts]
    lines += ["", f"Origin: **{_mdx(origin['outlet_name'])}** ({_mdx(origin['language'] or '?')}) "
                  f"{_md_link(origin['url'], _oneline(origin['title'], 200))}", ""]
    lines += [f"{i}. `{_offset(a['delay_seconds'])}` **{_mdx(a['outlet'])}** ({_mdx(a['language'] or '?')}, "
              f"{a['kind']}){_mdx(_marked(a))} {_md_link(a['url'], _oneline(a['title'], 200))}"
              for i, a in enumerate(arts[:limit], start=1)]
    hidden = len(arts) - len(arts[:limit])
    if hidden:
        lines.append(f"\n… and {hidden} more articles")
    if news.terms:
        lines += ["", "Matched terms: " + _mdx(", ".join(news.terms))]
    url = _story_url(news.history, base_url)
    if url:
        lines += ["", _md_link(url, "Open the story")]
    return lines


# ------------------------------------------------------------------ the messages


def render(alert: dict[str, Any], history: dict[str, Any], base_url: str | None = None,
           terms: list[str] | None = None) -> Message:
    """The message of one alert about one story."""
    news = StoryNews(history, [alert], terms or [])
    subject = headline(alert, history)
    text = "\n".join([subject, "", *_text_story(news, base_url, None)])
    body = f"<html><body><h2>{html.escape(subject)}</h2>{_html_story(news, base_url, None)}</body></html>"
    blocks = [_header(subject), _section(_slack_story(news, base_url, 15, None))]
    return Message(subject, text, body, blocks, "\n".join(_markdown_story(news, base_url, None)))


def render_digest(stories: list[StoryNews], period_end: str, base_url: str | None = None) -> Message:
    """One message for many alerts: per story, its headline and what it did since the last digest."""
    subject = digest_subject(stories)
    titles = [headline(s.alerts[-1], s.history) for s in stories]
    text = [subject, f"Alerts up to {period_end}.", ""]
    body = [f"<html><body><h2>{html.escape(subject)}</h2><p>Alerts up to {html.escape(period_end)}.</p>"]
    markdown = [f"Alerts up to {_mdx(period_end)}."]
    for news, title in zip(stories, titles):
        text += [title, "", *_text_story(news, base_url, DIGEST_TIMELINE), "", "—" * 20, ""]
        body.append(f"<h3>{html.escape(title)}</h3>{_html_story(news, base_url, DIGEST_TIMELINE)}<hr>")
        markdown += ["", f"### {_mdx(title)}", *_markdown_story(news, base_url, DIGEST_TIMELINE)]
    body.append("</body></html>")
    return Message(subject, "\n".join(text), "".join(body), _digest_blocks(subject, stories, titles, base_url),
                   "\n".join(markdown))


def digest_subject(stories: list[StoryNews]) -> str:
    """`Digest: 3 stories — 'A' 5 outlets; 'B' 3 outlets and 1 more`."""
    named = "; ".join(f"'{_oneline(s.history['story']['title'], 50)}' {s.history['story']['outlet_count']} outlets"
                      for s in stories[:2])
    more = f" and {len(stories) - 2} more" if len(stories) > 2 else ""
    return f"Digest: {len(stories)} {'story' if len(stories) == 1 else 'stories'} — {named}{more}"


def _digest_blocks(subject: str, stories: list[StoryNews], titles: list[str],
                   base_url: str | None) -> list[dict[str, Any]]:
    room = SLACK_MAX_BLOCKS - 2  # the header, and a last line when stories do not fit
    blocks = [_header(subject)]
    blocks += [_section(_slack_story(news, base_url, 5, title)) for news, title in zip(stories[:room], titles)]
    if len(stories) > room:
        blocks.append(_section(f"… and {len(stories) - room} more stories: see the email or `spreadwatch alerts`"))
    return blocks
