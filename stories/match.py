"""Watches: multilingual keyword rules over normalised text.

Term syntax (folded when compiled, so authors may write any script or diacritics):
  word       the exact token                     KFOR, SHBA, Вашингтон
  stem*      a token starting with stem          tërheq* (tërheqje, tërheqja, tërheqjen)
  *stem      a token ending with stem            *abzug (Truppenabzug, Abzug)
  *stem*     a token containing stem             *truppen*
  a b*       consecutive tokens (a phrase)       "pull* out", "Stati Uniti"
  a ~N b     a and b within N tokens, any order  "US ~3 troop*" (US troops, U.S. ground troops)
A rule matches when every group in `all` has a hit and no `none` term does; a watch matches when
any of its rules does.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from spreadwatch.settings import WatchConfig
from stories.normalize import fold_term, words

SNIPPET_CHARS = 220


@dataclass(frozen=True)
class Term:
    source: str  # as written in the config
    parts: tuple[tuple[str, str], ...]  # (mode, text) per word: exact | prefix | suffix | infix
    near: tuple[int, Term] | None = field(default=None)  # "a ~N b": b within N tokens of a

    def match_at(self, toks: list[str], i: int) -> bool:
        if i + len(self.parts) > len(toks):
            return False
        return all(_word_matches(mode, text, toks[i + k]) for k, (mode, text) in enumerate(self.parts))


def _word_matches(mode: str, text: str, token: str) -> bool:
    if mode == "exact":
        return token == text
    if mode == "prefix":
        return token.startswith(text)
    if mode == "suffix":
        return token.endswith(text)
    return text in token


_NEAR = re.compile(r"\s+~(\d+)\s+")


def compile_term(term: str) -> Term:
    pieces = _NEAR.split(term, maxsplit=1)
    if len(pieces) == 3:
        left, distance, right = pieces
        return Term(term, _parts(left, term), (int(distance), compile_term(right)))
    return Term(term, _parts(term, term))


def _parts(text: str, term: str) -> tuple[tuple[str, str], ...]:
    parts = []
    for word in fold_term(text).split():
        stem = word.strip("*")
        if not stem:
            raise ValueError(f"watch term {term!r} has a wildcard with no letters")
        mode = {(False, False): "exact", (False, True): "prefix", (True, False): "suffix",
                (True, True): "infix"}[(word.startswith("*"), word.endswith("*"))]
        parts.append((mode, stem))
    if not parts:
        raise ValueError(f"watch term {term!r} is empty after normalisation")
    return tuple(parts)


@dataclass(frozen=True)
class CompiledRule:
    groups: tuple[tuple[Term, ...], ...]
    none: tuple[Term, ...]


@dataclass(frozen=True)
class CompiledWatch:
    name: str
    rules: tuple[CompiledRule, ...]


@dataclass(frozen=True)
class WatchHit:
    watch: str
    terms: list[str]  # surface forms found in the text, in order, deduplicated
    snippet: str


def compile_watches(watches: list[WatchConfig]) -> list[CompiledWatch]:
    """Fold and parse every term once, at start."""
    return [CompiledWatch(w.name, tuple(
        CompiledRule(tuple(tuple(compile_term(t) for t in g) for g in r.all), tuple(compile_term(t) for t in r.none))
        for r in w.rules)) for w in watches]


class _Text:
    """One article's tokens, indexed for fast exact and prefix lookups."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.words = words(text)
        self.toks = [w[0] for w in self.words]
        self.positions: dict[str, list[int]] = {}
        for i, t in enumerate(self.toks):
            self.positions.setdefault(t, []).append(i)
        self.sorted = sorted(self.positions)

    def find(self, term: Term) -> tuple[int, int] | None:
        """The first (start, end) token span where the term matches, or None."""
        starts = self.find_all(term)
        if term.near is None:
            return (starts[0], starts[0] + len(term.parts)) if starts else None
        distance, other = term.near
        others = self.find_all(other)
        for i in starts:
            for j in others:
                if abs(i - j) <= distance:
                    return min(i, j), max(i + len(term.parts), j + len(other.parts))
        return None

    def find_all(self, term: Term) -> list[int]:
        mode, stem = term.parts[0]
        if mode == "exact":
            starts = self.positions.get(stem, [])
        elif mode == "prefix":
            lo = bisect.bisect_left(self.sorted, stem)
            starts = []
            for tok in self.sorted[lo:]:
                if not tok.startswith(stem):
                    break
                starts.extend(self.positions[tok])
        else:
            starts = [i for tok, ps in self.positions.items() if _word_matches(mode, stem, tok) for i in ps]
        return [i for i in sorted(starts) if len(term.parts) == 1 or term.match_at(self.toks, i)]

    def surface(self, start: int, end: int) -> str:
        if end - start > 3:  # a proximity hit: show its two ends, not the words between
            first, last = self.words[start], self.words[end - 1]
            return f"{self.text[first[1]:first[2]]} … {self.text[last[1]:last[2]]}"
        return self.text[self.words[start][1]:self.words[end - 1][2]]


