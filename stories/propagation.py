"""Who copied whom inside one story: for each article its most likely source and why.

Evidence, strongest first: shared wording (a verbatim or edited copy), a link to the source, an
outlet credited in the text ("sipas Bild", "according to Politico", "prenosi"), shared names and
numbers across languages (a translation), and only then "same event". Denials are marked as such.
The tree is rebuilt from publication times, so the order in which articles arrived does not matter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from stories.attribution import credited_outlets
from stories.cluster import COPY_JACCARD
from stories.features import Features, overlaps

TIE = 0.05  # copies within this of the best overlap are equally good: the earliest is the source
TRANSLATION_MIN = 4.0  # weighted shared names/numbers for a cross-language link to be a translation
# an article's possible sources in a huge story: the first and the latest articles before it (the
# origin and early copies are the usual sources; recent ones the usual relays); bounds the cost
MAX_SOURCES = 400


@dataclass
class Node:
    article_id: int
    outlet: str
    language: str
    published: datetime
    url: str
    features: Features
    tokens: list[str]
    denial_terms: list[str] = field(default_factory=list)


@dataclass
class Edge:
    article_id: int
    source_id: int | None
    kind: str  # origin | copy | attribution | translation | same-event | denial
    score: float
    evidence: dict[str, object]


def build_tree(nodes: list[Node], aliases: dict[str, list[tuple[str, ...]]]) -> list[Edge]:
    """One edge per article; the earliest article is the origin."""
    ordered = sorted(nodes, key=lambda n: (n.published, n.article_id))
    if not ordered:
        return []
    return [Edge(ordered[0].article_id, None, "origin", 1.0, {})] + edges_at(ordered, range(1, len(ordered)), aliases)


def edges_at(ordered: list[Node], positions: Iterable[int], aliases: dict[str, list[tuple[str, ...]]]) -> list[Edge]:
    """The edges of the articles at these positions (each >= 1) of `ordered` (by publication). Each
    depends only on the articles before it."""
    positions = list(positions)
    if not positions:
        return []
    signatures = np.stack([n.features.signature for n in ordered])  # once, not once per article
    return [edge_for(ordered[i], sources_before(ordered, i), aliases,
                     overlaps(signatures[_source_positions(i)], signatures[i])) for i in positions]


def later_edges_to_redo(ordered: list[Node], at: int, stored: Mapping[int, tuple[Any, ...]],
                        credits: Callable[[Node], frozenset[str]]) -> list[int]:
    """Positions after `at` whose edges the article at `at` (a newcomer, not the first) can change.
    `stored` maps an article id to its stored edge (source id, kind, score, evidence); `credits`
    gives the outlets an article credits."""
    later = range(at + 1, len(ordered))
    if not later:
        return []
    new = ordered[at]
    near = overlaps(np.stack([ordered[i].features.signature for i in later]), new.features.signature)
    earlier_ids = {n.article_id for n in ordered[:at]}
    redo = []
    for i, overlap in zip(later, near):
        link = stored.get(ordered[i].article_id)
        # past MAX_SOURCES the window of possible sources moves: recompute
        if i > MAX_SOURCES or may_change(new, ordered[i], float(overlap), credits(ordered[i]),
                                         tuple(link[1:]) if link else None,  # type: ignore[arg-type]
                                         source_is_earlier=bool(link) and link[0] in earlier_ids):
            redo.append(i)
    return redo


def _source_positions(i: int) -> slice | np.ndarray:
    if i <= MAX_SOURCES:
        return slice(0, i)
    half = MAX_SOURCES // 2
    return np.r_[0:half, i - half:i]


def may_change(newcomer: Node, later: Node, overlap: float, credits: frozenset[str],
               current: tuple[str, float, dict[str, object]] | None, source_is_earlier: bool = False) -> bool:
    """Whether `newcomer`, published before `later` and not first in its story, can change the edge
    `later` has now (`current`: kind, score, evidence as stored). Valid while `later` has at most
    MAX_SOURCES articles before it, so that its possible sources only gain the newcomer.

    find_source tries copy, link, credit, then shared facts, and takes the first that finds a
    source. The newcomer can only enter through one of them: as a copy candidate (overlap), as the
    linked article, as an article of a credited outlet, or, when the edge came from shared facts,
    by sharing more, or as much while published before the current source (`source_is_earlier`
    says whether that source was published before the newcomer: an equal score then keeps it)."""
    if current is None:
        return True
    if overlap >= COPY_JACCARD or newcomer.url in later.features.links or newcomer.outlet in credits:
        return True
    kind, score, evidence = current
    step = evidence.get("as", kind) if kind == "denial" else kind
    if step == "attribution" and "credits" in evidence and newcomer.language != later.language:
        return True  # the newcomer may be the article `later` translates, credit and all
    if step in ("translation", "same-event"):
        shared = (len(newcomer.features.names & later.features.names)
                  + 1.6 * len(newcomer.features.numbers & later.features.numbers))
        if abs(shared - score) <= 1e-6:  # stored scores are rounded to 3 places
            return shared > 0 and not source_is_earlier
        return shared > score
    return step not in ("copy", "attribution")


def sources_before(ordered: list[Node], i: int) -> list[Node]:
    """The articles the i-th (by publication) may have come from, earliest first, at most MAX_SOURCES."""
    if i <= MAX_SOURCES:
        return ordered[:i]
    half = MAX_SOURCES // 2
    return ordered[:half] + ordered[i - half:i]


def edge_for(node: Node, earlier: list[Node], aliases: dict[str, list[tuple[str, ...]]],
             overlap: np.ndarray) -> Edge:
    """The edge of one article, given the articles published before it (earliest first) and the
    estimated Jaccard overlap of its signature with each of theirs."""
    origin = earlier[0]
    source, kind, score, evidence = find_source(node, earlier, aliases, overlap)
    if node.denial_terms:
        evidence = {**evidence, "denial_terms": node.denial_terms, "as": kind}
        kind, source = "denial", source or origin
    return Edge(node.article_id, (source or origin).article_id, kind, round(score, 3), evidence)


def find_source(node: Node, earlier: list[Node], aliases: dict[str, list[tuple[str, ...]]],
                overlap: np.ndarray) -> tuple[Node | None, str, float, dict[str, object]]:
    copy = _best_copy(node, earlier, overlap)
    if copy is not None:
        src, j = copy
        return src, "copy", j, {"jaccard": round(j, 3)}
    linked = [e for e in earlier if e.url in node.features.links]
    if linked:
        return linked[0], "attribution", 1.0, {"links_to": linked[0].url}
    for credit in credited_outlets(node.tokens, aliases, node.outlet):
        from_outlet = [e for e in earlier if e.outlet == credit.outlet]
        if from_outlet:
            translated = (_translation_crediting(node, earlier, from_outlet[0], credit.outlet, aliases)
                          if credit.reference else None)
            if translated is not None:  # "… after Politico reported" came with the text it translates
                src, score, evidence = translated
                return src, "translation", score, {**evidence, "credits": credit.phrase, "outlet": credit.outlet}
            return from_outlet[0], "attribution", 0.9, {"credits": credit.phrase, "outlet": credit.outlet}
    return _by_shared_facts(node, earlier)


def _translation_crediting(node: Node, earlier: list[Node], credited: Node, outlet: str,
                           aliases: dict[str, list[tuple[str, ...]]]) -> tuple[Node, float, dict[str, object]] | None:
    """The article `node` translates, when its credit is a reference ("… after Politico reported")
    and the article is not the credited outlet's: the earlier article in another language that
    carries the same credit and shares more names and numbers with `node` than the credited
    article does, at least a translation's worth. A credit that says where the text is from
    ("sipas Politico") keeps its attribution."""
    best: tuple[float, Node | None, dict[str, object]] = (max(_shared(node, credited)[0], TRANSLATION_MIN - 1e-9), None, {})
    for e in earlier:
        if e.outlet in (outlet, node.outlet) or e.language == node.language:
            continue
        score, evidence = _shared(node, e)
        if score > best[0] and outlet in {c.outlet for c in credited_outlets(e.tokens, aliases, e.outlet)}:
            best = (score, e, evidence)
    score, src, evidence = best
    return (src, score, evidence) if src is not None else None


def _shared(node: Node, other: Node) -> tuple[float, dict[str, object]]:
    """How many names and numbers two articles share (numbers weigh more), and which."""
    names = node.features.names & other.features.names
    numbers = node.features.numbers & other.features.numbers
    return len(names) + 1.6 * len(numbers), {"shared_names": sorted(names), "shared_numbers": sorted(numbers)}


def _best_copy(node: Node, earlier: list[Node], overlap: np.ndarray) -> tuple[Node, float] | None:
    close = np.flatnonzero(overlap >= COPY_JACCARD)
    if not close.size:
        return None
    scored = [(float(overlap[k]), earlier[k]) for k in close]
    best = max(j for j, _ in scored)
    first = min((e for j, e in scored if j >= best - TIE), key=lambda e: (e.published, e.article_id))
    return first, best


def _by_shared_facts(node: Node, earlier: list[Node]) -> tuple[Node | None, str, float, dict[str, object]]:
    best: tuple[float, Node | None, dict[str, object]] = (0.0, None, {})
    for e in earlier:
        score, evidence = _shared(node, e)
        if score > best[0]:
            best = (score, e, evidence)
    score, src, evidence = best
    if src is not None and src.language != node.language and score >= TRANSLATION_MIN:
        return src, "translation", score, evidence
    return src, "same-event", score, evidence
