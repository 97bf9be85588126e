"""Watches: multilingual keyword rules over normalised text, with lemmas, proximity and order.

Term syntax (folded when compiled, so authors may write any script or diacritics):
  word       the token, or a token whose lemma it is     withdraw (withdrew, withdrawing), trupë
  stem*      a token (or its lemma) starting with stem   tërheq* (tërheqje, tërheqja, tërheqjen)
  *stem      a token ending with stem                    *abzug (Truppenabzug, Abzug)
  *stem*     a token containing stem                     *truppen*
  a b*       consecutive tokens (a phrase)               "pull* out", "Stati Uniti"
  @name      any term of the watch's list `name`         @us (us, usa, washington, shba, sad…)
  a ~N b     a and b within N tokens, any order          "us ~3 troop*" (US troops, U.S. ground troops)
  a ~N> b    b after a, within N tokens                  "@us ~6> @cut" (the US wants to cut…)
  a ~N> b ~M> c   a chain, each after the one before     "@us ~6> @cut ~4> @forces"
  … !x       none of x between the ends, nor in the two tokens after the last one (where "troops
             of Serbia", "trupave serbe" name someone else's): "@us ~6> @cut !@others"
Proximity never crosses a sentence (. ! ? ; or a line break). A rule matches when every group in
`all` has a hit and no `none` term does; a watch matches when any of its rules does.

Lemmas come from stories.language in the article's language: a term written once in its
dictionary form matches its inflections where the dictionary knows them; a prefix covers what it
does not (README *Watch terms*).
"""

from __future__ import annotations

import bisect
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from spreadwatch.settings import WatchConfig
from stories.language import dictionary_language, lemmas
from stories.normalize import fold_term, words

SNIPPET_CHARS = 220
SURFACE_WORDS = 6  # a hit this long is shown whole ("tërheqjen e trupave amerikane"), a longer one by its ends
AFTER_LAST = 2  # tokens after a proximity's last word where a blocker still counts ("troops of Serbia")
Span = tuple[int, int]


@dataclass(frozen=True)
class Term:
    """One term: a word sequence (`parts`), a list (`options`) or a proximity (`near`)."""

    source: str  # as written in the config
    parts: tuple[tuple[str, str], ...] = ()  # (mode, text) per word: exact | prefix | suffix | infix
    options: tuple[Term, ...] = ()  # "@name": any of these
    near: tuple[Term, int, bool, Term] | None = field(default=None)  # (left, N, ordered, right)
    blockers: Term | None = None  # "!x": none of these between or just after a proximity's ends
    # a list's one-word options as one regex over an article's distinct tokens, one per line: one
    # scan in C instead of a lookup per option (the default watch's lists hold ~200 words)
    words_pattern: re.Pattern[str] | None = field(default=None, compare=False)


def _word_matches(mode: str, text: str, token: str) -> bool:
    if mode == "exact":
        return token == text
    if mode == "prefix":
        return token.startswith(text)
    if mode == "suffix":
        return token.endswith(text)
    return text in token


_NEAR = re.compile(r"\s+~(\d+)(>?)\s+")
_BLOCK = re.compile(r"\s+!(\S+)\s*$")


class _Lists:
    """A watch's named lists, each compiled once: every @name of the watch is the same Term, so an
    article's spans for it are computed once however many rules use it."""

    def __init__(self, lists: Mapping[str, list[str]]) -> None:
        self.raw = lists
        self.compiled: dict[str, Term] = {}


def compile_term(term: str, lists: Mapping[str, list[str]] | _Lists | None = None) -> Term:
    """Parse one term; `lists` are the watch's named lists for @name (ValueError on a mistake)."""
    named = lists if isinstance(lists, _Lists) else _Lists(lists or {})
    return _compile(term, term, named, ())


def _compile(text: str, source: str, lists: _Lists, seen: tuple[str, ...]) -> Term:
    blocked = _BLOCK.search(text)
    if blocked:
        inner = _compile(text[:blocked.start()], source, lists, seen)
        if inner.near is None:
            raise ValueError(f"watch term {source!r}: '!' only follows a proximity (a ~N b)")
        return _with_blockers(inner, _compile(blocked.group(1), source, lists, seen))
    pieces = _NEAR.split(text.strip(), maxsplit=1)
    if len(pieces) == 4:
        left, distance, ordered, right = pieces
        return Term(source, near=(_compile(left, source, lists, seen), int(distance), ordered == ">",
                                  _compile(right, source, lists, seen)))
    if text.strip().startswith("@"):
        name = text.strip()[1:]
        if name not in lists.compiled:
            lists.compiled[name] = _list_term(name, source, lists, seen)
        return lists.compiled[name]
    return Term(source, _parts(text, source))


def _with_blockers(term: Term, blockers: Term) -> Term:
    """The blockers apply to every link of a chain."""
    if term.near is None:
        return term
    left, distance, ordered, right = term.near
    return Term(term.source, near=(left, distance, ordered, _with_blockers(right, blockers)), blockers=blockers)


