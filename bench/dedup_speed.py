"""Time to place one new article in a story with N articles already stored, and the index's size.

For each N a fresh SQLite file is filled in bulk, in a child process, with N articles over the year
before the replay corpus's February 2025 (about three per story): their MinHash signatures, 16 LSH band keys each, and their stories'
index terms drawn from a skewed vocabulary that starts with the replay corpus's common names
(Kosovo, KFOR, NATO...), so that the term index is as crowded as a newsroom's would be. Then the
replay corpus's 43 articles of 2025 go through the real ingest(), in publication order, as the
newest articles of the archive (live monitoring, or an archive replayed in order), and two times are
taken per article:

- assign: choose_story(), the part that scales with the archive (hash and LSH lookups, the stories
  sharing the article's evidence, the decision);
- place: place_article() as a whole, which also writes the bands and updates the story's tree,
  summary and index terms (a cost that grows with the story, not with the archive).

Floor, same N, same run: datasketch's in-memory MinHashLSH (LeanMinHash inserts; the query time for
one signature and the resident memory it takes, both measured in a child process).

    python -m bench.dedup_speed [--sizes 10000,100000,1000000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

import spreadwatch.ingest as ingest_module
import spreadwatch.placement as placement
from bench.stories_eval import corpus_settings, drafts
from spreadwatch.replay import load_corpus
from storage import Database
from storage.stories_repo import epoch_day
from stories.cluster import StoryProfile
from stories.features import BANDS, NUM_PERM, band_keys, pack
from stories.features import _SCHEME as SCHEME  # the hashing scheme our signatures are made with

YEAR = datetime(2024, 2, 18, tzinfo=timezone.utc)  # the stored year ends the day before the probes
# the corpus's commonest index terms (lemmas, names, skeletons, numbers, outlets) lead the vocabulary,
# so filler stories share them as real ones do
COMMON = ["kosovo", "kfor", "nato", "~ksv", "~kfr", "shba", "pristina", "~prstn", "serbia", "trupa", "ushtar",
          "@telegrafi", "@bild", "bondsteel", "mitrovica", "vucic", "~vsk", "kurti", "#600", "italia", "~itl",
          "tërheqje", "bruksel", "#4767", "ferizaj"]
VOCABULARY = COMMON + [f"term{i:05d}" for i in range(20000)]
PROFILE_TERMS, PROFILE_ANCHORS = 60, 60  # a filler story's profile (a real one holds up to 120 and 150)
BATCH = 20_000


def _ts(dt: datetime) -> str:
    """Our UTCDateTime's stored form on SQLite (naive UTC)."""
    return dt.astimezone(timezone.utc).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def fill(path: str, n: int, seed: int = 1) -> float:
    """N stored articles as the index sees them, written through the DB-API in bulk; seconds taken."""
    t0 = time.perf_counter()
    Database(f"sqlite:///{path}").dispose()  # the schema, by our migrations
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    # indexes are built once at the end, which is much faster than keeping them up to date per row
    indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
                           "AND tbl_name IN ('article', 'lsh_band', 'story_term', 'story')").fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    rng = np.random.default_rng(seed)
    stories = max(1, n // 3)
    times = sorted(YEAR + timedelta(seconds=float(s)) for s in rng.uniform(0, 365 * 86400, stories))
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO outlet (id, key, name, country, language, homepage, failures) "
                     "VALUES (?, ?, ?, 'XK', 'sq', '', 0)", [(i + 1, f"bulk{i}", f"Bulk {i}") for i in range(50)])
    _fill_stories(conn, times, rng)
    for start in range(0, n, BATCH):
        _fill_articles(conn, range(start, min(n, start + BATCH)), times, rng)
        if (start // BATCH) % 10 == 9:
            _progress(f"filled {start + BATCH:,} of {n:,} articles ({time.perf_counter() - t0:.0f} s)")
    conn.execute("COMMIT")
    _progress(f"building the indexes of {n:,} articles")
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - t0


def _fill_stories(conn: sqlite3.Connection, times: list[datetime], rng: np.random.Generator) -> None:
    weights = 1.0 / np.arange(1, len(VOCABULARY) + 1)  # Zipf: a few terms in many stories
    weights /= weights.sum()
    stories, rows = [], []
    for i, t in enumerate(times):
        profile = _filler_profile(i, t, rng, weights)
        stories.append((i + 1, f"s{i}", _ts(t), _ts(t + timedelta(hours=6)), json.dumps(profile.to_json())))
        day = epoch_day(t + timedelta(hours=6))
        rows.extend((i + 1, term, day) for term in sorted(profile.index_terms()))
    conn.executemany(
        "INSERT INTO story (id, title, first_seen_at, last_seen_at, outlet_count, languages, countries, watches,"
        " status, fingerprint) VALUES (?, ?, ?, ?, 3, '[\"sq\"]', '[]', '[]', 'active', ?)", stories)
    conn.executemany("INSERT INTO story_term (story_id, term, last_day) VALUES (?, ?, ?)", rows)


def _filler_profile(i: int, t: datetime, rng: np.random.Generator, weights: np.ndarray) -> StoryProfile:
    """A story profile of three articles, its terms drawn from the skewed vocabulary."""
    picked = [VOCABULARY[k] for k in rng.choice(len(VOCABULARY), size=PROFILE_TERMS + PROFILE_ANCHORS, p=weights)]
    profile = StoryProfile(i + 1, size=3, first=t, last=t + timedelta(hours=6), outlets={f"bulk{i % 50}"})
    profile.centroid = {"sq": {term: float(w) for term, w in zip(picked[:PROFILE_TERMS], rng.uniform(0.1, 1.5, PROFILE_TERMS))}}
    profile.anchors = {term: float(w) for term, w in zip(picked[PROFILE_TERMS:], rng.uniform(0.1, 1.5, PROFILE_ANCHORS))}
    return profile


def _fill_articles(conn: sqlite3.Connection, ids: range, times: list[datetime], rng: np.random.Generator) -> None:
    sigs = rng.integers(0, 2**32, size=(len(ids), NUM_PERM), dtype=np.uint64)
    articles, bands = [], []
    for i, sig in zip(ids, sigs):
        story = i % len(times)
        when = _ts(times[story])
        articles.append((i + 1, 1 + i % 50, f"https://bulk.example/{i}", f"https://bulk.example/{i}", when, when,
                         f"{i:064x}", pack(sig), story + 1))
        bands.extend((i + 1, b, k) for b, k in enumerate(band_keys(sig)))
    conn.executemany(
        "INSERT INTO article (id, outlet_id, canonical_url, url, title, text, language, published_at, first_seen_at,"
        " content_hash, via, minhash, links, story_id) VALUES (?, ?, ?, ?, '', '', 'sq', ?, ?, ?, 'bench', ?, '[]', ?)",
        articles)
    conn.executemany("INSERT INTO lsh_band (article_id, band, key) VALUES (?, ?, ?)", bands)


def _in_child(fn: Callable[..., Any], *args: Any) -> Any:
    """Run fn in a child process (its memory is not ours) and return its result."""
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def probe(path: str) -> dict[str, Any]:
    """The 2025 corpus articles through the real ingest(), timing choose_story and place_article."""
    corpus = load_corpus()
    db = Database(f"sqlite:///{path}")
    settings = corpus_settings(corpus, db.url)
    assign_ms: list[float] = []
    place_ms: list[float] = []
    real_choose, real_place = placement.choose_story, placement.place_article

    assign_cpu: list[float] = []
    place_cpu: list[float] = []

    def timed(fn: Callable[..., Any], into: list[float], cpu: list[float]) -> Callable[..., Any]:
        # wall time and this process's CPU time: the second is what the step costs whatever else the
        # machine is doing (SQLite reads come from the page cache here)
        def run(*a: Any, **k: Any) -> Any:
            t, c = time.perf_counter(), time.process_time()
            try:
                return fn(*a, **k)
            finally:
                into.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
        return run

    placement.choose_story = timed(real_choose, assign_ms, assign_cpu)
    ingest_module.place_article = timed(real_place, place_ms, place_cpu)
    rss_before = _rss_mb()
    try:
        probes = sorted((d for _, d in drafts(corpus) if d.published_at and d.published_at.year == 2025),
                        key=lambda d: d.published_at)
        for draft in probes:
            with db.session() as s:
                ingest_module.ingest(s, draft, settings)
    finally:
        placement.choose_story, ingest_module.place_article = real_choose, real_place
    index_bytes = _index_bytes(db)
    db.dispose()
    return {"probes": len(assign_ms), "assign_ms": _spread(assign_ms), "place_ms": _spread(place_ms),
            "assign_cpu_ms": _spread(assign_cpu), "place_cpu_ms": _spread(place_cpu),
            "load_average": round(os.getloadavg()[0], 1), "index_bytes": index_bytes, "rss_mb_before": rss_before, "rss_mb_peak": _peak_rss_mb()}


def _spread(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {"median": round(statistics.median(ms), 2), "p95": round(ms[max(0, int(len(ms) * 0.95) - 1)], 2),
            "max": round(ms[-1], 2)}


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return round(int(f.read().split()[1]) * resource.getpagesize() / 2**20, 1)


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _index_bytes(db: Database) -> int:
    """Bytes of the lsh_band and story_term tables and their indexes (SQLite's dbstat when available)."""
    with db.engine.connect() as c:
        try:
            rows = c.exec_driver_sql("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").all()
        except Exception:
            return -1
    return sum(size for name, size in rows if "lsh_band" in name or "story_term" in name)


def datasketch_floor(n: int, seed: int = 1) -> dict[str, float]:
    """datasketch's MinHashLSH in memory on N random signatures: resident MB and one query's time."""
    from datasketch import LeanMinHash, MinHashLSH

    rng = np.random.default_rng(seed)
    before = _rss_mb()
    lsh = MinHashLSH(num_perm=NUM_PERM, params=(BANDS, NUM_PERM // BANDS))
    t = time.perf_counter()
    for start in range(0, n, BATCH):
        for i, sig in enumerate(rng.integers(0, 2**32, size=(min(BATCH, n - start), NUM_PERM), dtype=np.uint64)):
            lsh.insert(start + i, LeanMinHash(seed=7, hashvalues=sig, scheme=SCHEME))
    insert_s = time.perf_counter() - t
    rss = _rss_mb() - before
    probe_sig = LeanMinHash(seed=7, hashvalues=rng.integers(0, 2**32, size=NUM_PERM, dtype=np.uint64),
                            scheme=SCHEME)
    t = time.perf_counter()
    for _ in range(200):
        lsh.query(probe_sig)
    return {"query_ms": round((time.perf_counter() - t) / 200 * 1000, 3), "rss_mb": round(rss, 1),
            "bytes_per_article": round(rss * 2**20 / n), "insert_seconds": round(insert_s, 1)}


def _progress(msg: str) -> None:
    print(f"  dedup_speed: {msg}", file=sys.stderr, flush=True)


def measure(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bench.db")
        _progress(f"filling a SQLite archive with {n:,} articles")
        fill_s = _in_child(fill, path, n)
        _progress(f"placing the corpus's 2025 articles on top of {n:,} stored")
        ours = _in_child(probe, path)
    _progress(f"datasketch MinHashLSH with {n:,} signatures in memory (the floor)")
    floor = _in_child(datasketch_floor, n)
    return {"stored": n, "fill_seconds": round(fill_s, 1), **ours,
            "index_bytes_per_article": round(ours["index_bytes"] / n), "datasketch": floor}


def report(r: dict[str, Any]) -> str:
    a, p, d = r["assign_ms"], r["place_ms"], r["datasketch"]
    return (f"{r['stored']:>9,} stored | assign median {a['median']:6.2f} ms p95 {a['p95']:6.2f} | place median "
            f"{p['median']:6.2f} ms p95 {p['p95']:6.2f} | CPU: assign {r['assign_cpu_ms']['median']:.2f} ms, place "
            f"{r['place_cpu_ms']['median']:.2f} ms (load {r['load_average']}) | index {r['index_bytes_per_article']} B/article on disk, "
            f"process peak {r['rss_mb_peak']:.0f} MB | datasketch in memory: {d['bytes_per_article']} B/article "
            f"({d['rss_mb']:.0f} MB), query {d['query_ms']} ms | fill {r['fill_seconds']} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--json", help="write the results here as JSON")
    args = ap.parse_args()
    results = []
    for n in (int(x) for x in args.sizes.split(",")):
        results.append(measure(n))
        print(report(results[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
