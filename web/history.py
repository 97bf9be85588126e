"""A story's history as text: delays since the origin, evidence, age filters and the CSV export.

Shared by the CLI (`spreadwatch story`, `spreadwatch export`) and the web app, so both say the same
thing the same way. Everything here treats titles and evidence as untrusted input.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from storage.text import plain  # control characters and direction overrides out, wherever text is shown

__all__ = ["format_delay", "format_evidence", "guard_cell", "history_csv", "parse_age", "plain", "tree_rows"]

CSV_COLUMNS = ["id", "published_at", "delay_seconds", "outlet", "language", "kind", "source", "source_outlet",
               "score", "title", "url", "evidence"]
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): a scraped
# headline "=HYPERLINK(...)" must stay text. Tab and CR start formulas in some programs too.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_AGE = re.compile(r"(\d+)\s*([mhdw])")
_AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def format_delay(seconds: float) -> str:
    """'+1h05', '+2d3h10' or '-0h20': how long after the origin an article appeared."""
    sign = "-" if seconds < 0 else "+"
    whole = abs(int(seconds))
    days, rest = divmod(whole, 86400)
    hours, minutes = divmod(rest // 60, 60)
    return f"{sign}{days}d{hours}h{minutes:02d}" if days else f"{sign}{hours}h{minutes:02d}"


def format_evidence(evidence: dict[str, Any]) -> str:
    """'jaccard=0.81; credits=…': a link's evidence on one line, empty values left out."""
    parts = []
    for key, value in evidence.items():
        if value in ([], None, "", {}):
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        parts.append(f"{key}={shown}")
    return "; ".join(parts)


def parse_age(text: str | None, now: datetime | None = None) -> datetime | None:
    """The moment '24h', '7d', '90m' or '2w' before now; None for no text. ValueError otherwise."""
    if not text or not text.strip():
        return None
    match = _AGE.fullmatch(text.strip().lower())
    if not match:
        raise ValueError(f"{text!r} is not an age: use a number and m, h, d or w, e.g. 24h or 7d")
    unit = _AGE_UNITS[match.group(2)]
    return (now or datetime.now(timezone.utc)) - timedelta(**{unit: int(match.group(1))})


def guard_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run as a formula (risky text gets a leading apostrophe) and
    a terminal will not obey (control characters become spaces)."""
    if not isinstance(value, str):
        return value
    value = plain(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def history_csv(history: dict[str, Any]) -> str:
    """One row per article: when, who, how, from whom, and the evidence as JSON."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for article in history["articles"]:
        row = {**article, "evidence": json.dumps(article["evidence"], ensure_ascii=False)}
        writer.writerow({key: guard_cell(row.get(key)) for key in CSV_COLUMNS})
    return buf.getvalue()


def tree_rows(history: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """The propagation tree flattened depth-first: (depth, article), each copy under its source,
    siblings earliest first. Articles whose source is outside the story start trees of their own."""
    articles = history["articles"]
    ids = {a["id"] for a in articles}
    children: dict[int, list[dict[str, Any]]] = {}
    roots = []
    for a in articles:
        if a["source"] in ids and a["source"] != a["id"]:
            children.setdefault(a["source"], []).append(a)
        else:
            roots.append(a)
    roots.sort(key=lambda a: a["id"] != history["origin"]["id"])  # the origin's tree first; stable otherwise
    rows: list[tuple[int, dict[str, Any]]] = []
    seen: set[int] = set()
    stack = [(0, a) for a in reversed(roots)]
    while stack:  # each article is pushed once, by its one source: bounded by the article count
        depth, a = stack.pop()
        if a["id"] in seen:
            continue
        seen.add(a["id"])
        rows.append((depth, a))
        stack.extend((depth + 1, c) for c in reversed(children.get(a["id"], [])))
    # A loop of sources (bad data) is never reached from a root: show its articles rather than lose them.
    return rows + [(0, a) for a in articles if a["id"] not in seen]
