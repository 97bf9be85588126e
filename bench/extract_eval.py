"""Extraction quality on two public sets, ours against trafilatura in the same run, each set scored
by its own scorer.

- scrapinghub/article-extraction-benchmark (``--aeb DIR``, a checkout of the repository): 181 pages
  with the article body as ground truth. Scored by the set's own ``evaluate.py`` (shingle F1,
  imported from DIR, not copied). trafilatura is called as the set's own runner calls it
  (``extract(html, include_comments=False)``).
- adbar/trafilatura's evaluation pages (``--trafilatura-eval DIR``, a checkout of the repository or
  its ``tests`` folder): ``evaldata.json`` with must-contain and must-not-contain snippets per page,
  and title and date gold for most pages. The body is scored by the set's own ``eval_common``
  (snippet counts, imported from DIR), trafilatura run with the set's canonical options
  (``RUNNERS["fallback"]``). The set has no scorer for titles and dates; like its ``eval_authors.py``
  for authors, a title counts when it equals the gold exactly (after collapsing white space), a date
  when it is the gold day (and, reported beside it, within one day). trafilatura's title and date
  are its metadata pass (``bare_extraction(with_metadata=True)``, htmldate inside).

"Ours" is the poller's own call: ``crawler.extract.extract_article(bytes, url)``; a page it refuses
(no article text) counts as empty. Dates are compared as UTC days; the pages that carry their date
in a machine-readable form (the gold day written year first, 2019-08-02, 2019/08/02 or 20190802,
somewhere in the markup or the address) are counted apart, as the goal is stated for them.

    python -m bench.extract_eval --aeb /work/data/aeb --trafilatura-eval /work/data/trafilatura-eval \
        [--limit N] [--misses FILE]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import trafilatura

from crawler.errors import ExtractionError
from crawler.extract import Extracted, extract_article


@dataclass
class Tally:
    """Counts for one question (titles or dates) on one side."""

    asked: int = 0
    right: int = 0
    near: int = 0  # dates: within one day; titles: equal but for letter case



@dataclass
class Side:
    """What one extractor got on the trafilatura set."""

    titles: Tally = field(default_factory=Tally)
    titles_readable: Tally = field(default_factory=Tally)  # on the pages with a machine-readable date
    dates: Tally = field(default_factory=Tally)
    dates_readable: Tally = field(default_factory=Tally)
    # machine-readable misses whose gold is a modification time the page declares, where the
    # answer is a publication time it declares (published before modified: the set's gold differs)
    gold_modified: int = 0
    seconds: float = 0.0


def load_module(path: Path, name: str) -> ModuleType:
    """A scorer module from the set's own checkout (kept outside this repository)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: cannot load the set's scorer")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def ours(content: bytes, url: str) -> Extracted | None:
    """The poller's call. Where it finds no article text the poller stores the feed's summary with
    what the page did say (title, time): that, with an empty text; None if the page is unreadable."""
    try:
        return extract_article(content, url)
    except ExtractionError as e:
        return e.partial  # type: ignore[no-any-return]


# ---------------------------------------------------------------- article-extraction-benchmark

def run_aeb(root: Path, limit: int | None) -> dict[str, Any]:
    """Body F1 of ours and trafilatura on the benchmark, by its own evaluate()."""
    scorer = load_module(root / "evaluate.py", "aeb_evaluate")
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    keys = sorted(truth)[:limit] if limit else sorted(truth)
    truth = {k: truth[k] for k in keys}
    pred: dict[str, dict[str, dict[str, str]]] = {"ours": {}, "trafilatura": {}}
    seconds = {"ours": 0.0, "trafilatura": 0.0}
    for key in keys:
        raw = gzip.decompress((root / "html" / f"{key}.html.gz").read_bytes())
        t = time.perf_counter()
        ex = ours(raw, truth[key]["url"])
        seconds["ours"] += time.perf_counter() - t
        pred["ours"][key] = {"articleBody": ex.text if ex else ""}
        t = time.perf_counter()
        text = trafilatura.extract(raw.decode("utf-8"), include_comments=False)  # the set's own runner
        seconds["trafilatura"] += time.perf_counter() - t
        pred["trafilatura"][key] = {"articleBody": text or ""}
    result = {}
    for name, p in pred.items():
        m = scorer.evaluate(truth, p, 200)
        result[name] = {"f1": m["f1"], "precision": m["precision"], "recall": m["recall"],
                        "pages_per_s": len(keys) / seconds[name]}
    per_page = {k: [scorer.string_shingle_matching(truth[k].get("articleBody", ""), pred[n][k]["articleBody"])
                    for n in ("ours", "trafilatura")] for k in keys}
    result["pages"] = len(keys)
    result["worse"] = sorted(((k, round(_f1(o), 3), round(_f1(t), 3)) for k, (o, t) in per_page.items()
                              if _f1(o) < _f1(t) - 0.05), key=lambda x: x[1] - x[2])
    return result


