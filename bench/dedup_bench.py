"""Dedup: MinHash signatures per second by stories/features.py vs datasketch alone; placement latency.

Signatures, on the folded tokens of the generated articles' texts, alternately in chunks:
- ours: stories.features.signature (word 3-shingles, MinHash with shared permutations, lean copy);
- floor: datasketch alone doing the same: the same shingles built the same way, one MinHash with
  the shared permutations, update_batch;
- reference: the same with update() per shingle, the slow way the issue warns about;
- reference: stories.features.extract_features, everything placement derives from a text (tokens,
  signature, names, numbers), against the same floor.

Assignment and placement latency with 10k/100k/1M stored articles and the index's size per
article are the lead's benchmark, bench/dedup_speed.py, called here with the sizes given; its floor
is datasketch's in-memory MinHashLSH (one query; resident bytes per article).

    python -m bench.dedup_bench [--quick] [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse

from datasketch import MinHash

from bench import dedup_speed
from bench.figures import Figure, each, interleaved, repeat_to, table
from bench.pages import build_site
from stories.features import NUM_PERM, SHINGLE, extract_features, signature
from stories.normalize import tokens

_TEMPLATE = MinHash(num_perm=NUM_PERM, seed=7)


def run(quick: bool = True, sizes: tuple[int, ...] = ()) -> list[Figure]:
    """Signature rates, then the lead's placement latency at each size."""
    texts = ["\n\n".join(a.paragraphs) for a in build_site(300, "http://127.0.0.1").articles]
    toks = [tokens(t) for t in texts]
    figures = _signatures(toks, texts, quick)
    for n in sizes:
        figures += _placement(n)
    return figures


def _floor(toks: list[str]) -> MinHash:
    m = MinHash(num_perm=NUM_PERM, seed=7, permutations=_TEMPLATE.permutations, scheme=_TEMPLATE.scheme)
    m.update_batch([" ".join(toks[i:i + SHINGLE]).encode() for i in range(len(toks) - SHINGLE + 1)])
    return m


def _per_shingle(toks: list[str]) -> MinHash:
    m = MinHash(num_perm=NUM_PERM, seed=7, permutations=_TEMPLATE.permutations, scheme=_TEMPLATE.scheme)
    for i in range(len(toks) - SHINGLE + 1):
        m.update(" ".join(toks[i:i + SHINGLE]).encode())
    return m


def _signatures(toks: list[list[str]], texts: list[str], quick: bool) -> list[Figure]:
    items = repeat_to(list(range(len(toks))), 600 if quick else 3000)
    rates, n = interleaved({
        "ours": each(lambda i: signature(toks[i])),
        "floor": each(lambda i: _floor(toks[i])),
        "update": each(lambda i: _per_shingle(toks[i])),
        "features": each(lambda i: extract_features("", texts[i], "sq")),
    }, items, budget=15 if quick else 45, chunk=20)
    words = sum(map(len, toks)) // len(toks)
    return [
        Figure("dedup", "stories.features.signature", "sig/s", rates["ours"],
               "datasketch update_batch, shared perms", rates["floor"], n, note=f"{words}-word texts"),
        Figure("dedup", "ref: datasketch update() per shingle", "sig/s", rates["update"],
               "datasketch update_batch, shared perms", rates["floor"], n, note="the slow way"),
        Figure("dedup", "stories.features.extract_features", "texts/s", rates["features"],
               "datasketch update_batch, shared perms", rates["floor"], n,
               note="tokens, signature, names, numbers"),
    ]


def _placement(n: int) -> list[Figure]:
    """bench/dedup_speed.py at one size, as figures (it times the replay corpus's real ingests)."""
    r = dedup_speed.measure(n)
    floor = r["datasketch"]
    probes, note = int(r.get("probes", 0)), "p95 {} ms; bench/dedup_speed.py"
    return [
        Figure("dedup", f"assign (choose story) median, {n:,} stored", "ms", r["assign_ms"]["median"],
               "datasketch MinHashLSH.query", floor["query_ms"], probes, lower_is_better=True,
               note=note.format(r["assign_ms"]["p95"]), extra=r),
        Figure("dedup", f"place (whole) median, {n:,} stored", "ms", r["place_ms"]["median"],
               "datasketch MinHashLSH.query", floor["query_ms"], probes, lower_is_better=True,
               note=note.format(r["place_ms"]["p95"]) + "; goal 5 ms at 1M"),
        Figure("dedup", f"index bytes/article, {n:,} stored", "B", r["index_bytes_per_article"],
               "datasketch MinHashLSH in memory", floor["bytes_per_article"], n, lower_is_better=True,
               note=f"SQLite pages vs resident memory; process peak {r['rss_mb_peak']:.0f} MB"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sizes", default="", help="stored-article counts for bench/dedup_speed.py, e.g. 10000")
    args = ap.parse_args()
    print(table(run(args.quick, tuple(int(s) for s in args.sizes.split(",") if s))))


if __name__ == "__main__":
    main()
