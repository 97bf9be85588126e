"""The timeline layout drawn as SVG: inline on the story page, or standalone for reports.

Titles, outlet names and URLs are scraped, so every string is escaped, and only http(s) addresses
become links. Class names (sw-point, sw-denial, sw-origin, sw-arrow) are what the browser tests count.
"""

from __future__ import annotations

from html import escape as _escape

from web.history import plain
from web.timeline import (ARROW_WIDTH, DIAMOND_R, OUTLINE, PAPER, POINT_R, RING_R, Arrow, Point, Rule, Swatch, Text,
                          Timeline)

FONT = "DejaVu Sans, system-ui, sans-serif"


def render_svg(tl: Timeline, *, standalone: bool = True) -> str:
    """The SVG document (standalone: with its namespace and XML declaration) or an inline <svg>."""
    parts = [f'<rect width="100%" height="100%" fill="{PAPER}"/>']
    parts += [_rule(r) for r in tl.rules]
    parts += [_arrow(a) for a in tl.arrows]
    parts += [_point(p) for p in tl.points]
    parts += [_swatch(s) for s in tl.swatches]
    parts += [_text(t) for t in tl.texts]
    ns = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    head = '<?xml version="1.0" encoding="UTF-8"?>\n' if standalone else ""
    return (f'{head}<svg{ns} class="sw-timeline" viewBox="0 0 {tl.width} {tl.height}" width="{tl.width}" '
            f'height="{tl.height}" role="img" aria-label="{escape("Propagation timeline: " + tl.title)}" '
            f'font-family="{FONT}"><title>{escape(tl.title)}</title>{"".join(parts)}</svg>')


def escape(text: str) -> str:
    """Text safe inside SVG markup and valid XML: escaped, control characters dropped."""
    return _escape(plain(text))


def is_web_address(url: str | None) -> bool:
    """Only http(s) addresses become links: a scraped 'javascript:' URL must not run on a click."""
    return bool(url) and url.strip().lower().startswith(("http://", "https://"))  # type: ignore[union-attr]


def _n(v: float) -> str:
    return f"{v:.1f}"


def _rule(r: Rule) -> str:
    dash = ' stroke-dasharray="3 3"' if r.dashed else ""
    return (f'<line x1="{_n(r.x1)}" y1="{_n(r.y1)}" x2="{_n(r.x2)}" y2="{_n(r.y2)}" stroke="{r.colour}"'
            f'{dash}/>')


def _arrow(a: Arrow) -> str:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = a.curve
    head = " L".join(f"{_n(x)},{_n(y)}" for x, y in a.head)
    return (f'<g class="sw-arrow" data-kind="{escape(a.kind)}" data-source="{a.source_id}" '
            f'data-target="{a.target_id}"><path d="M{_n(x0)},{_n(y0)} C{_n(x1)},{_n(y1)} {_n(x2)},{_n(y2)} '
            f'{_n(x3)},{_n(y3)}" fill="none" stroke="{a.colour}" stroke-width="{ARROW_WIDTH}"/>'
            f'<path d="M{head} z" fill="{a.colour}"/></g>')


def _point(p: Point) -> str:
    classes = "sw-point" + (" sw-denial" if p.diamond else "") + (" sw-origin" if p.ringed else "")
    paint = f'fill="{p.fill}" stroke="{p.outline}" stroke-width="{OUTLINE}"'
    if p.diamond:
        d = DIAMOND_R
        shape = (f'<path d="M{_n(p.x)},{_n(p.y - d)} L{_n(p.x + d)},{_n(p.y)} L{_n(p.x)},{_n(p.y + d)} '
                 f'L{_n(p.x - d)},{_n(p.y)} z" {paint}/>')
    else:
        shape = f'<circle cx="{_n(p.x)}" cy="{_n(p.y)}" r="{POINT_R}" {paint}/>'
    if p.ringed:
        shape = (f'<circle cx="{_n(p.x)}" cy="{_n(p.y)}" r="{RING_R}" fill="none" stroke="{p.outline}" '
                 f'stroke-width="1.5"/>') + shape
    group = (f'<g class="{classes}" data-id="{p.article_id}" data-kind="{escape(p.kind)}" '
             f'data-language="{escape(p.language)}">{shape}<title>{escape(p.tip)}</title></g>')
    if not is_web_address(p.url):
        return group
    return f'<a href="{escape(p.url)}" target="_blank" rel="noopener noreferrer">{group}</a>'


def _swatch(s: Swatch) -> str:
    x, y = s.x, s.y
    if s.shape == "arrow":
        return (f'<line x1="{_n(x - 10)}" y1="{_n(y)}" x2="{_n(x + 4)}" y2="{_n(y)}" stroke="{s.outline}" '
                f'stroke-width="{ARROW_WIDTH}"/><path d="M{_n(x + 10)},{_n(y)} L{_n(x + 2)},{_n(y - 4)} '
                f'L{_n(x + 2)},{_n(y + 4)} z" fill="{s.outline}"/>')
    if s.shape == "diamond":
        return (f'<path d="M{_n(x)},{_n(y - 7)} L{_n(x + 7)},{_n(y)} L{_n(x)},{_n(y + 7)} L{_n(x - 7)},{_n(y)} z" '
                f'fill="{s.fill}" stroke="{s.outline}" stroke-width="2"/>')
    ring = (f'<circle cx="{_n(x)}" cy="{_n(y)}" r="8.5" fill="none" stroke="{s.outline}" stroke-width="1.5"/>'
            if s.shape == "ring" else "")
    return f'{ring}<circle cx="{_n(x)}" cy="{_n(y)}" r="5.5" fill="{s.fill}" stroke="{s.outline}" stroke-width="1"/>'


def _text(t: Text) -> str:
    weight = ' font-weight="bold"' if t.bold else ""
    halo = ' stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"' if t.halo else ""
    return (f'<text class="sw-{t.role}" x="{_n(t.x)}" y="{_n(t.y)}" font-size="{t.size}" text-anchor="{t.anchor}" '
            f'fill="{t.colour}"{weight}{halo}>{escape(t.text)}</text>')
