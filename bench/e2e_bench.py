"""End to end: articles per second from a local newsroom to stories and alerts, vs a bare library-only pipeline.

Both pipelines read the same generated newsroom (bench/pages.py: N articles, ~50 per RSS feed),
served by a child process on 127.0.0.1, and fetch every feed and page over local HTTP at the same
concurrency. Each runs in a fresh child process of its own, so its peak memory is its own:

- ours: spreadwatch.cycle.run_once, the poller's real cycle into a fresh SQLite file: feed polls,
  page fetches through the polite Fetcher, extraction, then ingest() per article in its own
  transaction (watches, dedup, story placement, propagation, alert rules and outbox rows);
- bare: httpx.AsyncClient -> feedparser.parse -> trafilatura.extract (our options) -> one regex
  scan for every watch term -> datasketch MinHash (update_batch, shared permutations) queried and
  inserted in an in-memory MinHashLSH -> SQLAlchemy Core executemany of the article rows into the
  same schema, once per feed.

The bare pipeline runs before and after ours and the floor is the mean of the two, so a change in
the machine's load during the run weighs on both sides. Time per stage is wall time inside each
stage's functions (all run on the event loop's one thread); the rest is fetching and waiting.

    python -m bench.e2e_bench [--articles 5000] [--concurrency 8] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.figures import Figure, StageClock, table
from bench.pages import build_site
from bench.site import ServedSite

RESULTS = Path(__file__).parent / "results"


def run(articles: int, concurrency: int = 8, *, timeout: float = 3600, profile: bool = False,
        baseline_tree: Path | None = None) -> list[Figure]:
    """Serve the newsroom, run bare, ours, bare in child processes, and compare.

    With `baseline_tree` (a copy of the code from before a change), our pipeline also runs from
    that tree, between the two bare runs, for a before/after measured in the same conditions.
    """
    with ServedSite(lambda base: build_site(articles, base)) as served, \
            tempfile.TemporaryDirectory(prefix="swbench-e2e-") as tmp:
        assert served.site is not None
        spec = Path(tmp) / "spec.json"
        spec.write_text(json.dumps({"outlets": served.site.outlets_config(served.base_url),
                                    "concurrency": concurrency, "per_feed": 50, "dir": tmp}))
        bare1 = _child("bare", spec, timeout)
        before = _child("ours", spec, timeout, tree=baseline_tree) if baseline_tree else None
        ours = _child("ours", spec, timeout, profile=profile)
        bare2 = _child("bare", spec, timeout)
    figures = _figures(articles, ours, [bare1, bare2])
    if before is not None:
        figures.append(Figure("e2e", "articles/s, this tree", "articles/s", ours["articles"] / ours["seconds"],
                              f"baseline tree {baseline_tree}", before["articles"] / before["seconds"],
                              ours["articles"], note="before/after, same run", extra={"baseline": before}))
    return figures


def _child(kind: str, spec: Path, timeout: float, *, profile: bool = False, tree: Path | None = None) -> dict[str, Any]:
    """One pipeline in a fresh process (from `tree` when given: `-m` puts its directory first)."""
    cmd = [sys.executable, "-m", "bench.e2e_bench", "--child", kind, "--spec", str(spec)]
    if profile:
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"e2e-{kind}-{time.strftime('%Y%m%d-%H%M%S')}.pyspy.txt"
        cmd = ["py-spy", "record", "--rate", "50", "--format", "raw", "--output", str(out), "--", *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=tree)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the {kind} pipeline failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    if profile:
        result["profile_file"] = str(out)
    return result


def _figures(articles: int, ours: dict[str, Any], bares: list[dict[str, Any]]) -> list[Figure]:
    bare_rate = sum(b["articles"] / b["seconds"] for b in bares) / len(bares)
    bare_rss = max(b["peak_rss_mb"] for b in bares)
    runs = ", ".join(f"{b['articles'] / b['seconds']:.1f}" for b in bares)
    note = f"{articles} articles; bare runs before and after: {runs}/s"
    extra = {"ours": ours, "bare": bares}
    return [
        Figure("e2e", "articles/s, newsroom to stories and alerts", "articles/s", ours["articles"] / ours["seconds"],
               "bare library pipeline", bare_rate, ours["articles"], note=note, extra=extra),
        Figure("e2e", "peak memory (RSS)", "MB", ours["peak_rss_mb"], "bare library pipeline", bare_rss,
               ours["articles"], lower_is_better=True, note="whole process, imports included"),
        Figure("extract", "whole ingest (e2e, ours)", "articles/s", ours["articles"] / ours["seconds"],
               "trafilatura.extract alone (bare's stage)", _stage_rate(bares, "extract: trafilatura"),
               ours["articles"], note="same pages, same run"),
    ]


def _stage_rate(runs: list[dict[str, Any]], stage: str) -> float:
    return sum(r["articles"] / r["stages"][stage] for r in runs) / len(runs)


def stage_table(figures: list[Figure]) -> str:
    """Seconds and milliseconds per article in each stage: ours, the baseline tree's if run, bare's."""
    main = next(f for f in figures if f.section == "e2e")
    runs = [("ours", main.extra["ours"])]
    runs += [("ours, baseline tree", f.extra["baseline"]) for f in figures if "baseline" in f.extra]
    runs.append(("bare (first run)", main.extra["bare"][0]))
    lines = [f"{'stage':44s} {'s':>7s} {'ms/art':>7s}"]
    for name, run_ in runs:
        lines.append(f"-- {name}: {run_['articles']} articles in {run_['seconds']:.1f} s, "
                     f"peak RSS {run_['peak_rss_mb']:.0f} MB (at start {run_['start_rss_mb']:.0f} MB)"
                     + (f", {run_['stories']} stories, {run_['alerts']} alerts" if "stories" in run_ else ""))
        for stage, s in sorted(run_["stages"].items(), key=lambda kv: -kv[1]):
            lines.append(f"   {stage:41s} {s:7.2f} {1000 * s / max(1, run_['articles']):7.2f}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- child side


def _rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_ours(spec: dict[str, Any]) -> dict[str, Any]:
    """The real poll cycle into a fresh SQLite file, with its stages clocked."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import SessionTransaction

    import crawler.articles
    import crawler.feeds
    import spreadwatch.cycle
    import spreadwatch.ingest
    from spreadwatch.settings import (
        HttpSettings,
        OutletConfig,
        PollSettings,
        load_settings,
    )
    from storage import Alert, Article, Database

    c = spec["concurrency"]
    settings = load_settings().with_overrides(
        database_url=f"sqlite:///{Path(spec['dir']) / f'ours-{os.getpid()}.db'}",
        outlets=[OutletConfig.model_validate(o) for o in spec["outlets"]],
        http=HttpSettings(per_host_delay=0, per_host_concurrency=c, max_concurrency=c, retries=0),
        poll=PollSettings(max_entries_per_feed=spec["per_feed"]),
        alerts={"channels": [{"name": "bench", "type": "console"}]})
    db = Database(settings.database_url)
    clock = StageClock()
    for owner, attr, stage in (
            (crawler.feeds, "parse_feed", "feed parse"), (spreadwatch.cycle, "_wanted", "known-URL check"),
            (crawler.articles, "extract_article", "extract"), (spreadwatch.cycle, "ingest", "ingest: article row, URL check, rest"),
            (spreadwatch.ingest, "match_article", "ingest: watches"),
            (spreadwatch.ingest, "place_article", "ingest: story placement"),
            (spreadwatch.ingest, "evaluate", "ingest: alert rules"),
            (spreadwatch.cycle, "_record_success", "feed state")):
        clock.wrap(owner, attr, stage)
    _clock_placement(clock)
    # a savepoint's release is part of ingest's work; a transaction's commit is the database's
    clock.wrap(SessionTransaction, "commit", "commit", when=lambda tx: not tx.nested)
    start_rss = _rss_mb()
    t = time.perf_counter()
    report = spreadwatch.cycle.run_once(settings, db=db)
    wall = time.perf_counter() - t
    with db.session() as s:
        stories = s.scalar(select(func.count(func.distinct(Article.story_id))))
        alerts = s.scalar(select(func.count(Alert.id)))
        fallbacks = s.scalar(select(func.count(Article.id)).where(Article.extraction_note.is_not(None)))
    st = dict(clock.seconds)
    st["fetch, event loop, rest"] = wall - sum(st.values())
    return {"articles": report.new, "seconds": wall, "stages": st, "stories": stories, "alerts": alerts,
            "extraction_fallbacks": fallbacks, "start_rss_mb": start_rss, "peak_rss_mb": _rss_mb("VmHWM")}


