"""Fit the story engine's join model (stories/calibration.json) on labelled streams.

Each labelled article is compared, in publication order, with every story formed so far from the
articles before it *by their true labels* and still live (seen within the window): the comparison
gives the inputs the engine reads (stories.cluster.Evidence.inputs) and the answer (is this its
story?). A logistic regression with a small L2 penalty fits the seven weights. Pairs of different
stories reporting the same event (the eval streams' `event`) are left out, as the measure leaves
them out. The result is small, readable and kept in the repository; the threshold is the natural
0.5 of a logistic model, not tuned.

    python -m bench.calibrate --stream ../shared/eval/stream-dev.jsonl [--stream ...] [--no-replay]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from stories.attribution import alias_tokens, credited_outlets
from stories.cluster import CALIBRATION, FEATURES, Model, StoryProfile, evidence
from stories.features import Features, extract_features

if TYPE_CHECKING:
    from bench.streams import Record

WINDOW = timedelta(hours=72)
L2 = 1e-2
# The replay corpus is small (157 comparisons against 24,000 of the dev stream): counted as it is.
REPLAY_WEIGHT = 1.0


@dataclass
class Labelled:
    features: Features
    when: datetime
    outlet: str
    url: str
    story: str
    event: str
    credits: frozenset[str] = frozenset()


def read_stream(path: Path) -> list[Labelled]:
    """An evaluation stream (JSON lines with story, event, published_at, language, title, text)."""
    from bench.streams import read_records

    return [labelled(r) for r in read_records(path)]


def labelled(r: "Record") -> Labelled:
    return Labelled(extract_features(r.title, r.text, r.language), r.published_at, r.outlet, r.url, r.story, r.event)


def read_replay() -> list[Labelled]:
    """The bundled replay corpus, with the outlets its articles credit."""
    from spreadwatch.replay import load_corpus

    corpus = load_corpus()
    aliases = {o.key: alias_tokens([o.name, o.key, *o.aliases]) for o in corpus.outlets}
    out = []
    for a in corpus.articles:
        f = extract_features(a.title, a.body, a.language)
        credits = frozenset(c.outlet for c in credited_outlets(f.folded_text.split(), aliases, a.outlet))
        out.append(Labelled(f, a.published, a.outlet, f"replay:{a.id}", "replay:" + a.labels.story,
                            "replay:" + a.labels.story, credits))
    return out


def comparisons(items: Iterable[Labelled]) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, answers) of every article against every live story formed before it by the labels."""
    xs, ys = [], []
    stories: dict[str, tuple[StoryProfile, str]] = {}
    for item in sorted(items, key=lambda i: i.when):
        for key, (profile, event) in stories.items():
            if key != item.story and event == item.event:
                continue  # another story of the same event: not counted either way
            ev = evidence(item.features, item.when, profile, item.credits, item.outlet)
            if ev.hours * 3600 > WINDOW.total_seconds():
                continue
            xs.append(ev.inputs())
            ys.append(1.0 if key == item.story else 0.0)
        if item.story not in stories:
            stories[item.story] = (StoryProfile(len(stories) + 1), item.event)
        stories[item.story][0].add(item.features, item.when, item.outlet, item.url, item.credits)
    return np.array(xs), np.array(ys)


def fit(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, l2: float = L2,
        iterations: int = 60) -> np.ndarray:
    """Logistic regression by Newton's method (a handful of weights: no library needed); `weight`
    counts some comparisons more than others."""
    weight = np.ones(len(y)) if weight is None else weight
    w = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -50, 50)))
        gradient = x.T @ (weight * (p - y)) + l2 * w
        hessian = (x * (weight * p * (1 - p))[:, None]).T @ x + l2 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return w


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stream", action="append", default=[], type=Path, help="a labelled JSON-lines stream")
    ap.add_argument("--no-replay", action="store_true", help="leave out the bundled replay corpus")
    ap.add_argument("--out", type=Path, default=CALIBRATION)
    ap.add_argument("--replay-weight", type=float, default=REPLAY_WEIGHT)
    ap.add_argument("--cv", action="store_true",
                    help="instead of writing the fit: two-fold cross-validation by topic on each stream")
    args = ap.parse_args(argv)
    if args.cv:
        for path in args.stream:
            cross_validate(path, with_replay=not args.no_replay, replay_weight=args.replay_weight)
        return
    xs, ys, ws, sources = [], [], [], []
    for path in args.stream:
        x, y = comparisons(read_stream(path))
        xs.append(x), ys.append(y), ws.append(np.ones(len(y))), sources.append(path.name)
        print(f"{path.name}: {len(y)} comparisons, {int(y.sum())} with the article's own story", file=sys.stderr)
    if not args.no_replay:
        x, y = comparisons(read_replay())
        xs.append(x), ys.append(y), ws.append(np.full(len(y), args.replay_weight)), sources.append("replay corpus")
        print(f"replay corpus: {len(y)} comparisons, {int(y.sum())} with the article's own story", file=sys.stderr)
    if not xs:
        ap.error("nothing to fit: give --stream or keep the replay corpus")
    x, y = np.vstack(xs), np.concatenate(ys)
    w = fit(x, y, np.concatenate(ws))
    p = 1.0 / (1.0 + np.exp(-(x @ w)))
    accuracy = float(np.mean((p >= 0.5) == (y == 1)))
    data = {"features": FEATURES, "weights": [round(float(v), 4) for v in w], "threshold": 0.5,
            "fitted_on": sources, "comparisons": int(len(y)), "training_accuracy": round(accuracy, 4),
            "window_hours": WINDOW.total_seconds() / 3600, "l2": L2, "replay_weight": args.replay_weight}
    args.out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(data, indent=1))


