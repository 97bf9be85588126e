"""The timeline picture: one layout, drawn as SVG and as PNG. The layout keeps labels apart; the SVG
and the PNG draw every point and arrow where the layout put them, in the layout's colours."""

from __future__ import annotations

import io
import itertools
import math
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from PIL import Image, ImageFont

from tests.web.conftest import Site
from web.png import bezier, load_font, render_png
from web.svg import render_svg
from web.timeline import (GRID, GUIDE, INK, KIND_COLOURS, LANGUAGE_COLOURS, MUTED, NO_LANGUAGE, PAPER, SPARE_COLOURS,
                          Timeline, language_colour, layout_timeline, overlaps, point_box, text_box, text_width)

SVG = "{http://www.w3.org/2000/svg}"


def entry(i: int, outlet: str, minutes: float, kind: str, source: int | None, language: str = "sq",
          title: str = "A title") -> dict[str, Any]:
    return {"id": i, "outlet": outlet, "outlet_name": outlet.title(), "country": "XK", "language": language,
            "url": f"https://{outlet}.example/{i}", "title": title, "published_at": None,
            "first_seen_at": "2025-02-19T06:10:00Z", "delay_seconds": minutes * 60, "source": source,
            "source_outlet": None, "kind": kind, "score": 1.0, "evidence": {}, "watches": []}


def history(articles: list[dict[str, Any]]) -> dict[str, Any]:
    story = {"id": 1, "title": "A story", "status": "active", "outlet_count": len({a["outlet"] for a in articles}),
             "article_count": len(articles), "languages": sorted({a["language"] for a in articles}), "countries": [],
             "watches": [], "first_seen": None, "last_seen": None, "origin_article_id": articles[0]["id"]}
    return {"story": story, "origin": articles[0], "articles": articles,
            "denials": [a["id"] for a in articles if a["kind"] == "denial"]}


def crowded() -> dict[str, Any]:
    """Five articles of one outlet within two minutes, and a long tail: labels must give way."""
    arts = [entry(1, "bild", 0, "origin", None, "de")]
    arts += [entry(2 + i, "noa", 30 + i * 0.5, "copy", 1) for i in range(5)]
    arts += [entry(10, "ansa", 600, "translation", 1, "it"), entry(11, "hibrid", 4000, "denial", 1, "en")]
    return history(arts)


def test_colours_never_stand_for_two_things() -> None:
    fills = list(LANGUAGE_COLOURS.values()) + SPARE_COLOURS + [NO_LANGUAGE]
    assert len(set(fills)) == len(fills)
    assert not set(fills) & (set(KIND_COLOURS.values()) | {INK, MUTED, GRID, GUIDE, PAPER})
    assert language_colour("xx") == language_colour("xx") in SPARE_COLOURS  # stable for any language
    assert language_colour("") == language_colour(None) == NO_LANGUAGE


def test_layout_places_one_point_per_article_and_one_arrow_per_link(rumour: dict[str, Any]) -> None:
    tl = layout_timeline(rumour)
    arts = rumour["articles"]
    assert [p.article_id for p in tl.points] == [a["id"] for a in arts]
    linked = [(a["source"], a["id"]) for a in arts if a["source"] is not None]
    assert len(linked) == len(arts) - 1
    assert [(a.source_id, a.target_id) for a in tl.arrows] == linked
    assert sum(p.diamond for p in tl.points) == len(rumour["denials"]) == 3
    assert sum(p.ringed for p in tl.points) == 1
    by_id = {p.article_id: p for p in tl.points}
    for a in arts:  # later articles sit further right; each outlet has a row of its own
        assert by_id[a["id"]].x >= by_id[rumour["origin"]["id"]].x
        assert by_id[a["id"]].fill == LANGUAGE_COLOURS[a["language"]]
        assert by_id[a["id"]].outline == KIND_COLOURS[a["kind"]]
    rows = {a["outlet"]: by_id[a["id"]].y for a in arts}
    assert len(set(rows.values())) == len(rows)


