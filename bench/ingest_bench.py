"""Articles per second through the whole path: feed → page fetch → extraction → match → story → store.

A synthetic newsroom (default 2,000 articles of ~600 words on 40 outlets, one in ten a copy of
another) is served on 127.0.0.1 and polled once by the real cycle into a fresh SQLite file. The
same run then times the libraries alone on the same bytes, as baselines:
feedparser.parse on every feed, lxml parsing every page, trafilatura.extract on every page.

    python -m bench.ingest_bench [--articles 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import feedparser
import httpx
import lxml.html
import trafilatura

from spreadwatch.cycle import run_once
from spreadwatch.newsroom import Newsroom
from spreadwatch.replay import Corpus, Labels, ReplayArticle, ReplayOutlet
from spreadwatch.settings import HttpSettings, OutletConfig, PollSettings, load_settings
from storage import Database

WORDS = ("qeveria ministria parlamenti ushtria policia kryeministri presidenti komuna buxheti energjia "
         "tregu investimet shkolla spitali rruga zgjedhjet partia opozita gjykata prokuroria "
         "government ministry parliament army police minister president budget energy market school "
         "hospital road election party court prosecutor reform agreement dialogue border trade").split()
NAMES = "Kurti Vučić Rama Rutte Bondsteel Mitrovica Prishtina Tirana Belgrade Brussels Ferizaj Prizren".split()


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(9, 16))]
    words.insert(rng.randint(1, len(words) - 1), rng.choice(NAMES))
    if rng.random() < 0.3:
        words.append(str(rng.randint(100, 9999)))
    return " ".join(words).capitalize() + "."


def synthetic(n: int, outlets: int = 40, seed: int = 1) -> Corpus:
    rng = random.Random(seed)
    outs = [ReplayOutlet(key=f"o{i:02d}", name=f"Outlet {i}", country="XK", language="sq", domain=f"o{i:02d}.example")
            for i in range(outlets)]
    t0 = datetime(2025, 2, 19, tzinfo=timezone.utc)
    arts: list[ReplayArticle] = []
    for i in range(n):
        when = t0 + timedelta(minutes=i)
        if arts and rng.random() < 0.1:  # a copy of an earlier article, as portals do
            src = rng.choice(arts[-200:])
            body, labels = src.body, Labels(story=src.labels.story, source=src.id, kind="copy", watch=False)
        else:
            body = "\n\n".join(" ".join(sentence(rng) for _ in range(5)) for _ in range(8))  # ~600 words
            labels = Labels(story=f"s{i}", source=None, kind="origin", watch=False)
        arts.append(ReplayArticle(id=f"a{i:05d}", outlet=outs[i % outlets].key, language="sq", published=when,
                                  title=sentence(rng)[:80], body=body, labels=labels))
    return Corpus(outlets=outs, articles=arts)


def baselines(nr: Newsroom, corpus: Corpus) -> dict[str, float]:
    with httpx.Client() as http:
        feeds = [http.get(nr.feed_url(o.key)).content for o in corpus.outlets]
        pages = [http.get(nr.base_url + nr.article_path(a)).content for a in corpus.articles]
    t = time.perf_counter()
    for f in feeds:
        feedparser.parse(f)
    feed_s = time.perf_counter() - t
    t = time.perf_counter()
    for p in pages:
        lxml.html.document_fromstring(p)
    lxml_s = time.perf_counter() - t
    t = time.perf_counter()
    for p in pages:
        trafilatura.extract(p)
    traf_s = time.perf_counter() - t
    return {"feeds_per_s_feedparser": len(feeds) / feed_s, "pages_per_s_lxml": len(pages) / lxml_s,
            "pages_per_s_trafilatura": len(pages) / traf_s}


def run(n: int) -> dict[str, object]:
    corpus = synthetic(n)
    with Newsroom(corpus) as nr, tempfile.TemporaryDirectory() as tmp:
        outlets = [OutletConfig.model_validate(o) for o in nr.outlets_config()]
        settings = load_settings().with_overrides(
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}", outlets=outlets,
            http=HttpSettings(per_host_delay=0, per_host_concurrency=8, max_concurrency=8, retries=0),
            poll=PollSettings(max_entries_per_feed=n))
        db = Database(settings.database_url)
        t = time.perf_counter()
        report = run_once(settings, db=db)
        wall = time.perf_counter() - t
        base = baselines(nr, corpus)
    return {"articles": report.new, "wall_seconds": round(wall, 2), "articles_per_s": round(report.new / wall, 1),
            "stage_seconds": {k: round(v, 2) for k, v in report.stage_seconds.items()},
            "baselines": {k: round(v, 1) for k, v in base.items()},
            "ratio_vs_trafilatura_alone": round((report.new / wall) / base["pages_per_s_trafilatura"], 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=2000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result = run(args.articles)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