def _f1(tp_fp_fn: tuple[float, float, float]) -> float:
    tp, fp, fn = tp_fp_fn
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


# ---------------------------------------------------------------- trafilatura's evaluation pages

def run_trafilatura_set(root: Path, limit: int | None) -> dict[str, Any]:
    """Body by the set's snippet scorer; titles and dates against its gold, ours and trafilatura's."""
    here = root / "tests" if (root / "tests" / "evaldata.json").exists() else root
    common = load_module(here / "eval_common.py", "eval_common")
    evaldata = common.load_evaldata(str(here))
    urls = sorted(evaldata)[:limit] if limit else sorted(evaldata)
    body = {"ours": common.ConfusionMatrix(), "trafilatura": common.ConfusionMatrix()}
    sides = {"ours": Side(), "trafilatura": Side()}
    misses: list[dict[str, Any]] = []
    for url in urls:
        item = evaldata[url]
        raw = common.read_document(str(here), item["file"])
        if raw is None:
            continue
        t = time.perf_counter()
        ex = ours(raw, url)
        sides["ours"].seconds += time.perf_counter() - t
        body["ours"].add(common.count_item(item, ex.text if ex else None))
        t = time.perf_counter()
        _, counts, _ = common.run_and_count(common.RUNNERS["fallback"], raw, item)
        meta = _trafilatura_metadata(raw)
        sides["trafilatura"].seconds += time.perf_counter() - t
        body["trafilatura"].add(counts)
        readable = _date_in_markup(raw, url, item.get("date"))
        got = {"ours": (ex.title if ex else "", _day(ex.published_at) if ex else None),
               "trafilatura": (meta[0], meta[1])}
        for name, (title, day) in got.items():
            _score(sides[name], item, title, day, readable)
            if (readable and item.get("date") and not _near(day, item["date"])
                    and _gold_is_modified(raw, url, item["date"], day)):
                sides[name].gold_modified += 1
        miss = _miss(url, item, got["ours"], got["trafilatura"], readable)
        if miss:
            misses.append(miss)
    return {"pages": len(urls), "body": {n: dict(zip(common.METRICS, m.scores())) for n, m in body.items()},
            "sides": sides, "misses": misses}


def _trafilatura_metadata(raw: bytes) -> tuple[str, date | None]:
    try:
        doc = trafilatura.bare_extraction(raw, with_metadata=True)
    except Exception:  # a crash is a miss, as the set's own scripts count it
        return "", None
    if doc is None:
        return "", None
    day = None
    if doc.date:
        try:
            day = date.fromisoformat(doc.date[:10])
        except ValueError:
            day = None
    return doc.title or "", day


def _day(when: datetime | None) -> date | None:
    return when.date() if when else None


def _norm(text: str | None) -> str:
    return " ".join((text or "").split())


def gold_day(value: str) -> date:
    """The gold date; four entries of the set are typed loosely (2022-29-11, 2022-01.26, 2022-11-1)
    and are read the evident way rather than dropped."""
    y, a, b = (int(x) for x in re.split(r"\D", value)[:3])
    return date(y, b, a) if a > 12 else date(y, a, b)


def _score(side: Side, item: dict[str, Any], title: str, day: date | None, readable: bool) -> None:
    if item.get("title"):
        for tally in (side.titles, side.titles_readable) if readable else (side.titles,):
            tally.asked += 1
            tally.right += _norm(title) == _norm(item["title"])
            tally.near += _norm(title).casefold() == _norm(item["title"]).casefold()
    if item.get("date"):
        gold = gold_day(item["date"])
        for tally in (side.dates, side.dates_readable) if readable else (side.dates,):
            tally.asked += 1
            tally.right += day == gold
            tally.near += day is not None and abs(day - gold) <= timedelta(days=1)


def _near(day: date | None, gold: str) -> bool:
    return day is not None and abs(day - gold_day(gold)) <= timedelta(days=1)


def _gold_is_modified(raw: bytes, url: str, gold: str, day: date | None) -> bool:
    """Whether the gold day is a modification time the page declares (a meta name saying
    modified/updated, JSON-LD dateModified) while `day` is a publication time it declares."""
    import lxml.html

    from crawler.dates import _MODIFIED_WORD, _ld_published, _meta_published, json_ld, parse_stamp
    from crawler.extract import _meta_contents, parse_page

    if day is None:
        return False
    try:
        tree = parse_page(raw.decode("utf-8", "replace"), url)
    except (ValueError, lxml.etree.ParserError):
        return False
    metas, objects = _meta_contents(tree), json_ld(tree)
    modified = [v for k, v in metas.items() if _MODIFIED_WORD.search(k)]
    modified += [str(o["dateModified"]) for o in objects if isinstance(o.get("dateModified"), (str, int))]
    published = list(_meta_published(metas)) + list(_ld_published(objects, url))

    def days(values: list[str]) -> set[date]:
        return {st.when.date() for v in values if (st := parse_stamp(v)) is not None}
    return any(_near(d, gold) for d in days(modified)) and day in days(published)


