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

DENIAL = compile_watches([WatchConfig(name="denial", rules=[WatchRule(all=[[
    "disinformation", "misinformation", "fake news", "false claim*", "debunk*", "fact-check*", "fact check*",
    "unfounded", "verdict ~2 false", "denied", "denies", "dismissed ~4 report*",
    "desinformation", "falschmeldung*", "dementiert*", "dementi",
    "dezinformim*", "dezinformat*", "lajm* ~2 rreme", "e ka mohuar", "mohoi", "mohon", "demant*", "pavërtet*",
    "dezinformacij*", "lažn* ~2 vest*", "lažn* ~2 informacij*", "demantova*", "demanti*", "negira*",
    "disinformazion*", "notizi* ~2 fals*", "smentit*", "smentisc*", "bufal*",
]])])])


@dataclass(frozen=True)
class Credit:
    outlet: str  # outlet key credited as the source
    phrase: str  # the words that credit it, as found


def credited_outlets(folded_tokens: list[str], aliases: dict[str, list[tuple[str, ...]]],
                     own_outlet: str) -> list[Credit]:
    """Outlets the text credits as its source, in order of first mention (its own name excluded)."""
    found: dict[str, tuple[int, Credit]] = {}
    for outlet, names in aliases.items():
        if outlet == own_outlet:
            continue
        for name in names:
            pos = _credited_at(folded_tokens, name)
            if pos is not None and (outlet not in found or pos < found[outlet][0]):
                lo, hi = max(0, pos - CUE_WINDOW), pos + len(name) + CUE_WINDOW
                found[outlet] = (pos, Credit(outlet, " ".join(folded_tokens[lo:hi])))
    return [c for _, c in sorted(found.values(), key=lambda x: x[0])]


def _credited_at(toks: list[str], name: tuple[str, ...]) -> int | None:
    n = len(name)
    for i in range(len(toks) - n + 1):
        if tuple(toks[i:i + n]) == name:
            window = toks[max(0, i - CUE_WINDOW):i] + toks[i + n:i + n + CUE_WINDOW]
            if ATTRIBUTION_CUES.intersection(window):
                return i
    return None


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
