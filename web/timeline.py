"""The propagation timeline, laid out once: where every outlet row, point, arrow, label and legend
entry goes. web/svg.py and web/png.py draw this same layout, so the story page, the SVG export and
the PNG export are one picture.

Outlets run down the side in the order they first carried the story; time since the origin runs
across on a log scale, so the first hour and the second day both read. A point is one article,
filled with its language's colour and outlined in its link kind's colour; an arrow runs from each
source to its copy in the kind's colour; denials are diamonds, the origin is ringed. Labels are
placed only where they touch no other label, point or axis text.
"""

from __future__ import annotations

import math
import unicodedata
import zlib
from dataclasses import dataclass, field
from typing import Any, Literal

from web.history import format_delay, plain

KIND_COLOURS = {"origin": "#111827", "copy": "#dc2626", "attribution": "#2563eb", "translation": "#9333ea",
                "same-event": "#9ca3af", "denial": "#059669"}
KIND_MEANINGS = {"origin": "origin", "copy": "copy (same wording)", "attribution": "attribution (credit, link)",
                 "translation": "translation", "same-event": "same event", "denial": "denial"}
UNKNOWN_KIND = "#6b7280"
# Languages get light fills, so the link kind's saturated outline stands out around every point,
# and hues unlike the kinds' own, so a fill never reads as a kind.
LANGUAGE_COLOURS = {"sq": "#facc15", "de": "#fb923c", "sr": "#f472b6", "it": "#a3e635", "en": "#38bdf8",
                    "fr": "#2dd4bf", "mk": "#a16207", "bs": "#fda4af", "hr": "#bef264", "tr": "#c4b5fd",
                    "ru": "#fca5a5", "es": "#5eead4", "el": "#93c5fd", "bg": "#f9a8d4", "me": "#d9f99d"}
SPARE_COLOURS = ["#fde68a", "#99f6e4", "#fbcfe8", "#ecfccb", "#bae6fd", "#fed7aa", "#ddd6fe", "#e7e5e4"]
NO_LANGUAGE = "#cbd5e1"
INK, MUTED, GRID, GUIDE, PAPER = "#111827", "#6b7280", "#d1d5db", "#eef0f3", "#ffffff"

WIDTH, RIGHT, ROW = 960, 60, 30
PLOT_TOP = 86
POINT_R, RING_R, DIAMOND_R, OUTLINE = 7.0, 11.0, 9.0, 2.5
HEAD_LENGTH, HEAD_HALF_WIDTH, ARROW_WIDTH = 8.0, 4.0, 1.6
LABEL_SIZE, NAME_SIZE, TITLE_SIZE = 10, 12, 15
NAME_MAX_WIDTH = 200.0
NAME_GAP = 20  # from an outlet's name to the origin's ring
# Below about ten minutes the time axis runs nearly linear, above it logarithmic: a pure log of
# minutes would give the empty first quarter hour half the width.
KNEE_MINUTES = 10.0
# Ticks in minutes since the origin; only those inside the story's span are drawn.
TICKS = [(0, "0"), (15, "+15m"), (30, "+30m"), (60, "+1h"), (120, "+2h"), (180, "+3h"), (360, "+6h"),
         (720, "+12h"), (1440, "+1d"), (2880, "+2d"), (4320, "+3d"), (10080, "+1w"), (20160, "+2w"),
         (43200, "+30d"), (129600, "+90d"), (525600, "+1y")]

Pt = tuple[float, float]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1
Anchor = Literal["start", "middle", "end"]


@dataclass(frozen=True)
class Text:
    """A line of text; y is its baseline."""

    x: float
    y: float
    text: str
    size: int = NAME_SIZE
    anchor: Anchor = "start"
    colour: str = INK
    bold: bool = False
    halo: bool = False  # drawn over a white outline so it stays legible across arrows
    role: str = "text"


@dataclass(frozen=True)
class Rule:
    """A guide or grid line."""

    x1: float
    y1: float
    x2: float
    y2: float
    colour: str
    dashed: bool = False


@dataclass(frozen=True)
class Point:
    """One article."""

    article_id: int
    x: float
    y: float
    kind: str
    language: str
    fill: str
    outline: str
    diamond: bool
    ringed: bool
    tip: str
    url: str


@dataclass(frozen=True)
class Arrow:
    """From a source to its copy: a cubic curve and a filled head."""

    source_id: int
    target_id: int
    kind: str
    colour: str
    curve: tuple[Pt, Pt, Pt, Pt]
    head: tuple[Pt, Pt, Pt]


