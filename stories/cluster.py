"""Which story a new article belongs to: a copy joins its original's story; a translation or relay
joins the story whose distinctive names and numbers it shares; anything else starts a story."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from stories.features import Features, jaccard

# Thresholds, with why:
COPY_JACCARD = 0.5  # shingle overlap above this is shared wording, not a shared topic
NAME_WEIGHT, NUMBER_WEIGHT = 1.0, 1.6  # a shared 3+ digit number (600, 4767) is rarer than a shared name
CREDIT_WEIGHT = 1.5  # the text credits an outlet ("according to Politico") whose article is in the story
EVIDENCE_MIN = 2.5  # idf-weighted shared names/numbers needed to join a story with no shared wording
EVIDENCE_MIN_ITEMS = 2  # ... from at least this many distinct items, so one rare word cannot decide
CHARACTERISTIC_SHARE = 0.25  # of a story's articles that must carry a name for it to speak for the story
BRIDGE_RATIO = 0.8  # a second story this close to the best is the same story told elsewhere


@dataclass
class Candidate:
    """An earlier article found by hash or LSH."""

    article_id: int
    story_id: int | None
    features: Features


@dataclass
class StoryProfile:
    """What a story's articles say, aggregated: the evidence a translation can match."""

    story_id: int
    names: Counter[str] = field(default_factory=Counter)
    numbers: Counter[str] = field(default_factory=Counter)
    urls: set[str] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None
    size: int = 1  # articles in the story
    outlets: set[str] = field(default_factory=set)

    def characteristic(self, counts: Counter[str]) -> set[str]:
        """Names/numbers that a good share of the story's articles carry, not one article's asides."""
        need = max(1, math.ceil(CHARACTERISTIC_SHARE * self.size))
        return {k for k, v in counts.items() if v >= need}


@dataclass
class Decision:
    story_id: int | None  # None: start a new story
    merge: list[int]  # other stories this article shows to be the same one
    reason: str  # hash | copy | link | evidence | new
    score: float = 0.0
    evidence: dict[str, object] = field(default_factory=dict)


def idf_table(profiles: list[StoryProfile]) -> dict[str, float]:
    """Inverse story frequency: names every story shares (Kosovo, KFOR) weigh little."""
    n = len(profiles)
    df: Counter[str] = Counter()
    for p in profiles:
        df.update(p.characteristic(p.names) | {"#" + x for x in p.characteristic(p.numbers)})
    return {k: math.log((n + 1) / (v + 0.5)) for k, v in df.items()}


def evidence_score(new: Features, profile: StoryProfile, idf: dict[str, float],
                   credits: frozenset[str] = frozenset()) -> tuple[float, dict[str, object]]:
    names = sorted(new.names & profile.characteristic(profile.names))
    numbers = sorted(new.numbers & profile.characteristic(profile.numbers))
    credited = sorted(credits & profile.outlets)
    default = math.log(len(idf) + 2) if idf else 1.0
    score = sum(NAME_WEIGHT * idf.get(x, default) for x in names)
    score += sum(NUMBER_WEIGHT * idf.get("#" + x, default) for x in numbers) + CREDIT_WEIGHT * len(credited)
    if len(names) + len(numbers) + len(credited) < EVIDENCE_MIN_ITEMS:
        score = min(score, EVIDENCE_MIN - 0.01)
    return score, {"shared_names": names, "shared_numbers": numbers, "credits": credited}


def assign(new: Features, when: datetime, hash_matches: list[Candidate], near: list[Candidate],
           profiles: list[StoryProfile], window: timedelta, credits: frozenset[str] = frozenset(),
           idf: dict[str, float] | None = None) -> Decision:
    """`idf` may come from the database (all live stories); by default it is computed over `profiles`."""
    """Decide the story of a new article from its candidates (pure: no I/O)."""
    for c in hash_matches:
        if c.story_id is not None:
            return Decision(c.story_id, [], "hash", 1.0, {"identical_text_of": c.article_id})
    scored = sorted(((jaccard(new.signature, c.features.signature), c) for c in near if c.story_id is not None),
                    key=lambda x: -x[0])
    copies = [(j, c) for j, c in scored if j >= COPY_JACCARD]
    if copies:
        best_j, best = copies[0]
        others = sorted({c.story_id for _, c in copies[1:] if c.story_id != best.story_id})  # type: ignore[misc]
        return Decision(best.story_id, others, "copy", best_j, {"jaccard": round(best_j, 3), "of": best.article_id})
    linked = [p for p in profiles if new.links & p.urls]
    if linked:
        return Decision(linked[0].story_id, [p.story_id for p in linked[1:]], "link", 1.0,
                        {"links_to": sorted(new.links & linked[0].urls)})
    return _by_evidence(new, when, profiles, window, credits, idf)


def _by_evidence(new: Features, when: datetime, profiles: list[StoryProfile], window: timedelta,
                 credits: frozenset[str], idf: dict[str, float] | None) -> Decision:
    live = [p for p in profiles if p.last is None or abs((when - p.last).total_seconds()) <= window.total_seconds()
            or (p.first and p.first <= when <= (p.last or p.first))]
    idf = idf if idf is not None else idf_table(live)
    scored = sorted(((evidence_score(new, p, idf, credits), p) for p in live), key=lambda x: -x[0][0])
    strong = [(sc, p) for sc, p in scored if sc[0] >= EVIDENCE_MIN]
    if strong:
        (score, ev), profile = strong[0]
        # an article that tells two stories' facts at once shows they are one story (e.g. a
        # translation that arrived before its original): merge them
        bridged = [p.story_id for (sc, _), p in strong[1:] if sc >= BRIDGE_RATIO * score]
        return Decision(profile.story_id, bridged, "evidence", round(score, 2), ev)
    (score, ev) = scored[0][0] if scored else (0.0, {})
    return Decision(None, [], "new", round(score, 2), ev)


STORY_MERGE_MIN = 2.5  # x EVIDENCE_MIN: whole stories must share much more than one article does


def idf_from_counts(df: dict[str, int], n: int) -> dict[str, float]:
    """The same weights as idf_table, from story counts kept in the database."""
    return {k: math.log((n + 1) / (v + 0.5)) for k, v in df.items()}


def story_terms(profile: StoryProfile) -> set[str]:
    """What the inverted index keeps for a story: its characteristic names, numbers ('#') and outlets ('@')."""
    return (profile.characteristic(profile.names) | {"#" + x for x in profile.characteristic(profile.numbers)}
            | {"@" + o for o in profile.outlets})


def same_story(profile: StoryProfile, others: list[StoryProfile], window: timedelta,
               idf: dict[str, float] | None = None) -> list[int]:
    """Other live stories that tell the same facts as this one (they grew apart, e.g. a relay chain
    that began in another language before its original arrived): candidates to merge into it."""
    class _View:  # evidence_score only reads names and numbers; a story speaks by its characteristic ones
        names = frozenset(profile.characteristic(profile.names))
        numbers = frozenset(profile.characteristic(profile.numbers))

    when = profile.last or profile.first
    if when is None:
        return []
    live = [p for p in others if p.story_id != profile.story_id and p.last and p.first
            and p.first - window <= when and p.last + window >= (profile.first or when)]
    idf = idf if idf is not None else idf_table(live + [profile])
    out = []
    for p in live:
        score, _ = evidence_score(_View(), p, idf)  # type: ignore[arg-type]
        if score >= STORY_MERGE_MIN * EVIDENCE_MIN:
            out.append(p.story_id)
    return out
