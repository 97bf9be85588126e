"""Explicit evidence of who copied whom: "sipas Bild", "according to Politico", "prenosi Bild", links;
and whether an article denies or debunks a claim."""

from __future__ import annotations

from dataclasses import dataclass

from spreadwatch.settings import WatchConfig, WatchRule
from stories.match import compile_watches, match_article
from stories.normalize import tokens

# verbs and prepositions that introduce a source, folded (en, de, sq, sr Latin+Cyrillic, it)
ATTRIBUTION_CUES = frozenset(tokens("""
according reported reports reporting report wrote writes writing told cited citing quoting quoted notes said
newspaper tabloid daily outlet agency portal
laut berichtet berichtete berichten bericht schreibt schrieb zufolge meldet meldete zitiert zeitung blatt
sipas shkruan shkroi raporton raportoi raportimin raportimi njofton njoftoi citon transmeton tha thote
gazeta gazetes gazeten mediumi
prenosi preneo javlja javio pise pisao prema navodi navela navodio tvrdi izvestava list dnevnik
преноси јавља пише према наводи
secondo riferisce riferito scrive scritto riporta riportato citato quotidiano giornale
"""))
CUE_WINDOW = 4  # an outlet named this close to a cue is a source being credited

# Words that only ever deny or debunk a claim count on their own. Plain "denied" or "mohoi" is
# everyday news language ("the mayor denied wrongdoing"), so it counts only near a word for the
# claim itself: a report, the news, allegations, speculation.
DENIAL_STRONG = [
    "disinformation", "misinformation", "fake news", "false claim*", "debunk*", "fact-check*", "fact check*",
    "unfounded", "verdict ~2 false", "desinformation", "falschmeldung*", "dementiert*", "dementi",
    "dezinformim*", "dezinformat*", "lajm* ~2 rreme", "demant*", "pavërtet*",
    "dezinformacij*", "lažn* ~2 vest*", "lažn* ~2 informacij*", "demantova*", "demanti*",
    "disinformazion*", "notizi* ~2 fals*", "smentit*", "smentisc*", "bufal*",
]
DENIAL_VERBS = ["denied", "denies", "deny", "dismissed", "rejected", "bestritt*", "bestreit*", "zurückgewiesen",
                "mohoi", "mohon", "mohuar", "hodhi poshtë", "negira*", "opovrg*"]
CLAIM_WORDS = ["report*", "claim*", "allegation*", "rumo*", "speculation*", "news", "story", "article*",
               "bericht*", "meldung*", "behauptung*", "spekulation*", "gerücht*",
               "lajm*", "raport*", "pretendim*", "spekulim*", "thashethem*", "shkrim*",
               "navod*", "izveštaj*", "izvestaj*", "vest*", "tvrdnj*", "pisanj*", "spekulacij*", "glasin*",
               "notizi*", "indiscrezion*", "voci", "articol*", "rapport*"]
DENIAL = compile_watches([WatchConfig(name="denial", rules=[WatchRule(all=[
    DENIAL_STRONG + [f"{verb} ~6 {claim}" for verb in DENIAL_VERBS for claim in CLAIM_WORDS]])])])


@dataclass(frozen=True)
class Credit:
    outlet: str  # outlet key credited as the source
    phrase: str  # the words that credit it, as found


def credited_outlets(folded_tokens: list[str], aliases: dict[str, list[tuple[str, ...]]],
                     own_outlet: str) -> list[Credit]:
    """Outlets the text credits as its source, in order of first mention (its own name excluded)."""
    starts = _by_first_token(aliases)
    found: dict[str, Credit] = {}
    for i, token in enumerate(folded_tokens):  # one pass; a name is looked up by its first word
        for outlet, name in starts.get(token, ()):
            if outlet == own_outlet or outlet in found or tuple(folded_tokens[i:i + len(name)]) != name:
                continue
            lo, hi = max(0, i - CUE_WINDOW), i + len(name) + CUE_WINDOW
            if ATTRIBUTION_CUES.intersection(folded_tokens[lo:i] + folded_tokens[i + len(name):hi]):
                found[outlet] = Credit(outlet, " ".join(folded_tokens[lo:hi]))
    return list(found.values())


_STARTS: dict[int, tuple[object, dict[str, list[tuple[str, tuple[str, ...]]]]]] = {}


def _by_first_token(aliases: dict[str, list[tuple[str, ...]]]) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """(outlet, name) pairs keyed by the name's first word, kept per alias table (it rarely changes)."""
    hit = _STARTS.get(id(aliases))
    if hit is None or hit[0] is not aliases:
        table: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for outlet, names in aliases.items():
            for name in names:
                table.setdefault(name[0], []).append((outlet, name))
        hit = _STARTS[id(aliases)] = (aliases, table)
    return hit[1]


def alias_tokens(names: list[str]) -> list[tuple[str, ...]]:
    """Folded token tuples for an outlet's names: 'RFE/RL' -> ('rfe', 'rl'), 'Билд' -> ('bild',)."""
    out = []
    for name in names:
        toks = tuple(tokens(name))
        if toks and toks not in out:
            out.append(toks)
    return out


def is_denial(title: str, text: str) -> list[str]:
    """The denial/debunk terms in the text (empty if it is not a denial)."""
    hits = match_article(title, text, DENIAL)
    return hits[0].terms if hits else []