@dataclass(frozen=True)
class Swatch:
    """A legend mark: a short arrow, a ringed dot, a diamond or a plain dot."""

    x: float
    y: float
    shape: Literal["arrow", "ring", "diamond", "dot"]
    fill: str
    outline: str


@dataclass
class Timeline:
    """Everything a renderer draws, in drawing order: rules, arrows, points, swatches, texts."""

    width: int
    height: int
    title: str
    rules: list[Rule] = field(default_factory=list)
    arrows: list[Arrow] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    swatches: list[Swatch] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)


@dataclass(frozen=True)
class TimeScale:
    """Minutes since the origin to x, logarithmic past the knee so minutes and days share one axis."""

    left: float
    right: float
    span_minutes: float

    def x(self, minutes: float) -> float:
        top = math.log1p(max(self.span_minutes, 60.0) / KNEE_MINUTES)
        share = math.log1p(max(minutes, 0.0) / KNEE_MINUTES) / top
        return self.left + (self.right - self.left) * share


def text_width(text: str, size: float, bold: bool = False) -> float:
    """A generous estimate of the drawn width (DejaVu Sans metrics, rounded up), so labels placed
    by it do not touch in the browser's sans font or the PNG's."""
    em = sum(_char_em(c) for c in text)
    return size * em * (1.15 if bold else 1.0)


def _char_em(c: str) -> float:
    if unicodedata.east_asian_width(c) in "WF":
        return 1.05
    if c == " ":
        return 0.32
    if c in "ijlftrI.,:;'|!()[]/-":
        return 0.42
    if c in "mwMW%&@+ЖШЩЮжшщюым":
        return 1.0
    return 0.8 if c.isupper() else 0.64


def text_box(t: Text) -> Box:
    """The area a text covers (ascent 0.8 em above the baseline, descent 0.25 em below)."""
    w = text_width(t.text, t.size, t.bold)
    x0 = {"start": t.x, "middle": t.x - w / 2, "end": t.x - w}[t.anchor]
    return (x0, t.y - 0.8 * t.size, x0 + w, t.y + 0.25 * t.size)


def point_box(p: Point) -> Box:
    r = (RING_R if p.ringed else DIAMOND_R if p.diamond else POINT_R) + OUTLINE / 2
    return (p.x - r, p.y - r, p.x + r, p.y + r)


def overlaps(a: Box, b: Box, gap: float = 2.0) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def fit_text(text: str, size: float, width: float, bold: bool = False) -> str:
    """The text, cut with an ellipsis where it would be wider than `width`."""
    if text_width(text, size, bold) <= width:
        return text
    cut = text[:int(width / (0.32 * size)) + 1]  # no more can fit (0.32 em is the narrowest): a huge title stays cheap
    while cut and text_width(cut + "…", size, bold) > width:
        cut = cut[:-1]
    return cut.rstrip() + "…"


def language_colour(language: str | None) -> str:
    """A language's fill: fixed for the common ones, else a stable pick, so a language keeps its
    colour from story to story."""
    if not language:
        return NO_LANGUAGE
    return LANGUAGE_COLOURS.get(language) or SPARE_COLOURS[zlib.crc32(language.encode()) % len(SPARE_COLOURS)]


def layout_timeline(history: dict[str, Any]) -> Timeline:
    """Lay out a story history (the `story_history` shape) as a timeline picture."""
    articles = history["articles"]
    rows = _rows(articles)
    left = _left_margin(rows)
    plot_bottom = PLOT_TOP + ROW * len(rows)
    span = max((a["delay_seconds"] / 60 for a in articles), default=60.0)
    scale = TimeScale(left, WIDTH - RIGHT, max(span, 60.0))
    tl = Timeline(width=WIDTH, height=0, title=plain(history["story"]["title"]))
    tl.texts += _header(history, left)
    tl.rules += _row_rules(rows, left)
    names = _row_names(rows, left)
    ticks = _ticks(scale, span, plot_bottom)
    tl.texts += names
    tl.rules += [r for r, _ in ticks]
    tl.texts += [t for _, t in ticks]
    tl.points = [_point(a, scale, _row_y(rows[a["outlet"]][0])) for a in articles]
    tl.arrows = _arrows(articles, tl.points)
    taken = [text_box(t) for t in names] + [text_box(t) for _, t in ticks] + [point_box(p) for p in tl.points]
    tl.texts += _point_labels(articles, tl.points, taken, (left - 6, PLOT_TOP, WIDTH - 4, plot_bottom))
    swatches, legend, bottom = _legend(articles, plot_bottom + 30)
    tl.swatches, tl.height = swatches, int(bottom + 14)
    tl.texts += legend
    return tl