def _list_term(name: str, source: str, lists: _Lists, seen: tuple[str, ...]) -> Term:
    if name not in lists.raw:
        known = ", ".join(sorted(lists.raw)) or "none"
        raise ValueError(f"watch term {source!r}: no list named {name!r} in the watch's terms (known: {known})")
    if name in seen:
        raise ValueError(f"watch term {source!r}: list {name!r} refers to itself")
    options = tuple(_compile(t, t, lists, seen + (name,)) for t in lists.raw[name])
    if not options:
        raise ValueError(f"watch term {source!r}: list {name!r} is empty")
    single = [o.parts[0] for o in options if len(o.parts) == 1 and not o.options and o.near is None]
    rest = tuple(o for o in options if not (len(o.parts) == 1 and not o.options and o.near is None))
    return Term(source, options=rest, words_pattern=_words_pattern(single) if single else None)


_MODE_PATTERN = {"exact": "{}", "prefix": "{}[^\n]*", "suffix": "[^\n]*{}", "infix": "[^\n]*{}[^\n]*"}


def _words_pattern(parts: list[tuple[str, str]]) -> re.Pattern[str]:
    """One word per line of the vocabulary matches when it is one of these words."""
    alternatives = "|".join(_MODE_PATTERN[mode].format(re.escape(text)) for mode, text in parts)
    return re.compile(f"^(?:{alternatives})$", re.M)


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
    out = []
    for w in watches:
        lists = _Lists(dict(w.terms))
        try:
            rules = tuple(CompiledRule(tuple(tuple(compile_term(t, lists) for t in g) for g in r.all),
                                       tuple(compile_term(t, lists) for t in r.none)) for r in w.rules)
        except ValueError as e:
            raise ValueError(f"watch {w.name!r}: {e}") from None
        out.append(CompiledWatch(w.name, rules))
    return out


_SENTENCE_END = re.compile(r"[.!?;…](?=\s|$)|\n")


class _Text:
    """One article's tokens and lemmas, indexed for fast exact and prefix lookups."""

    def __init__(self, text: str, language: str = "") -> None:
        self.text = text
        self.words = words(text)
        self.toks = [w[0] for w in self.words]
        self.positions = _index(self.toks)
        self.sorted = sorted(self.positions)
        self.lemmas = self.toks
        self.lemma_positions: dict[str, list[int]] = {}
        if dictionary_language(language) is not None:
            self.lemmas = lemmas([text[s:e] for _, s, e in self.words], language)
            self.lemma_positions = _index([lem if lem != tok else "" for lem, tok in zip(self.lemmas, self.toks)])
            self.lemma_positions.pop("", None)
        self.lemma_sorted = sorted(self.lemma_positions)
        self._sentences: list[int] | None = None
        self._spans: dict[int, list[Span]] = {}
        self._vocabulary: tuple[str, str] | None = None

    def spans(self, term: Term) -> list[Span]:
        """Every (start, end) token span where the term matches, by start; computed once per term."""
        key = id(term)
        found = self._spans.get(key)
        if found is None:
            if term.near is not None:
                found = self._near_spans(term)
            elif term.options or term.words_pattern is not None:
                found = sorted({s for option in term.options for s in self.spans(option)}
                               | self._word_spans(term.words_pattern))
            else:
                found = [(i, i + len(term.parts)) for i in self._starts(term)]
            self._spans[key] = found
        return found

    def _word_spans(self, pattern: re.Pattern[str] | None) -> set[Span]:
        """One-token spans of every token or lemma the list's word pattern matches."""
        if pattern is None:
            return set()
        if self._vocabulary is None:
            self._vocabulary = ("\n".join(self.positions), "\n".join(self.lemma_positions))
        out = set()
        for vocabulary, positions in zip(self._vocabulary, (self.positions, self.lemma_positions)):
            for tok in pattern.findall(vocabulary):
                out.update((i, i + 1) for i in positions[tok])
        return out

    def find(self, term: Term) -> Span | None:
        """The first span where the term matches, or None."""
        found = self.spans(term)
        return found[0] if found else None

    def _starts(self, term: Term) -> list[int]:
        mode, stem = term.parts[0]
        if mode in ("exact", "prefix"):
            starts = _lookup(self.positions, self.sorted, mode, stem) + _lookup(
                self.lemma_positions, self.lemma_sorted, mode, stem)
        else:
            starts = [i for tok, ps in self.positions.items() if _word_matches(mode, stem, tok) for i in ps]
        if len(term.parts) == 1:
            return sorted(set(starts))
        return sorted({i for i in starts if self._sequence_at(term.parts, i)})

    def _sequence_at(self, parts: tuple[tuple[str, str], ...], i: int) -> bool:
        if i + len(parts) > len(self.toks):
            return False
        return all(_word_matches(mode, text, self.toks[i + k]) or _word_matches(mode, text, self.lemmas[i + k])
                   for k, (mode, text) in enumerate(parts))

    def _near_spans(self, term: Term) -> list[Span]:
        assert term.near is not None
        left, distance, ordered, right = term.near
        rights = self.spans(right)
        if not rights:
            return []
        blocked = self.spans(term.blockers) if term.blockers is not None else []
        out = set()
        for a in self.spans(left):
            for b in rights:
                if ordered and b[0] < a[1]:
                    continue
                # two sides may overlap ("pulling US forces out" holds "US forces") but not start at
                # the same word: one word is not both sides ("Truppenabzug" as troops and withdrawal)
                if abs(b[0] - a[0]) > distance or a[0] == b[0]:
                    continue
                span = (min(a[0], b[0]), max(a[1], b[1]))
                if self._one_sentence(span) and not self._blocked_by(blocked, span, a, b):
                    out.add(span)
        return sorted(out)

    def _blocked_by(self, blockers: list[Span], span: Span, a: Span, b: Span) -> bool:
        """A blocker inside the span (but not in one of its two ends), or just after it in the same
        sentence, names another actor."""
        for s in blockers:
            if s[0] >= span[1] + AFTER_LAST:
                break
            if s[1] <= span[0]:
                continue
            if s[0] >= span[1]:
                if self._one_sentence((span[0], s[1])):
                    return True
                continue
            if not ((a[0] <= s[0] and s[1] <= a[1]) or (b[0] <= s[0] and s[1] <= b[1])):
                return True
        return False

    def _one_sentence(self, span: Span) -> bool:
        if self._sentences is None:
            starts = [start for _, start, _ in self.words]
            ends = [pos for m in _SENTENCE_END.finditer(self.text) if not self._inside_word(starts, pos := m.start())]
            self._sentences = [bisect.bisect_right(ends, start) for start in starts] if ends else []
        return not self._sentences or self._sentences[span[0]] == self._sentences[span[1] - 1]

    def _inside_word(self, starts: list[int], pos: int) -> bool:
        """The dot of "U.S." or "S.H.B.A." is part of a word, not a sentence's end."""
        k = bisect.bisect_right(starts, pos) - 1
        return k >= 0 and self.words[k][2] > pos

    def surface(self, start: int, end: int) -> str:
        if end - start > SURFACE_WORDS:  # a long proximity hit: show its two ends, not the words between
            first, last = self.words[start], self.words[end - 1]
            return f"{self.text[first[1]:first[2]]} … {self.text[last[1]:last[2]]}"
        return self.text[self.words[start][1]:self.words[end - 1][2]]