@pytest.mark.parametrize("make", [crowded, lambda: None])
def test_labels_never_overlap(make: Any, rumour: dict[str, Any]) -> None:
    tl = layout_timeline(make() or rumour)
    labels = [t for t in tl.texts if t.role == "label"]
    assert labels, "no point got a label"
    boxes = [text_box(t) for t in tl.texts]
    for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2):
        assert not overlaps(a, b, gap=0), (tl.texts[i].text, tl.texts[j].text)
    for label, p in itertools.product(labels, tl.points):
        assert not overlaps(text_box(label), point_box(p), gap=0), (label.text, p.article_id)
    for box in boxes:
        assert 0 <= box[0] and box[2] <= tl.width and 0 <= box[1] and box[3] <= tl.height


def test_crowded_row_drops_labels_rather_than_overlap() -> None:
    tl = layout_timeline(crowded())
    noa_y = next(p.y for p in tl.points if p.article_id == 2)
    on_noa = [t for t in tl.texts if t.role == "label" and abs(t.y - noa_y) < 20]
    assert 1 <= len(on_noa) < 5


def test_legend_and_axes_name_what_is_drawn(rumour: dict[str, Any]) -> None:
    words = {t.text for t in layout_timeline(rumour).texts}
    assert {"outlet ↓", "time since the origin (log scale) →", "link (arrow and outline):", "language (fill):"} <= words
    assert {"copy (same wording)", "attribution (credit, link)", "denial", "origin"} <= words
    assert {"de", "sq", "sr", "it", "en"} <= words
    assert {"0", "+1h", "+6h", "+1d", "+2d"} <= words


def test_width_estimate_covers_the_png_font() -> None:
    font = load_font(100)
    if not isinstance(font, ImageFont.FreeTypeFont) or "DejaVu" not in (font.font.family or ""):
        pytest.fail("DejaVu Sans is missing: install Debian's fonts-dejavu-core")
    samples = ["Europa in Sorge: Geheimdienste rechnen mit Abzug der US-Truppen", "sq +2d2h50", "WWW mmm",
               "Билд: Италија се спрема за повлачење америчких војника", "iiilll ...",
               "Radio Free Europe/Radio Liberty",
               "Ministria e Mbrojtjes: Lajmi për tërheqjen është dezinformim"]
    for text in samples:
        assert text_width(text, 100) >= font.getlength(text), text
        assert text_width(text, 100, bold=True) >= load_font(100, bold=True).getlength(text), text


def test_svg_draws_the_layout(rumour: dict[str, Any]) -> None:
    tl = layout_timeline(rumour)
    root = ET.fromstring(render_svg(tl).encode())
    assert (root.get("width"), root.get("height")) == (str(tl.width), str(tl.height))
    groups = list(root.iter(f"{SVG}g"))
    points = [g for g in groups if "sw-point" in g.get("class", "").split()]
    arrows = [g for g in groups if g.get("class") == "sw-arrow"]
    assert len(points) == len(rumour["articles"]) and len(arrows) == len(rumour["articles"]) - 1
    assert sum("sw-denial" in g.get("class", "") for g in points) == 3
    for g, p in zip(points, tl.points):
        shape = g.findall(f"{SVG}path" if p.diamond else f"{SVG}circle")[-1]  # after the origin's ring
        assert shape.get("fill") == p.fill and shape.get("stroke") == p.outline
    assert {a.get("data-kind") for a in arrows} == {"attribution", "copy", "denial"}


def png_of(tl: Timeline) -> Image.Image:
    return Image.open(io.BytesIO(render_png(tl, scale=2))).convert("RGB")


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16)


def pixel(img: Image.Image, x: float, y: float) -> tuple[int, int, int]:
    r, g, b = img.getpixel((round(x), round(y)))  # type: ignore[misc]
    return r, g, b


