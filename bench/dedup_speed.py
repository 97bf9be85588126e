"""Time to place one new article in a story with N articles already stored, and the index's size.

For each N, a fresh SQLite file is filled in bulk (Core executemany) with N articles spread over a
year (about three per story), their MinHash signatures, 16 LSH band keys each, and their stories'
index terms; then 40 real articles from the replay corpus are ingested through the real ingest()
and the time of placement is taken per article. Baseline, same N: datasketch's in-memory
MinHashLSH (insert all, query once per new article), with its memory per article (tracemalloc).

    python -m bench.dedup_speed [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from datasketch import MinHash, MinHashLSH
from sqlalchemy import insert

import spreadwatch.placement as placement
from bench.stories_eval import corpus_settings, drafts
from spreadwatch.ingest import ingest
from spreadwatch.replay import load_corpus
from storage import Article, Database, LshBand, Outlet, Story, StoryTerm
from stories.features import BANDS, NUM_PERM, band_keys, pack

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
NAMES = [f"n{i:04d}" for i in range(5000)]


def fill(db: Database, n: int, rng: random.Random) -> None:
    """N stored articles, as the index sees them (random signatures: the lookups cost the same)."""
    with db.engine.begin() as c:
        c.execute(insert(Outlet), [{"key": f"bulk{i}", "name": f"Bulk {i}", "failures": 0} for i in range(50)])
        stories = max(1, n // 3)
        span = timedelta(days=365)
        times = sorted(T0 + span * rng.random() for _ in range(stories))
        c.execute(insert(Story), [{"id": i + 1, "title": f"s{i}", "first_seen_at": t,
                                   "last_seen_at": (t + timedelta(hours=6)), "outlet_count": 3,
                                   "languages": ["sq"], "countries": [], "watches": [], "status": "active",
                                   "fingerprint": {"names": {}, "numbers": {}, "urls": [], "size": 3, "outlets": []}}
                                  for i, t in enumerate(times)])
        c.execute(insert(StoryTerm), [{"story_id": s, "term": t} for s in range(1, stories + 1)
                                      for t in rng.sample(NAMES, 8)])
        for start in range(0, n, 20_000):
            batch = range(start, min(n, start + 20_000))
            sigs = {i: np.array([rng.getrandbits(32) for _ in range(NUM_PERM)], dtype=np.uint64) for i in batch}
            c.execute(insert(Article), [{
                "id": i + 1, "outlet_id": 1 + i % 50, "canonical_url": f"https://bulk.example/{i}",
                "url": f"https://bulk.example/{i}", "title": "", "text": "", "language": "sq",
                "published_at": times[i % stories], "first_seen_at": times[i % stories],
                "content_hash": f"{i:064x}", "via": "bench", "minhash": pack(sigs[i]), "links": [],
                "story_id": 1 + i % stories} for i in batch])
            c.execute(insert(LshBand), [{"article_id": i + 1, "band": b, "key": k} for i in batch
                                        for b, k in enumerate(band_keys(sigs[i]))])


def measure(n: int) -> dict[str, object]:
    rng = random.Random(n)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        db = Database(f"sqlite:///{path}")
        t = time.perf_counter()
        fill(db, n, rng)
        fill_s = time.perf_counter() - t
        index_bytes = _index_bytes(db)
        corpus = load_corpus()
        settings = corpus_settings(corpus, db.url)
        timings: list[float] = []
        original = placement.place_article

        def timed(*a, **k):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                timings.append(time.perf_counter() - t0)
        placement_module_ingest = __import__("spreadwatch.ingest", fromlist=["place_article"])
        placement_module_ingest.place_article = timed
        try:
            for _, draft in drafts(corpus)[:40]:
                with db.session() as s:
                    ingest(s, draft, settings)
        finally:
            placement_module_ingest.place_article = original
        db.dispose()
    ms = sorted(x * 1000 for x in timings)
    return {"stored": n, "fill_seconds": round(fill_s, 1), "place_ms_median": round(statistics.median(ms), 2),
            "place_ms_p95": round(ms[int(len(ms) * 0.95) - 1], 2), "index_bytes_per_article": round(index_bytes / n),
            **baseline(n, rng)}


def _index_bytes(db: Database) -> int:
    """Bytes of the lsh_band and story_term tables and their indexes (SQLite's dbstat when available)."""
    with db.engine.connect() as c:
        try:
            rows = c.exec_driver_sql("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").all()
        except Exception:
            return -1
    return sum(size for name, size in rows if "lsh_band" in name or "story_term" in name)


def baseline(n: int, rng: random.Random) -> dict[str, object]:
    """datasketch's MinHashLSH in memory on the same number of signatures."""
    tracemalloc.start()
    lsh = MinHashLSH(num_perm=NUM_PERM, params=(BANDS, NUM_PERM // BANDS))
    for i in range(n):
        lsh.insert(i, MinHash(num_perm=NUM_PERM, hashvalues=np.array([rng.getrandbits(32) for _ in range(NUM_PERM)],
                                                                     dtype=np.uint64), scheme="affine32"))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    probe = MinHash(num_perm=NUM_PERM, hashvalues=np.array([rng.getrandbits(32) for _ in range(NUM_PERM)],
                                                           dtype=np.uint64), scheme="affine32")
    t = time.perf_counter()
    for _ in range(200):
        lsh.query(probe)
    return {"datasketch_bytes_per_article": round(peak / n), "datasketch_query_ms": round((time.perf_counter() - t) * 5, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    args = ap.parse_args()
    results = [measure(int(n)) for n in args.sizes.split(",")]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