# ---------------------------------------------------------------- checking a fit without the database

def topic(story: str) -> str:
    """The fold key: an ECB+ topic's two sub-topics ('ecb:12_ecb', 'ecb:12_ecbplus') stay together, so
    the hard negatives are never split between fitting and checking."""
    return story.rsplit("_", 1)[0] if story.startswith("ecb:") else story


def pairwise_f1(items: list[Labelled], story_of: dict[str, int]) -> float:
    """Pairwise F1 of a placement against the labels (pairs of the same event and another story not counted)."""
    from itertools import combinations

    tp = fp = fn = 0
    for a, b in combinations(items, 2):
        together = story_of[a.url] == story_of[b.url]
        if a.story == b.story:
            tp, fn = tp + together, fn + (not together)
        elif a.event != b.event:
            fp += together
    p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return round(2 * p * r / (p + r), 3) if p + r else 0.0


def cross_validate(path: Path, with_replay: bool = True, replay_weight: float = REPLAY_WEIGHT) -> None:
    """Fit on half the topics, place the other half in publication order, score; and the other way."""
    import zlib

    from bench.streams import read_records, score_stream
    records = read_records(path)
    items = {r.id: labelled(r) for r in records}
    replay = read_replay()
    extra = comparisons(replay) if with_replay else None
    for k in (0, 1):
        fold = [r for r in records if zlib.crc32(topic(r.story).encode()) % 2 == k]
        rest = [items[r.id] for r in records if zlib.crc32(topic(r.story).encode()) % 2 != k]
        x, y = comparisons(rest)
        weight = np.ones(len(y))
        if extra is not None:
            x, y = np.vstack([x, extra[0]]), np.concatenate([y, extra[1]])
            weight = np.concatenate([weight, np.full(len(extra[1]), replay_weight)])
        model = Model(tuple(float(v) for v in fit(x, y, weight)), 0.5)
        by_url = simulate([items[r.id] for r in fold], model)
        s = score_stream(fold, {r.id: by_url[r.url] for r in fold})
        print(f"fold {k}: {len(fold)} articles, weights {[round(w, 2) for w in model.weights]}\n"
              f"   pairwise {s['pairwise']}  B3 F1 {s['bcubed']['f1']}  stories {s['stories_found']}/"
              f"{s['stories_true']}  largest {s['largest']}  sets {s['sets']}\n"
              f"   replay corpus (publication order): pairwise F1 {pairwise_f1(replay, simulate(replay, model))}")


def simulate(items: list[Labelled], model: Model) -> dict[str, int]:
    """Place the articles in publication order with stories.cluster.assign (copies by signature, no
    index): article url -> predicted story number. A quick check of a fit; the real measure is
    bench.stories_eval, through ingest()."""
    from stories.cluster import Candidate, assign

    profiles: list[StoryProfile] = []
    placed: list[tuple[Labelled, int]] = []
    story_of: dict[str, int] = {}
    for item in sorted(items, key=lambda i: i.when):
        near = [Candidate(n, sid, other.features) for n, (other, sid) in enumerate(placed)
                if abs((item.when - other.when).total_seconds()) <= WINDOW.total_seconds()]
        d = assign(item.features, item.when, [], near, profiles, WINDOW, item.credits, model, item.outlet)
        if d.story_id is None:
            profiles.append(StoryProfile(len(profiles) + 1))
            sid = len(profiles)
        else:
            sid = d.story_id
        profiles[sid - 1].add(item.features, item.when, item.outlet, item.url, item.credits)
        placed.append((item, sid))
        story_of[item.url] = sid
    return story_of


if __name__ == "__main__":
    main()
