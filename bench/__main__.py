"""Every benchmark against its floor, in one run: ``python -m bench [--quick]``.

Runs the sections in order on data they generate (feeds, fetch, extract, dedup, storage, e2e),
prints one table of figures (ours, the floor measured in the same run on the same data, and the
ratio), then the end-to-end run's time per stage, and writes everything as JSON to bench/results/.
--quick finishes in a few minutes; the full run takes about half an hour on two cores.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import dedup_bench, e2e_bench, extract_bench, feeds_bench, fetch_bench, storage_bench
from bench.figures import Figure, load, table

SECTIONS = ("feeds", "fetch", "extract", "dedup", "storage", "e2e")
RESULTS = Path(__file__).parent / "results"
LIBRARIES = ("feedparser", "httpx", "httpcore", "sniffio", "trafilatura", "lxml", "datasketch", "sqlalchemy",
             "psycopg")


def main() -> None:
    args = _args()
    started, figures, loads = time.strftime("%Y-%m-%dT%H:%M:%S"), [], {"start": load()}
    for name in args.only:
        t = time.perf_counter()
        print(f"[{name}] running (load {load()['load1']})...", file=sys.stderr, flush=True)
        figures += _section(name, args)()
        loads[name] = {**load(), "seconds": round(time.perf_counter() - t, 1)}
    print(table(figures))
    if any(f.section == "e2e" for f in figures):
        print()
        print(e2e_bench.stage_table(figures))
    path = _write(started, args, figures, loads)
    print(f"\nload averages (1/5/15 min) at start {loads['start']}, at end {load()}; results in {path}")


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small data and short time budgets (a few minutes)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {', '.join(SECTIONS)}")
    ap.add_argument("--articles", type=int, help="end-to-end newsroom size (default 400 quick, 5000 full)")
    ap.add_argument("--concurrency", type=int, default=8, help="end-to-end fetch concurrency, both pipelines")
    ap.add_argument("--dedup-sizes", help="stored-article counts for bench/dedup_speed.py "
                                          "(default 10000 quick, 10000,100000 full; 1000000 takes very long)")
    ap.add_argument("--pg", default=storage_bench.PG_ADMIN, help="PostgreSQL admin URL for storage ('' to skip)")
    ap.add_argument("--profile", action="store_true", help="record our end-to-end run with py-spy")
    ap.add_argument("--baseline-tree", type=Path, help="end to end: also run our pipeline from this copy of "
                                                       "the code (before a change), in the same run")
    args = ap.parse_args()
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    args.articles = args.articles or (400 if args.quick else 5000)
    sizes = args.dedup_sizes or ("10000" if args.quick else "10000,100000")
    args.dedup_sizes = tuple(int(s) for s in sizes.split(",") if s)
    return args


def _section(name: str, args: argparse.Namespace) -> Callable[[], list[Figure]]:
    quick = args.quick
    return {
        "feeds": lambda: feeds_bench.run(quick),
        "fetch": lambda: fetch_bench.run(quick),
        "extract": lambda: extract_bench.run(quick),
        "dedup": lambda: dedup_bench.run(quick, args.dedup_sizes),
        "storage": lambda: storage_bench.run(quick, args.pg or None),
        "e2e": lambda: e2e_bench.run(args.articles, args.concurrency, profile=args.profile,
                                     baseline_tree=args.baseline_tree),
    }[name]


def _write(started: str, args: argparse.Namespace, figures: list[Figure], loads: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"bench-{started.replace(':', '')}-{'quick' if args.quick else 'full'}.json"
    path.write_text(json.dumps({
        "started": started, "mode": "quick" if args.quick else "full", "sections": args.only,
        "machine": _machine(), "load": loads, "figures": [f.as_dict() for f in figures],
    }, indent=2, default=str))
    return path


def _machine() -> dict[str, Any]:
    import os

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent, check=False).stdout.strip()
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "commit": commit, "libraries": {lib: _version(lib) for lib in LIBRARIES}}


def _version(lib: str) -> str:
    try:
        return metadata.version(lib)
    except metadata.PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    main()