def _rows(articles: list[dict[str, Any]]) -> dict[str, tuple[int, str]]:
    """Outlet key to (row index, display name), in the order outlets first carried the story."""
    rows: dict[str, tuple[int, str]] = {}
    for a in articles:
        if a["outlet"] not in rows:
            rows[a["outlet"]] = (len(rows), plain(a.get("outlet_name") or a["outlet"]))
    return rows


def _row_y(index: int) -> float:
    return PLOT_TOP + ROW * index + ROW / 2


def _left_margin(rows: dict[str, tuple[int, str]]) -> float:
    widest = max((text_width(fit_text(name, NAME_SIZE, NAME_MAX_WIDTH), NAME_SIZE) for _, name in rows.values()),
                 default=60.0)
    return max(110.0, min(widest, NAME_MAX_WIDTH) + NAME_GAP + 16)


def _header(history: dict[str, Any], left: float) -> list[Text]:
    story, origin = history["story"], history["origin"]
    when = (origin.get("published_at") or origin.get("first_seen_at") or "")[:16].replace("T", " ")
    langs = story.get("languages") or []
    facts = (f"{story['article_count']} articles from {story['outlet_count']} outlets in {len(langs)} "
             f"language{'s' if len(langs) != 1 else ''} · origin: {origin.get('outlet_name') or origin['outlet']}, "
             f"{when} UTC")
    return [Text(16, 24, fit_text(plain(story["title"]), TITLE_SIZE, WIDTH - 32, bold=True), TITLE_SIZE, bold=True,
                 role="title"),
            Text(16, 43, fit_text(plain(facts), 11, WIDTH - 32), 11, colour=MUTED, role="subtitle"),
            Text(left, 62, "time since the origin (log scale) →", 11, colour=MUTED, role="axis"),
            Text(left - NAME_GAP, PLOT_TOP - 8, "outlet ↓", 11, anchor="end", colour=MUTED, role="axis")]


def _row_rules(rows: dict[str, tuple[int, str]], left: float) -> list[Rule]:
    return [Rule(left, _row_y(i), WIDTH - RIGHT + 20, _row_y(i), GUIDE) for i, _ in rows.values()]


def _row_names(rows: dict[str, tuple[int, str]], left: float) -> list[Text]:
    return [Text(left - NAME_GAP, _row_y(i) + 4, fit_text(name, NAME_SIZE, NAME_MAX_WIDTH), NAME_SIZE, anchor="end",
                 role="outlet") for i, name in rows.values()]


def _ticks(scale: TimeScale, span: float, plot_bottom: float) -> list[tuple[Rule, Text]]:
    """Dashed lines with their labels above the plot; a label that would touch the last one is left out."""
    out: list[tuple[Rule, Text]] = []
    for minutes, label in TICKS:
        if minutes > max(span, 60.0) * 1.05:
            break
        x = scale.x(minutes)
        text = Text(x, PLOT_TOP - 8, label, 11, anchor="middle", colour=MUTED, role="tick")
        if out and overlaps(text_box(out[-1][1]), text_box(text), gap=8):
            continue
        out.append((Rule(x, PLOT_TOP - 4, x, plot_bottom, GRID, dashed=True), text))
    return out


def _point(a: dict[str, Any], scale: TimeScale, y: float) -> Point:
    kind = a["kind"]
    source = f" of {a['source_outlet']}" if a.get("source_outlet") else ""
    tip = plain(f"{a.get('outlet_name') or a['outlet']} ({a['language'] or '?'}), {format_delay(a['delay_seconds'])}: "
                f"{kind}{source}: {a['title']}")
    return Point(article_id=a["id"], x=scale.x(a["delay_seconds"] / 60), y=y, kind=kind, language=plain(a["language"]),
                 fill=language_colour(a["language"]), outline=KIND_COLOURS.get(kind, UNKNOWN_KIND),
                 diamond=kind == "denial", ringed=kind == "origin", tip=tip, url=a["url"])


def _arrows(articles: list[dict[str, Any]], points: list[Point]) -> list[Arrow]:
    at = {p.article_id: p for p in points}
    return [_arrow(at[a["source"]], at[a["id"]]) for a in articles
            if a["source"] in at and a["source"] != a["id"]]