def _index(toks: list[str]) -> dict[str, list[int]]:
    positions: dict[str, list[int]] = {}
    for i, t in enumerate(toks):
        positions.setdefault(t, []).append(i)
    return positions


def _lookup(positions: dict[str, list[int]], ordered: list[str], mode: str, stem: str) -> list[int]:
    if mode == "exact":
        return positions.get(stem, [])
    out: list[int] = []
    for tok in ordered[bisect.bisect_left(ordered, stem):]:
        if not tok.startswith(stem):
            break
        out.extend(positions[tok])
    return out




def match_article(title: str, text: str, watches: list[CompiledWatch], language: str = "") -> list[WatchHit]:
    """The watches this article matches, with the terms found and a snippet around the first.
    `language` (the article's) chooses the dictionary of lemmas; without one only the words as
    written match."""
    if not watches:
        return []
    doc_text = f"{title}\n\n{text}" if title else text
    digest = hashlib.blake2b(doc_text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    key = (id(watches), language, digest)
    with _verdicts_lock:
        known = _verdicts.get(key)
        if known is not None and known[0] is watches:
            _verdicts.move_to_end(key)
    if known is None or known[0] is not watches:
        known = (watches, _match(doc_text, watches, language))
        with _verdicts_lock:
            _verdicts[key] = known
            if len(_verdicts) > RECENT_VERDICTS:
                _verdicts.popitem(last=False)
    return [WatchHit(h.watch, list(h.terms), h.snippet) for h in known[1]]  # callers may change theirs


# The same texts are matched again and again against the same watches: each time a story is rebuilt,
# every article in it is checked for a denial. Verdicts are kept by a digest of the text (16 bytes,
# not the text), its language and the watch list, which the entry holds so that its id cannot be
# reused meanwhile.
RECENT_VERDICTS = 4096
_verdicts: OrderedDict[tuple[int, str, bytes], tuple[list[CompiledWatch], list[WatchHit]]] = OrderedDict()
_verdicts_lock = threading.Lock()


def _match(doc_text: str, watches: list[CompiledWatch], language: str) -> list[WatchHit]:
    doc = _Text(doc_text, language)
    hits = []
    for watch in watches:
        for rule in watch.rules:
            found = _match_rule(doc, rule)
            if found is not None:
                hits.append(_hit(doc, watch.name, found))
                break
    return hits


def _match_rule(doc: _Text, rule: CompiledRule) -> list[Span] | None:
    if any(doc.find(t) is not None for t in rule.none):
        return None
    found: list[Span] = []
    for group in rule.groups:
        group_hits = [span for t in group if (span := doc.find(t)) is not None]
        if not group_hits:
            return None
        found.extend(group_hits)
    return found


def _hit(doc: _Text, watch: str, found: list[Span]) -> WatchHit:
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
