"""Labelled evaluation streams (../shared/eval/ format): reading, ingesting in an order, scoring.

The score is the one the eval README defines: over all pairs of articles, same story and same
predicted story is a true positive, same story apart a false negative, different event together a
false positive; pairs of different stories of the same event are not counted.
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import combinations
from pathlib import Path
from typing import Any, Callable

from crawler.draft import ArticleDraft
from spreadwatch.settings import OutletConfig, Settings, load_settings


@dataclass(frozen=True)
class Record:
    id: str
    story: str
    event: str
    set: str
    outlet: str
    outlet_name: str
    country: str
    language: str
    script: str
    published_at: datetime
    title: str
    text: str
    origin: bool

    @property
    def url(self) -> str:
        """Eval records carry no address: a stable one made from the id."""
        return f"https://eval.invalid/{self.outlet}/{self.id.replace(':', '/')}"

    def draft(self) -> ArticleDraft:
        return ArticleDraft(outlet_key=self.outlet, url=self.url, canonical_url=self.url, title=self.title,
                            text=self.text, language=self.language, published_at=self.published_at, via="eval")


def read_records(path: Path) -> list[Record]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            r = json.loads(line)
            when = datetime.fromisoformat(r["published_at"].replace("Z", "+00:00")).astimezone(timezone.utc)
            out.append(Record(r["id"], r["story"], r.get("event", r["story"]), r.get("set", ""), r["outlet"],
                              r.get("outlet_name", r["outlet"]), r.get("country", ""), r.get("language", ""),
                              r.get("script", ""), when, r.get("title", ""), r.get("text", ""), bool(r.get("origin"))))
    return out


def stream_settings(records: list[Record], db_url: str) -> Settings:
    """The default settings with the stream's outlets instead of the bundled ones."""
    seen: dict[str, OutletConfig] = {}
    for r in records:
        seen.setdefault(r.outlet, OutletConfig(key=r.outlet, name=r.outlet_name, country=r.country,
                                               language=r.language))
    return load_settings().with_overrides(database_url=db_url, outlets=list(seen.values()))


def arrival(records: list[Record], order: str) -> list[Record]:
    """'publication' (by published_at, then id) or 'shuffled:SEED'."""
    ordered = sorted(records, key=lambda r: (r.published_at, r.id))
    if order == "publication":
        return ordered
    kind, _, seed = order.partition(":")
    if kind != "shuffled" or not seed.isdigit():
        raise ValueError(f"unknown order {order!r}: use publication or shuffled:N")
    random.Random(int(seed)).shuffle(ordered)
    return ordered


def ingest_stream(records: list[Record], order: str, progress: Callable[[int, int], None] | None = None,
                  db_dir: Path | None = None) -> dict[str, Any]:
    """Every record through ingest() into a fresh SQLite database in this order: the predicted story
    and origin of every record, and the median time per article: prepare() (features, watches,
    denial terms: before the transaction), the transaction, and placement alone within it."""
    import spreadwatch.ingest as ingest_module
    from storage import Article, Database, Story

    placing: list[float] = []
    real_place = ingest_module.place_article

    def timed_place(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return real_place(*args, **kwargs)
        finally:
            placing.append(time.perf_counter() - t0)

    with tempfile.TemporaryDirectory(dir=db_dir) as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'eval.db'}")
        settings = stream_settings(records, db.url)
        ids: dict[int, str] = {}
        took: list[float] = []
        preparing: list[float] = []
        ingest_module.place_article = timed_place
        try:
            items = arrival(records, order)
            for n, r in enumerate(items, 1):
                t0 = time.perf_counter()
                prepared = ingest_module.prepare(r.draft(), settings)  # as the poller does, before the transaction
                t1 = time.perf_counter()
                with db.session() as s:
                    ids[ingest_module.ingest(s, r.draft(), settings, prepared=prepared).article_id] = r.id
                took.append(time.perf_counter() - t1)
                preparing.append(t1 - t0)
                if progress:
                    progress(n, len(items))
        finally:
            ingest_module.place_article = real_place
        with db.session(read_only=True) as s:
            story_of = {ids[a.id]: a.story_id for a in s.query(Article)}
            origins = {st.id: ids.get(st.origin_article_id or -1) for st in s.query(Story) if st.status == "active"}
        db.dispose()
    return {"story_of": story_of, "origins": origins, "ms_per_article": 1000 * statistics.median(took),
            "ms_placement": 1000 * statistics.median(placing) if placing else 0.0,
            "ms_prepare": 1000 * statistics.median(preparing)}


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(2 * p * r / (p + r) if p + r else 0.0, 3)}


