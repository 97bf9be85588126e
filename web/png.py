"""The timeline layout drawn as PNG with Pillow, for reports and mail that will not show SVG.

The same layout as the SVG, drawn at `scale` times its size (2: sharp in print and on dense
screens) on a canvas twice as large again and then averaged down, because Pillow draws shapes
without anti-aliasing. Text uses the first sans font found with Latin, Cyrillic and Albanian
letters ($SPREADWATCH_FONT, else DejaVu Sans, Noto Sans, Liberation Sans, Arial); without one,
Pillow's own font draws only plain ASCII well.
"""

from __future__ import annotations

import io
import math
import os
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from web.timeline import (ARROW_WIDTH, DIAMOND_R, OUTLINE, PAPER, POINT_R, RING_R, Arrow, Point, Pt, Rule, Swatch,
                          Text, Timeline)

SUPERSAMPLE = 2
FONT_FILES = {False: ["DejaVuSans.ttf", "NotoSans-Regular.ttf", "LiberationSans-Regular.ttf", "Arial.ttf", "arial.ttf"],
              True: ["DejaVuSans-Bold.ttf", "NotoSans-Bold.ttf", "LiberationSans-Bold.ttf", "Arial Bold.ttf",
                     "arialbd.ttf"]}
ANCHORS = {"start": "ls", "middle": "ms", "end": "rs"}  # left/middle/right of the baseline, like SVG
CURVE_STEPS = 48
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


class Canvas:
    """A Pillow drawing surface that takes layout coordinates."""

    def __init__(self, tl: Timeline, factor: int) -> None:
        self.factor = factor
        self.image = Image.new("RGB", (tl.width * factor, tl.height * factor), PAPER)
        self.draw = ImageDraw.Draw(self.image)

    def at(self, p: Pt) -> tuple[float, float]:
        return (p[0] * self.factor, p[1] * self.factor)

    def width(self, w: float) -> int:
        return max(1, round(w * self.factor))

    def box(self, x: float, y: float, r: float) -> list[float]:
        f = self.factor
        return [(x - r) * f, (y - r) * f, (x + r) * f, (y + r) * f]


def render_png(tl: Timeline, *, scale: int = 2) -> bytes:
    """PNG bytes of the timeline, `scale` pixels per layout unit."""
    canvas = Canvas(tl, scale * SUPERSAMPLE)
    for r in tl.rules:
        _rule(canvas, r)
    for a in tl.arrows:
        _arrow(canvas, a)
    for p in tl.points:
        _point(canvas, p)
    for s in tl.swatches:
        _swatch(canvas, s)
    for t in tl.texts:
        _text(canvas, t)
    image = canvas.image.reduce(SUPERSAMPLE)
    info = PngInfo()
    info.add_itxt("Title", f"Propagation timeline: {tl.title}")
    info.add_text("Software", "spreadwatch")
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info, optimize=True)
    return buf.getvalue()


def _rule(c: Canvas, r: Rule) -> None:
    pieces = dashes(r) if r.dashed else [((r.x1, r.y1), (r.x2, r.y2))]
    for start, end in pieces:
        c.draw.line([c.at(start), c.at(end)], fill=r.colour, width=c.width(1))


def dashes(r: Rule, on: float = 3.0, off: float = 3.0) -> list[tuple[Pt, Pt]]:
    """The drawn pieces of a dashed line: `on` long, `off` apart, as the SVG's stroke-dasharray."""
    length = math.hypot(r.x2 - r.x1, r.y2 - r.y1)
    if not length:
        return []

    def along(d: float) -> Pt:
        return (r.x1 + (r.x2 - r.x1) * d / length, r.y1 + (r.y2 - r.y1) * d / length)

    count = int(length // (on + off)) + 1
    return [(along(i * (on + off)), along(min(i * (on + off) + on, length))) for i in range(count)
            if i * (on + off) < length]


def bezier(curve: tuple[Pt, Pt, Pt, Pt], steps: int = CURVE_STEPS) -> list[Pt]:
    """Points along a cubic Bézier curve, both ends included."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = curve
    out = []
    for i in range(steps + 1):
        t = i / steps
        u = 1 - t
        out.append((u ** 3 * x0 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t ** 3 * x3,
                    u ** 3 * y0 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t ** 3 * y3))
    return out


def _arrow(c: Canvas, a: Arrow) -> None:
    c.draw.line([c.at(p) for p in bezier(a.curve)], fill=a.colour, width=c.width(ARROW_WIDTH), joint="curve")
    c.draw.polygon([c.at(p) for p in a.head], fill=a.colour)


def _point(c: Canvas, p: Point) -> None:
    if p.ringed:
        c.draw.ellipse(c.box(p.x, p.y, RING_R + 0.75), outline=p.outline, width=c.width(1.5))
    if p.diamond:
        _diamond(c, p.x, p.y, DIAMOND_R, p.fill, p.outline, OUTLINE)
    else:
        c.draw.ellipse(c.box(p.x, p.y, POINT_R + OUTLINE / 2), fill=p.fill, outline=p.outline,
                       width=c.width(OUTLINE))


def _diamond(c: Canvas, x: float, y: float, r: float, fill: str, outline: str, width: float) -> None:
    # The SVG strokes the outline across the path; Pillow draws it inside, so grow the shape by half.
    r += width / 2
    c.draw.polygon([c.at(q) for q in ((x, y - r), (x + r, y), (x, y + r), (x - r, y))], fill=fill, outline=outline,
                   width=c.width(width))


def _swatch(c: Canvas, s: Swatch) -> None:
    if s.shape == "arrow":
        c.draw.line([c.at((s.x - 10, s.y)), c.at((s.x + 4, s.y))], fill=s.outline, width=c.width(ARROW_WIDTH))
        c.draw.polygon([c.at(q) for q in ((s.x + 10, s.y), (s.x + 2, s.y - 4), (s.x + 2, s.y + 4))], fill=s.outline)
    elif s.shape == "diamond":
        _diamond(c, s.x, s.y, 7, s.fill, s.outline, 2)
    else:
        if s.shape == "ring":
            c.draw.ellipse(c.box(s.x, s.y, 9.25), outline=s.outline, width=c.width(1.5))
        c.draw.ellipse(c.box(s.x, s.y, 6), fill=s.fill, outline=s.outline, width=c.width(1))


def _text(c: Canvas, t: Text) -> None:
    font = load_font(t.size * c.factor, t.bold)
    halo = c.width(1.5) if t.halo else 0  # a white outline, as the SVG's paint-order stroke
    c.draw.text(c.at((t.x, t.y)), t.text, fill=t.colour, font=font, anchor=ANCHORS[t.anchor], stroke_width=halo,
                stroke_fill=PAPER)


@lru_cache(maxsize=32)
def load_font(size: int, bold: bool = False) -> Font:
    """The first sans font found (Pillow also looks in the system's font folders), else Pillow's own."""
    wanted = os.environ.get("SPREADWATCH_FONT_BOLD" if bold else "SPREADWATCH_FONT")
    for name in ([wanted] if wanted else []) + FONT_FILES[bold]:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)