def near(img: Image.Image, x: float, y: float, colour: str, reach: int = 2, tolerance: int = 40) -> bool:
    """Some pixel within `reach` of (x, y) is close to the colour (lines are anti-aliased)."""
    want = rgb(colour)
    for dx, dy in itertools.product(range(-reach, reach + 1), repeat=2):
        px = pixel(img, round(x) + dx, round(y) + dy)
        if sum(abs(a - b) for a, b in zip(px, want)) <= tolerance:
            return True
    return False


def test_png_draws_every_point_and_arrow_in_their_colours(rumour: dict[str, Any]) -> None:
    tl = layout_timeline(rumour)
    img = png_of(tl)
    assert img.size == (tl.width * 2, tl.height * 2)
    for p in tl.points:  # the centre carries the language fill, the rim the link kind's colour
        assert pixel(img, p.x * 2, p.y * 2) == rgb(p.fill), p.article_id
        rim = 9.5 if p.diamond else 7.0
        assert near(img, (p.x - rim) * 2, p.y * 2, p.outline), p.article_id
    for a in tl.arrows:
        along = bezier(a.curve, steps=20)[2:-2]  # other arrows share the ends near the points
        drawn = sum(near(img, x * 2, y * 2, a.colour, reach=2, tolerance=60) for x, y in along)
        assert drawn >= len(along) * 0.6, (a.source_id, a.target_id, drawn)
        cx, cy = (sum(v[0] for v in a.head) / 3, sum(v[1] for v in a.head) / 3)
        assert near(img, cx * 2, cy * 2, a.colour, reach=1), (a.source_id, a.target_id)


def test_png_colour_counts_follow_the_story(rumour: dict[str, Any]) -> None:
    """Count pixels per colour: each language's fill covers at least its articles' points, and the
    kinds the story lacks (translation, same-event) show only as small legend marks."""
    tl = layout_timeline(rumour)
    counts = dict((c, n) for n, c in img_colours(png_of(tl)))
    fill_area = math.pi * (5.75 * 2) ** 2 * 0.8  # inside the outline, at scale 2, with room for rounding
    for language in {a["language"] for a in rumour["articles"]}:
        articles = sum(a["language"] == language for a in rumour["articles"])
        assert counts.get(LANGUAGE_COLOURS[language], 0) >= articles * fill_area, language
    absent = max(counts.get(KIND_COLOURS["translation"], 0), counts.get(KIND_COLOURS["same-event"], 0))
    assert 0 < absent and counts[KIND_COLOURS["copy"]] > 5 * absent


def img_colours(img: Image.Image) -> list[tuple[int, str]]:
    found = img.getcolors(maxcolors=img.width * img.height) or []
    counts: list[tuple[int, tuple[int, int, int]]] = found  # type: ignore[assignment]
    return [(n, "#{:02x}{:02x}{:02x}".format(*c)) for n, c in counts]


def test_png_title_is_written_and_labels_are_drawn(rumour: dict[str, Any]) -> None:
    tl = layout_timeline(rumour)
    img = png_of(tl)
    title = next(t for t in tl.texts if t.role == "title")
    x0, y0, x1, y1 = (v * 2 for v in text_box(title))
    ink = sum(1 for x in range(int(x0), int(x1), 2) for y in range(int(y0), int(y1), 2)
              if sum(pixel(img, x, y)) < 200)
    assert ink > 200
    blank = img.crop((int(x1) + 20, int(y0), tl.width * 2 - 10, int(y1)))
    assert blank.getcolors() == [(blank.width * blank.height, rgb("#ffffff"))]
    assert Image.open(io.BytesIO(render_png(tl))).info["Title"] == f"Propagation timeline: {rumour['story']['title']}"


def test_exports_on_the_web_match_the_cli(site: Site, rumour: dict[str, Any]) -> None:
    sid = rumour["story"]["id"]
    png = site.get(f"/stories/{sid}/timeline.png")
    assert png.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(png.content))
    tl = layout_timeline(rumour)
    assert img.format == "PNG" and img.size == (tl.width * 2, tl.height * 2)
    svg = site.get(f"/stories/{sid}/timeline.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and svg.text == render_svg(tl)