def _clock_placement(clock: StageClock) -> None:
    """Placement's own steps, where they exist: the lead reshapes placement.py, so a step that is
    gone is skipped and its time stays in "ingest: story placement"."""
    import spreadwatch.placement
    import storage.stories_repo

    for owner, attr, stage in (
            (spreadwatch.placement, "choose_story", "placement: choose story"),
            (storage.stories_repo, "save_bands", "placement: save LSH bands"),
            (spreadwatch.placement, "update_story", "placement: tree, summary, terms"),
            (spreadwatch.placement, "_twins", "placement: twin stories")):
        if callable(getattr(owner, attr, None)):
            clock.wrap(owner, attr, stage)


def child_bare(spec: dict[str, Any]) -> dict[str, Any]:
    """The library-only pipeline, on the same feeds, pages and schema."""
    import asyncio

    from bench.bare_pipeline import BarePipeline
    from storage import Database

    db = Database(f"sqlite:///{Path(spec['dir']) / f'bare-{os.getpid()}.db'}")
    pipeline = BarePipeline(db.engine, spec["outlets"], spec["concurrency"], spec["per_feed"])
    start_rss = _rss_mb()
    t = time.perf_counter()
    articles = asyncio.run(pipeline.run())
    wall = time.perf_counter() - t
    st = dict(pipeline.clock.seconds)
    st["fetch, event loop, rest"] = wall - sum(st.values())
    return {"articles": articles, "seconds": wall, "stages": st, "start_rss_mb": start_rss,
            "peak_rss_mb": _rss_mb("VmHWM")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--profile", action="store_true", help="record our pipeline with py-spy into bench/results/")
    ap.add_argument("--baseline-tree", type=Path, help="a copy of the code from before a change, run too")
    ap.add_argument("--child", choices=("ours", "bare"), help=argparse.SUPPRESS)
    ap.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        spec = json.loads(args.spec.read_text())
        print(json.dumps((child_ours if args.child == "ours" else child_bare)(spec)))
        return
    figures = run(args.articles, args.concurrency, profile=args.profile, baseline_tree=args.baseline_tree)
    print(table(figures))
    print(stage_table(figures))


if __name__ == "__main__":
    main()
