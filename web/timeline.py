"""The propagation timeline as SVG, drawn on the server: outlets down the side, time across
(logarithmic, so the first hour and the second day both read), one point per article, an arrow from
each source to its copy, coloured by how it was made; denials are diamonds, the origin is ringed."""

from __future__ import annotations

import math
from html import escape
from typing import Any

KIND_COLOURS = {"origin": "#111827", "copy": "#dc2626", "attribution": "#2563eb", "translation": "#9333ea",
                "same-event": "#9ca3af", "denial": "#059669"}
LEFT, TOP, ROW, WIDTH, RIGHT = 170, 56, 30, 940, 40
TICKS = [(0, "0"), (30, "+30m"), (60, "+1h"), (180, "+3h"), (360, "+6h"), (720, "+12h"), (1440, "+1d"),
         (2880, "+2d"), (10080, "+1w"), (43200, "+30d")]


def _x(minutes: float, span: float) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * math.log1p(max(minutes, 0)) / math.log1p(max(span, 60))


def render_svg(history: dict[str, Any], *, standalone: bool = True) -> str:
    """An SVG of the story's history (escaped: titles are untrusted)."""
    arts = history["articles"]
    outlets = list(dict.fromkeys(a["outlet"] for a in arts))
    span = max((a["delay_seconds"] / 60 for a in arts), default=60)
    height = TOP + ROW * len(outlets) + 70
    pos = {a["id"]: (_x(a["delay_seconds"] / 60, span), TOP + ROW * outlets.index(a["outlet"]) + ROW / 2)
           for a in arts}
    parts = [_defs()]
    for i, name in enumerate(outlets):
        y = TOP + ROW * i + ROW / 2
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#eef0f3"/>'
                     f'<text class="sw-outlet" x="{LEFT - 10}" y="{y + 4:.1f}" text-anchor="end">{escape(name)}</text>')
    for minutes, label in TICKS:
        if minutes <= span * 1.05:
            x = _x(minutes, span)
            parts.append(f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{height - 62}" stroke="#e5e7eb" '
                         f'stroke-dasharray="3 3"/><text class="sw-tick" x="{x:.1f}" y="{TOP - 12}" '
                         f'text-anchor="middle">{label}</text>')
    for a in arts:
        if a["source"] in pos and a["source"] != a["id"]:
            (x1, y1), (x2, y2) = pos[a["source"]], pos[a["id"]]
            colour = KIND_COLOURS.get(a["kind"], "#6b7280")
            parts.append(f'<path class="sw-arrow" data-kind="{escape(a["kind"])}" d="M{x1:.1f},{y1:.1f} '
                         f'C{(x1 + x2) / 2:.1f},{y1:.1f} {(x1 + x2) / 2:.1f},{y2:.1f} {x2 - 7:.1f},{y2:.1f}" '
                         f'fill="none" stroke="{colour}" stroke-width="1.4" opacity="0.8" '
                         f'marker-end="url(#sw-head-{escape(a["kind"])})"/>')
    for a in arts:
        parts.append(_point(a, *pos[a["id"]]))
    parts.append(_legend(height - 40))
    body = "".join(parts)
    ns = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    title = escape(history["story"]["title"])
    return (f'<svg{ns} class="sw-timeline" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
            f'role="img" aria-label="Propagation timeline: {title}" font-family="system-ui, sans-serif" '
            f'font-size="12"><rect width="100%" height="100%" fill="#ffffff"/>'
            f'<text x="{LEFT}" y="22" font-size="14" font-weight="600">{title[:110]}</text>{body}</svg>')


def _defs() -> str:
    heads = "".join(f'<marker id="sw-head-{k}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                    f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>'
                    for k, c in KIND_COLOURS.items())
    return f"<defs>{heads}</defs>"


def _point(a: dict[str, Any], x: float, y: float) -> str:
    colour = KIND_COLOURS.get(a["kind"], "#6b7280")
    tip = escape(f"{a['outlet_name']} ({a['language']}) {a['kind']}: {a['title']}")
    label = f'<text class="sw-lang" x="{x + 9:.1f}" y="{y - 7:.1f}" font-size="10" fill="#4b5563">{escape(a["language"])}</text>'
    if a["kind"] == "denial":
        shape = (f'<path class="sw-point sw-denial" d="M{x:.1f},{y - 7:.1f} L{x + 7:.1f},{y:.1f} L{x:.1f},{y + 7:.1f} '
                 f'L{x - 7:.1f},{y:.1f} z" fill="{colour}"><title>{tip}</title></path>')
    else:
        ring = (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="10" fill="none" stroke="{colour}" stroke-width="2"/>'
                if a["kind"] == "origin" else "")
        shape = f'{ring}<circle class="sw-point" cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{colour}"><title>{tip}</title></circle>'
    return f'<a href="{escape(a["url"])}" target="_blank" rel="noopener noreferrer">{shape}</a>{label}'


def _legend(y: float) -> str:
    items, x = [], LEFT
    for kind, colour in KIND_COLOURS.items():
        mark = (f'<path d="M{x},{y - 6} L{x + 6},{y} L{x},{y + 6} L{x - 6},{y} z" fill="{colour}"/>' if kind == "denial"
                else f'<circle cx="{x}" cy="{y}" r="5" fill="{colour}"/>')
        items.append(f'{mark}<text x="{x + 10}" y="{y + 4}">{kind}</text>')
        x += 30 + 8 * len(kind)
    return "".join(items) + f'<text x="{LEFT}" y="{y + 24}" fill="#6b7280">time since the origin (log scale); ' \
                            f'arrows run from source to copy</text>'