def _arrow(src: Point, dst: Point) -> Arrow:
    """A curve leaving the source level and arriving level with the copy, its head just outside the point."""
    start: Pt = (src.x, src.y)
    mid = (src.x + dst.x) / 2
    c1: Pt = (mid, src.y)
    c2: Pt = (mid, dst.y)
    dx, dy = dst.x - c2[0], dst.y - c2[1]
    if math.hypot(dx, dy) < 1:  # the copy sits straight below its source: come in vertically
        dx, dy = dst.x - src.x, dst.y - src.y
    length = math.hypot(dx, dy)
    ux, uy = (dx / length, dy / length) if length else (1.0, 0.0)  # a copy on top of its source
    reach = (DIAMOND_R if dst.diamond else POINT_R) + OUTLINE / 2 + 1
    tip: Pt = (dst.x - ux * reach, dst.y - uy * reach)
    base: Pt = (tip[0] - ux * HEAD_LENGTH, tip[1] - uy * HEAD_LENGTH)
    head = (tip, (base[0] - uy * HEAD_HALF_WIDTH, base[1] + ux * HEAD_HALF_WIDTH),
            (base[0] + uy * HEAD_HALF_WIDTH, base[1] - ux * HEAD_HALF_WIDTH))
    colour = KIND_COLOURS.get(dst.kind, UNKNOWN_KIND)
    return Arrow(src.article_id, dst.article_id, dst.kind, colour, (start, c1, c2, base), head)


def _point_labels(articles: list[dict[str, Any]], points: list[Point], taken: list[Box], area: Box) -> list[Text]:
    """'sq +1h38' beside each point, in the first free spot of four; none where all four are taken."""
    labels = []
    for a, p in zip(articles, points):
        words = f"{p.language or '?'} {'origin' if p.ringed else format_delay(a['delay_seconds'])}"
        reach = (point_box(p)[2] - p.x) + 4  # clear of the point's own box and the gap around it
        spots: list[tuple[float, float, Anchor]] = [
            (p.x + reach, p.y - 6, "start"), (p.x + reach, p.y + 13, "start"),  # above right, below right
            (p.x - reach, p.y - 6, "end"), (p.x - reach, p.y + 13, "end")]
        for x, y, anchor in spots:
            label = Text(x, y, words, LABEL_SIZE, anchor=anchor, colour="#374151", halo=True, role="label")
            box = text_box(label)
            inside = box[0] >= area[0] and box[2] <= area[2] and box[1] >= area[1] and box[3] <= area[3]
            if inside and not any(overlaps(box, other) for other in taken):
                labels.append(label)
                taken.append(box)
                break
    return labels


def _legend(articles: list[dict[str, Any]], top: float) -> tuple[list[Swatch], list[Text], float]:
    """Two rows of keys (link kinds, then this story's languages) and a note; returns the bottom y."""
    kinds = [(_kind_swatch(kind), KIND_MEANINGS[kind]) for kind in KIND_COLOURS]
    codes = list(dict.fromkeys(plain(a["language"]) for a in articles))
    languages = [(("dot", language_colour(code), INK), code or "unknown") for code in codes]
    swatches: list[Swatch] = []
    texts: list[Text] = []
    y = top
    for heading, entries in (("link (arrow and outline):", kinds), ("language (fill):", languages)):
        y = _legend_row(heading, entries, y, swatches, texts) + 26
    texts.append(Text(16, y, "Each point is one article, placed by when it appeared; each arrow runs from "
                                 "the source to the article that took it up.", 11, colour=MUTED, role="note"))
    return swatches, texts, y


def _kind_swatch(kind: str) -> tuple[str, str, str]:
    colour = KIND_COLOURS[kind]
    if kind == "origin":
        return ("ring", "#ffffff", colour)
    if kind == "denial":
        return ("diamond", "#ffffff", colour)
    return ("arrow", colour, colour)


def _legend_row(heading: str, entries: list[tuple[tuple[str, str, str], str]], y: float,
                swatches: list[Swatch], texts: list[Text]) -> float:
    """Lay one legend row out from the left, wrapping before the right edge; returns its last line's y."""
    texts.append(Text(16, y + 4, heading, 11, bold=True, role="legend"))
    start = 16 + text_width(heading, 11, bold=True) + 14
    x = start
    for (shape, fill, outline), words in entries:
        need = 30 + text_width(words, 11)
        if x + need > WIDTH - 16 and x > start:
            x, y = start, y + 22
        swatches.append(Swatch(x + 10, y, shape, fill, outline))  # type: ignore[arg-type]
        texts.append(Text(x + 26, y + 4, words, 11, role="legend"))
        x += need + 14
    return y
