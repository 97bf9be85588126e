"""Which story a new article belongs to.

Explicit evidence first: identical text, a copy (shared wording, found through MinHash LSH), a link
to an article of the story. Otherwise the article is compared with each candidate story as a whole:
its weighted lemmas with the story's articles in the same language (what it says), its names and
numbers with the story's (what survives translation), the time since the story was last seen, and
the story's size. A small logistic model, fitted on labelled streams (`python -m bench.calibrate`,
stored in calibration.json), turns that into the probability that the article belongs to the story;
the most probable story above the threshold wins, else the article starts a story. An article that
credits an outlet of a candidate story, or is credited by one, joins it on weaker evidence
(CREDIT_SIMILARITY). Everything here is pure: storage gathers candidates, this module decides.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from stories.features import Features, jaccard
from stories.terms import cosine

COPY_JACCARD = 0.5  # shingle overlap above this is shared wording, not a shared topic
CENTROID_TERMS = 120  # per language: what a story says, bounded (its lightest terms barely move a cosine)
CENTROID_ANCHORS = 150
CALIBRATION = Path(__file__).with_name("calibration.json")


@dataclass
class Candidate:
    """An earlier article found by hash or LSH."""

    article_id: int
    story_id: int | None
    features: Features


@dataclass
class StoryProfile:
    """What a story's articles say, summed: per language the weighted lemmas, across languages the
    names and numbers; when it was seen, by which outlets, at which URLs."""

    story_id: int
    centroid: dict[str, dict[str, float]] = field(default_factory=dict)  # language -> summed term vectors
    anchors: dict[str, float] = field(default_factory=dict)  # summed anchor vectors
    size: int = 0
    first: datetime | None = None
    last: datetime | None = None
    outlets: set[str] = field(default_factory=set)
    urls: set[str] = field(default_factory=set)
    credits: set[str] = field(default_factory=set)  # outlets its articles credit ("sipas Bild")

    def add(self, f: Features, when: datetime, outlet: str, url: str, credits: frozenset[str] = frozenset()) -> None:
        by_language = self.centroid.setdefault(f.language, {})
        for k, v in f.terms.items():
            by_language[k] = by_language.get(k, 0.0) + v
        for k, v in f.anchors.items():
            self.anchors[k] = self.anchors.get(k, 0.0) + v
        self.size += 1
        self.first = when if self.first is None else min(self.first, when)
        self.last = when if self.last is None else max(self.last, when)
        self.outlets.add(outlet)
        self.urls.add(url)
        self.credits |= credits

    def to_json(self) -> dict[str, Any]:
        return {"centroid": {lang: _top(v, CENTROID_TERMS) for lang, v in self.centroid.items()},
                "anchors": _top(self.anchors, CENTROID_ANCHORS), "size": self.size,
                "outlets": sorted(self.outlets), "urls": sorted(self.urls), "credits": sorted(self.credits)}

    @classmethod
    def from_json(cls, story_id: int, data: dict[str, Any] | None, first: datetime | None,
                  last: datetime | None) -> StoryProfile:
        data = data or {}
        return cls(story_id, {k: dict(v) for k, v in (data.get("centroid") or {}).items()},
                   dict(data.get("anchors") or {}), int(data.get("size", 0)), first, last,
                   set(data.get("outlets", [])), set(data.get("urls", [])), set(data.get("credits", [])))

    def index_terms(self, per_language: int = 6, anchors: int = 16) -> set[str]:
        """What the inverted index keeps for the story: its heaviest lemmas per language, names,
        skeletons ('~') and numbers ('#'), its outlets ('@') and the outlets it credits ('^')."""
        out = {t for v in self.centroid.values() for t in _top(v, per_language)}
        out |= set(_top(self.anchors, anchors))
        return out | {"@" + o for o in self.outlets} | {"^" + o for o in self.credits}


def _top(v: dict[str, float], n: int) -> dict[str, float]:
    return {k: round(x, 4) for k, x in sorted(v.items(), key=lambda kv: -kv[1])[:n]}


def _norm(v: dict[str, float]) -> float:
    return math.sqrt(sum(x * x for x in v.values())) or 1.0


@dataclass
class Evidence:
    """How an article compares with one story: what the model reads, and what a user is shown."""

    lexical: float  # cosine of its lemmas with the story's articles in its language (0 if none)
    same_language: bool  # the story has articles in the article's language
    anchors: float  # cosine of its names/numbers with the story's
    hours: float  # from the story's nearest edge (0 inside its time span)
    size: int
    credited: bool  # the article credits an outlet of the story, or the story credits the article's outlet
    shared_terms: list[str] = field(default_factory=list)
    shared_anchors: list[str] = field(default_factory=list)

    def inputs(self) -> list[float]:
        """The model's inputs, in calibration.json's order (FEATURES)."""
        same = 1.0 if self.same_language else 0.0
        return [1.0, self.lexical * same, same, self.anchors, math.log1p(self.hours), math.log(max(self.size, 1))]

    def similarity(self) -> float:
        """The stronger of the two cosines: words (same language only) or names and numbers."""
        return max(self.lexical if self.same_language else 0.0, self.anchors)

    def shown(self, probability: float) -> dict[str, Any]:
        return {"probability": round(probability, 3), "lexical": round(self.lexical, 3),
                "anchors": round(self.anchors, 3), "hours_apart": round(self.hours, 1),
                "shared_terms": self.shared_terms, "shared_names": self.shared_anchors,
                **({"credits_outlet_of_story": True} if self.credited else {})}


FEATURES = ["bias", "lexical", "same_language", "anchors", "log_hours", "log_size"]
# An article that credits an outlet of a live story ("sipas Bild", "laut Politico"), or that a live
# story credits, joins it when its words or its names are at least this similar (cosine) to the
# story's, however long the story was quiet: the credit says which story it follows, and a busy
# outlet has many stories, so the similarity chooses among them.
CREDIT_SIMILARITY = 0.2


def evidence(new: Features, when: datetime, profile: StoryProfile, credits: frozenset[str] = frozenset(),
             outlet: str = "") -> Evidence:
    """Compare an article (of `outlet`, crediting `credits`) with a story as a whole (pure)."""
    same = profile.centroid.get(new.language)
    lexical = cosine(new.terms, same) / _norm(same) if same else 0.0
    anchors = cosine(new.anchors, profile.anchors) / _norm(profile.anchors) if profile.anchors else 0.0
    hours = 0.0
    if profile.first and profile.last and not profile.first <= when <= profile.last:
        hours = min(abs((when - profile.first).total_seconds()), abs((when - profile.last).total_seconds())) / 3600
    credited = bool(credits & profile.outlets) or outlet in profile.credits
    return Evidence(lexical, same is not None, anchors, hours, profile.size, credited,
                    _strongest(new.terms, same or {}), _strongest(new.anchors, profile.anchors))


def _strongest(a: dict[str, float], b: dict[str, float], n: int = 8) -> list[str]:
    return [k for k, _ in sorted(((k, v * b[k]) for k, v in a.items() if k in b), key=lambda kv: -kv[1])[:n]]


@dataclass(frozen=True)
class Model:
    weights: tuple[float, ...]
    threshold: float

    def probability(self, ev: Evidence) -> float:
        z = sum(w * x for w, x in zip(self.weights, ev.inputs()))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@lru_cache(maxsize=4)
def load_model(path: Path = CALIBRATION) -> Model:
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("features") != FEATURES:
        raise ValueError(f"{path}: its features {data.get('features')} are not {FEATURES}: run python -m bench.calibrate")
    return Model(tuple(float(w) for w in data["weights"]), float(data["threshold"]))


@dataclass
class Scored:
    profile: StoryProfile
    probability: float
    evidence: Evidence


@dataclass
class Decision:
    story_id: int | None  # None: start a new story
    merge: list[int]  # other stories this article shows to be the same one (shared wording with both)
    reason: str  # hash | copy | link | evidence | new
    score: float = 0.0
    evidence: dict[str, object] = field(default_factory=dict)
    scored: list[Scored] = field(default_factory=list)  # every live candidate story, most probable first


def score_stories(new: Features, when: datetime, profiles: list[StoryProfile], window: timedelta,
                  credits: frozenset[str] = frozenset(), model: Model | None = None, outlet: str = "") -> list[Scored]:
    """The live candidate stories (seen within `window` of the article), most probable first."""
    model = model or load_model()
    out = []
    for p in profiles:
        ev = evidence(new, when, p, credits, outlet)
        if ev.hours * 3600 <= window.total_seconds():
            out.append(Scored(p, model.probability(ev), ev))
    return sorted(out, key=lambda s: (-s.probability, s.profile.story_id))


def assign(new: Features, when: datetime, hash_matches: list[Candidate], near: list[Candidate],
           profiles: list[StoryProfile], window: timedelta, credits: frozenset[str] = frozenset(),
           model: Model | None = None, outlet: str = "") -> Decision:
    """Decide the story of a new article (of `outlet`, crediting `credits`) from its candidates (pure: no I/O)."""
    model = model or load_model()
    scored = score_stories(new, when, profiles, window, credits, model, outlet)
    for c in hash_matches:
        if c.story_id is not None:
            return Decision(c.story_id, [], "hash", 1.0, {"identical_text_of": c.article_id}, scored)
    by_overlap = sorted(((jaccard(new.signature, c.features.signature), c) for c in near if c.story_id is not None),
                        key=lambda x: (-x[0], x[1].article_id))
    copies = [(j, c) for j, c in by_overlap if j >= COPY_JACCARD]
    if copies:
        best_j, best = copies[0]
        others = sorted({c.story_id for _, c in copies[1:] if c.story_id != best.story_id})  # type: ignore[misc]
        return Decision(best.story_id, others, "copy", best_j, {"jaccard": round(best_j, 3), "of": best.article_id},
                        scored)
    linked = sorted((s for s in scored if new.links & s.profile.urls), key=lambda s: s.profile.story_id)
    if linked:
        return Decision(linked[0].profile.story_id, [], "link", 1.0,
                        {"links_to": sorted(new.links & linked[0].profile.urls)}, scored)
    credited = sorted((s for s in scored if s.evidence.credited and s.evidence.similarity() >= CREDIT_SIMILARITY),
                      key=lambda s: (-s.evidence.similarity(), s.profile.story_id))
    if credited and credited[0].probability < model.threshold:
        best_story = credited[0]
        how = sorted(credits & best_story.profile.outlets) or [f"credited by the story: {outlet}"]
        return Decision(best_story.profile.story_id, [], "credit", round(best_story.evidence.similarity(), 3),
                        {**best_story.evidence.shown(best_story.probability), "credits": how}, scored)
    if scored and scored[0].probability >= model.threshold:
        best_story = scored[0]
        return Decision(best_story.profile.story_id, [], "evidence", round(best_story.probability, 3),
                        best_story.evidence.shown(best_story.probability), scored)
    shown = scored[0].evidence.shown(scored[0].probability) if scored else {}
    return Decision(None, [], "new", round(scored[0].probability, 3) if scored else 0.0, shown, scored)
