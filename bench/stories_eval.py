"""Story clustering quality, through the real ingest() spine, on labelled data.

Two kinds of data:

- a labelled stream (JSON lines: id, story, event, set, outlet, language, published_at, title, text,
  as in ../shared/eval/): every article goes through ingest() into a fresh SQLite database, once in
  publication order and once in each shuffled order asked for, then the stories are scored as that
  folder's README says: pairwise precision/recall/F1 over article pairs (pairs of different stories
  of the same event not counted), B-cubed F1, stories found, the largest ones, per set, translation
  pairs kept together per language pair, the share of stories whose origin is the original, and
  the time per article;
- the bundled replay corpus (no --stream): the same through shuffled orders, plus the accuracy of
  each article's inferred source and of denial detection.

    python -m bench.stories_eval --stream ../shared/eval/stream-dev.jsonl [--orders publication,shuffled:1,shuffled:2]
    python -m bench.stories_eval [--seeds 5]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

from crawler.draft import ArticleDraft
from spreadwatch.ingest import ingest
from spreadwatch.newsroom import Newsroom
from spreadwatch.replay import Corpus, load_corpus
from spreadwatch.settings import OutletConfig, Settings, load_settings
from storage import Article, Database, Link


def corpus_settings(corpus: Corpus, db_url: str) -> Settings:
    nr = Newsroom(corpus)  # only for its outlet entries and canonical URLs; never started
    outlets = [OutletConfig.model_validate(o) for o in nr.outlets_config()]
    return load_settings().with_overrides(database_url=db_url, outlets=outlets)


def drafts(corpus: Corpus) -> list[tuple[str, ArticleDraft]]:
    nr = Newsroom(corpus)
    out = []
    for a in corpus.articles:
        links = tuple(nr.canonical_url(corpus.article(t)) for t in a.links)
        out.append((a.id, ArticleDraft(outlet_key=a.outlet, url=nr.canonical_url(a), canonical_url=nr.canonical_url(a),
                                       title=a.title, text=a.body, language=a.language, published_at=a.published,
                                       via="eval", links=links)))
    return out


def run(seed: int, corpus: Corpus | None = None) -> dict[str, Any]:
    corpus = corpus or load_corpus()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'eval.db'}")
        settings = corpus_settings(corpus, db.url)
        items = drafts(corpus)
        random.Random(seed).shuffle(items)
        ids: dict[int, str] = {}
        for label_id, draft in items:
            with db.session() as s:
                ids[ingest(s, draft, settings).article_id] = label_id
        with db.session() as s:
            story_of = {ids[a.id]: a.story_id for a in s.query(Article)}
            links = {ids[l.article_id]: (ids.get(l.source_article_id or -1), l.kind) for l in s.query(Link)}
        db.dispose()
    return score(corpus, story_of, links)


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(2 * p * r / (p + r) if p + r else 0.0, 3)}


def score(corpus: Corpus, story_of: dict[str, int | None], links: dict[str, tuple[str | None, str]]) -> dict[str, Any]:
    truth = {a.id: a.labels.story for a in corpus.articles}
    tp = fp = fn = 0
    for x, y in combinations(sorted(truth), 2):
        same_true, same_pred = truth[x] == truth[y], story_of[x] == story_of[y]
        tp += same_true and same_pred
        fp += same_pred and not same_true
        fn += same_true and not same_pred
    pred_groups, true_groups = defaultdict(set), defaultdict(set)
    for a, s in story_of.items():
        pred_groups[s].add(a)
        true_groups[truth[a]].add(a)
    bp = sum(len(pred_groups[story_of[a]] & true_groups[truth[a]]) / len(pred_groups[story_of[a]]) for a in truth) / len(truth)
    br = sum(len(pred_groups[story_of[a]] & true_groups[truth[a]]) / len(true_groups[truth[a]]) for a in truth) / len(truth)
    labelled = [a for a in corpus.articles if a.labels.source]
    exact = sum(links.get(a.id, (None, ""))[0] == a.labels.source for a in labelled)
    ancestors = {a.id: _ancestors(corpus, a.id) for a in labelled}
    lenient = sum(links.get(a.id, (None, ""))[0] in ancestors[a.id] for a in labelled)
    denials = [a for a in corpus.articles if a.labels.kind == "denial"]
    said_denial = {a for a, (_, kind) in links.items() if kind == "denial"}
    return {
        "articles": len(truth), "stories_true": len(true_groups), "stories_found": len(pred_groups),
        "pairwise": _prf(tp, fp, fn),
        "bcubed": {"precision": round(bp, 3), "recall": round(br, 3), "f1": round(2 * bp * br / (bp + br), 3)},
        "source_exact": round(exact / len(labelled), 3), "source_ancestor": round(lenient / len(labelled), 3),
        "denial": _prf(len(said_denial & {a.id for a in denials}), len(said_denial - {a.id for a in denials}),
                       len({a.id for a in denials} - said_denial)),
        "partition": sorted(sorted(group) for group in pred_groups.values()),
        "wrong_sources": sorted(f"{a.id}: got {links.get(a.id, (None,))[0]}, want {a.labels.source}"
                                for a in labelled if links.get(a.id, (None, ""))[0] != a.labels.source),
    }


def _ancestors(corpus: Corpus, article_id: str) -> set[str]:
    out, cur = set(), corpus.article(article_id).labels.source
    while cur:
        out.add(cur)
        cur = corpus.article(cur).labels.source
    return out


def stream_main(path: Path, orders: list[str], as_json: bool) -> None:
    import sys

    from bench.streams import ingest_stream, read_records, score_stream, summary_line

    records = read_records(path)
    results = {}
    for order in orders:
        def progress(n: int, total: int, order: str = order) -> None:
            if n % 100 == 0 or n == total:
                print(f"  {order}: {n}/{total} articles", file=sys.stderr, flush=True)

        run_ = ingest_stream(records, order, progress)
        scored = score_stream(records, run_["story_of"], run_["origins"])
        scored["ms_per_article"] = round(run_["ms_per_article"], 2)
        scored["ms_placement"] = round(run_["ms_placement"], 2)
        scored["ms_prepare"] = round(run_["ms_prepare"], 2)
        results[order] = scored
        if not as_json:
            print(summary_line(order, scored), flush=True)
            print(f"{'':>15}translation pairs together: "
                  + "  ".join(f"{k} {v}" for k, v in scored["language_pairs"].items()))
            print(f"{'':>15}origin is the original: {scored.get('origin_is_original')}   "
                  f"median ms per article: prepare {scored['ms_prepare']}, transaction {scored['ms_per_article']} "
                  f"(placement {scored['ms_placement']})")
    if as_json:
        print(json.dumps(results, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stream", type=Path, help="a labelled JSON-lines stream (../shared/eval/ format)")
    ap.add_argument("--orders", default="publication,shuffled:1,shuffled:2,shuffled:3",
                    help="with --stream: arrival orders, comma-separated (publication, shuffled:N)")
    ap.add_argument("--seeds", type=int, default=3, help="without --stream: shuffled orders of the replay corpus")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.stream:
        stream_main(args.stream, [o.strip() for o in args.orders.split(",") if o.strip()], args.json)
        return
    results = [run(seed) for seed in range(args.seeds)]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for seed, r in enumerate(results):
        print(f"seed {seed}: stories {r['stories_found']}/{r['stories_true']}  pairwise {r['pairwise']}  "
              f"b-cubed {r['bcubed']}  source exact {r['source_exact']} ancestor {r['source_ancestor']}  "
              f"denial {r['denial']}")
    for line in results[0]["wrong_sources"]:
        print("  ", line)


if __name__ == "__main__":
    main()