def match_article(title: str, text: str, watches: list[CompiledWatch]) -> list[WatchHit]:
    """The watches this article matches, with the terms found and a snippet around the first."""
    if not watches:
        return []
    doc_text = f"{title}\n\n{text}" if title else text
    key = (id(watches), hashlib.blake2b(doc_text.encode("utf-8", "surrogatepass"), digest_size=16).digest())
    with _verdicts_lock:
        known = _verdicts.get(key)
        if known is not None and known[0] is watches:
            _verdicts.move_to_end(key)
    if known is None or known[0] is not watches:
        known = (watches, _match(doc_text, watches))
        with _verdicts_lock:
            _verdicts[key] = known
            if len(_verdicts) > RECENT_VERDICTS:
                _verdicts.popitem(last=False)
    return [WatchHit(h.watch, list(h.terms), h.snippet) for h in known[1]]  # callers may change theirs


# The same texts are matched again and again against the same watches: each time a story is rebuilt,
# every article in it is checked for a denial. Verdicts are kept by a digest of the text (16 bytes,
# not the text) and the watch list, which the entry holds so that its id cannot be reused meanwhile.
RECENT_VERDICTS = 4096
_verdicts: OrderedDict[tuple[int, bytes], tuple[list[CompiledWatch], list[WatchHit]]] = OrderedDict()
_verdicts_lock = threading.Lock()


def _match(doc_text: str, watches: list[CompiledWatch]) -> list[WatchHit]:
    doc = _Text(doc_text)
    hits = []
    for watch in watches:
        for rule in watch.rules:
            found = _match_rule(doc, rule)
            if found is not None:
                hits.append(_hit(doc, watch.name, found))
                break
    return hits


def _match_rule(doc: _Text, rule: CompiledRule) -> list[tuple[int, int]] | None:
    if any(doc.find(t) is not None for t in rule.none):
        return None
    found: list[tuple[int, int]] = []
    for group in rule.groups:
        group_hits = [span for t in group if (span := doc.find(t)) is not None]
        if not group_hits:
            return None
        found.extend(group_hits)
    return found


def _hit(doc: _Text, watch: str, found: list[tuple[int, int]]) -> WatchHit:
    found.sort()
    terms = list(dict.fromkeys(doc.surface(i, j) for i, j in found))
    first = found[0][0]  # the snippet starts a little before the first hit, where the claim begins
    start_char = doc.words[first][1]
    lo = max(0, start_char - SNIPPET_CHARS // 3)
    if lo > 0:  # start on a word boundary
        space = doc.text.find(" ", lo, start_char)
        lo = space + 1 if space != -1 else lo
    snippet = " ".join(doc.text[lo:lo + SNIPPET_CHARS].split())
    if lo > 0:
        snippet = "…" + snippet
    if lo + SNIPPET_CHARS < len(doc.text):
        snippet += "…"
    return WatchHit(watch, terms, snippet)