def score_stream(records: list[Record], story_of: dict[str, Any], origins: dict[Any, str | None] | None = None
                 ) -> dict[str, Any]:
    """The eval README's figures for one predicted clustering (record id -> predicted story)."""
    counts = {"all": [0, 0, 0]} | {s: [0, 0, 0] for s in sorted({r.set for r in records})}
    pairs: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # language pair -> [together, all]
    for a, b in combinations(records, 2):
        together = story_of[a.id] == story_of[b.id]
        same_set = a.set if a.set == b.set else None
        if a.story == b.story:
            slot = 0 if together else 2
            if a.language != b.language or a.script != b.script:
                key = "-".join(sorted([_lang(a), _lang(b)]))
                pairs[key][0] += together
                pairs[key][1] += 1
        elif a.event != b.event and together:
            slot = 1
        else:
            continue
        counts["all"][slot] += 1
        if same_set is not None:
            counts[same_set][slot] += 1
    predicted: dict[Any, set[str]] = defaultdict(set)
    true: dict[str, set[str]] = defaultdict(set)
    for r in records:
        predicted[story_of[r.id]].add(r.id)
        true[r.story].add(r.id)
    by_id = {r.id: r for r in records}
    bp = statistics.fmean(len(predicted[story_of[r.id]] & true[r.story]) / len(predicted[story_of[r.id]]) for r in records)
    br = statistics.fmean(len(predicted[story_of[r.id]] & true[r.story]) / len(true[r.story]) for r in records)
    sizes = sorted((len(v) for v in predicted.values()), reverse=True)
    out: dict[str, Any] = {
        "articles": len(records), "stories_true": len(true), "stories_found": len(predicted),
        "largest": sizes[:3], "largest_true": max(len(v) for v in true.values()),
        "pairwise": _prf(*counts["all"]),
        "bcubed": {"precision": round(bp, 3), "recall": round(br, 3), "f1": round(2 * bp * br / (bp + br), 3)},
        "sets": {k: _prf(*v) for k, v in counts.items() if k != "all"},
        "language_pairs": {k: round(t / n, 3) for k, (t, n) in sorted(pairs.items())},
    }
    if origins is not None:
        with_origin = {r.story for r in records if r.origin}
        # a true story's origin is right when the predicted story holding its original names it as origin
        right = sum(1 for st in with_origin if _origin_ok(st, records, story_of, origins, by_id))
        out["origin_is_original"] = round(right / len(with_origin), 3) if with_origin else None
    return out


def _lang(r: Record) -> str:
    return f"{r.language}-{r.script}" if r.language == "sr" and r.script else r.language


def _origin_ok(story: str, records: list[Record], story_of: dict[str, Any], origins: dict[Any, str | None],
               by_id: dict[str, Record]) -> bool:
    original = next(r for r in records if r.story == story and r.origin)
    origin_id = origins.get(story_of[original.id])
    return origin_id == original.id


def summary_line(order: str, s: dict[str, Any]) -> str:
    sets = "  ".join(f"{k} F1 {v['f1']}" for k, v in s["sets"].items())
    return (f"{order:>13}: pairwise P {s['pairwise']['precision']} R {s['pairwise']['recall']} "
            f"F1 {s['pairwise']['f1']}  B3 F1 {s['bcubed']['f1']}  stories {s['stories_found']}/{s['stories_true']}  "
            f"largest {s['largest']} (true {s['largest_true']})  {sets}")