def _date_in_markup(raw: bytes, url: str, gold: str | None) -> bool:
    """Whether the gold day is written year first anywhere in the page's bytes or its address."""
    if not gold:
        return False
    day = gold_day(gold)
    y, m, d = f"{day.year:04d}", f"{day.month:02d}", f"{day.day:02d}"
    forms = [f"{y}-{m}-{d}", f"{y}/{m}/{d}", f"{y}{m}{d}", f"{y}.{m}.{d}"]
    text = raw.decode("utf-8", "replace") + " " + url
    return any(re.search(rf"(?<!\d){re.escape(f)}(?!\d)", text) for f in forms)


def _miss(url: str, item: dict[str, Any], ours_got: tuple[str, date | None],
          theirs: tuple[str, date | None], readable: bool) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    if item.get("title") and _norm(ours_got[0]) != _norm(item["title"]):
        out["title"] = {"gold": item["title"], "ours": ours_got[0], "trafilatura": theirs[0]}
    if item.get("date") and ours_got[1] != gold_day(item["date"]):
        out["date"] = {"gold": item["date"], "ours": str(ours_got[1]), "trafilatura": str(theirs[1]),
                       "machine_readable": readable}
    return {"url": url, "file": item["file"], "machine_readable_date": readable, **out} if out else None


# ---------------------------------------------------------------- the report

def _share(t: Tally, near: bool) -> str:
    n = t.near if near else t.right
    return f"{n}/{t.asked} ({100 * n / t.asked:.1f} %)" if t.asked else "-"


def report(aeb: dict[str, Any] | None, tset: dict[str, Any] | None) -> str:
    lines = []
    if aeb:
        o, t = aeb["ours"], aeb["trafilatura"]
        lines += [f"article-extraction-benchmark, {aeb['pages']} pages, its evaluate.py:",
                  f"  body F1      ours {o['f1']:.3f} (P {o['precision']:.3f} R {o['recall']:.3f})   "
                  f"trafilatura {t['f1']:.3f} (P {t['precision']:.3f} R {t['recall']:.3f})   "
                  f"ratio {o['f1'] / t['f1']:.3f}",
                  f"  pages/s      ours {o['pages_per_s']:.1f}   trafilatura {t['pages_per_s']:.1f}",
                  f"  pages where ours is > 0.05 F1 below: {len(aeb['worse'])}"]
        lines += [f"    {k[:16]}  ours {a:.3f}  trafilatura {b:.3f}" for k, a, b in aeb["worse"][:10]]
    if tset:
        b, s = tset["body"], tset["sides"]
        lines += [f"trafilatura evaluation pages, {tset['pages']} pages, its eval_common scorer:",
                  f"  body F1      ours {b['ours']['f1']:.3f} (P {b['ours']['precision']:.3f} "
                  f"R {b['ours']['recall']:.3f})   trafilatura {b['trafilatura']['f1']:.3f} "
                  f"(P {b['trafilatura']['precision']:.3f} R {b['trafilatura']['recall']:.3f})"]
        rows = (("titles exact", "titles", False), ("  ignoring case", "titles", True),
                ("  machine-readable*", "titles_readable", False), ("  ignoring case", "titles_readable", True),
                ("date, same UTC day", "dates", False), ("  within a day", "dates", True),
                ("  machine-readable*", "dates_readable", False), ("  within a day", "dates_readable", True))
        for label, attr, near in rows:
            o, t = getattr(s["ours"], attr), getattr(s["trafilatura"], attr)
            lines.append(f"  {label:<22} ours {_share(o, near):<22} trafilatura {_share(t, near)}")
        lines.append("  (* pages whose gold date is written year first in their markup or address)")
        o, t = s["ours"], s["trafilatura"]
        lines.append(f"  machine-readable date misses whose gold is the page's declared modification time and the "
                     f"answer its declared publication time: ours {o.gold_modified}, trafilatura {t.gold_modified}")
        lines.append(f"  seconds      ours {s['ours'].seconds:.1f}   trafilatura (text + metadata) "
                     f"{s['trafilatura'].seconds:.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--aeb", type=Path, help="checkout of scrapinghub/article-extraction-benchmark")
    ap.add_argument("--trafilatura-eval", type=Path, help="checkout of adbar/trafilatura (or its tests/)")
    ap.add_argument("--limit", type=int, help="only the first N pages of each set (sorted by key)")
    ap.add_argument("--misses", type=Path, help="write the title and date misses as JSON here")
    args = ap.parse_args(argv)
    if not args.aeb and not args.trafilatura_eval:
        ap.error("give --aeb DIR and/or --trafilatura-eval DIR")
    aeb = run_aeb(args.aeb, args.limit) if args.aeb else None
    if aeb:
        print(report(aeb, None), flush=True)
    tset = run_trafilatura_set(args.trafilatura_eval, args.limit) if args.trafilatura_eval else None
    print(report(None, tset))
    if args.misses and tset:
        args.misses.write_text(json.dumps(tset["misses"], ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
