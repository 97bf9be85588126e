"""Explicit evidence of who copied whom: the outlets a text credits ("sipas Bild", "Bild thekson",
"prema pisanju lista Politico", "wie die Bild-Zeitung berichtet"), and whether it denies a claim.

Credits are a small grammar over folded tokens rather than a window of cue words, so that word
order and case endings count and a name merely mentioned ("Bild is Germany's best-selling paper",
"according to the minister, Telegrafi…") is not a credit. An outlet's name or alias, with a case
ending where the languages put one ("Bildit", "Bilda", "Kohu", "Bild-it"), is credited when
  - a cue comes before it with only fillers between: a preposition of source (sipas, prema, laut,
    according to, secondo), a reporting verb (shkruan, piše, berichtet, reported, scrive), a
    speech verb or interview with a preposition (told, tha për, rekao je za, sagte der, ha detto a),
    a word for a report (shkrimi, pisanju, Bericht, report, articolo) or a media noun in any case
    form (gazeta/gazetës/gazetën, e përditshmja/së përditshmes, list/lista, Zeitung, quotidiano);
    fillers are articles and particles (e, i, së, të, der, il, of), nationality and other
    adjectives (gjermane, nemački, deutschen, tedesco), further media nouns;
  - a reporting verb, a postposition or a report noun comes right after it, past at most two
    case-ending, media or auxiliary tokens ("Bild thekson", "Bild-i shkruan", "Bild-Zeitung
    berichtet", "Politico zufolge", "the Bild report", "Politico's article");
  - Serbian "za N1 izjavio": za, the name, a speech verb.
"""

from __future__ import annotations

from dataclasses import dataclass

from spreadwatch.settings import WatchConfig, WatchRule
from stories.match import compile_watches, match_article
from stories.normalize import tokens

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
    phrase: str  # the words that credit it, as found (folded): from the cue through the name
    # "after Politico reported", "pasi Politico raportoi": a reference to an earlier report, which a
    # translation carries over from its original, rather than a statement of where this text is from
    reference: bool = False


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Cues and fillers, folded (en, de, sq, sr Latin and Cyrillic alike once folded, it). Inflected
# forms are listed: the tokens here are folded, so dictionaries of lemmas cannot be used.
SOURCE_PREPOSITIONS = _words("""
according citing cited quoting quoted via
laut gemass zufolge berufung zitiert zitierte
sipas cituar referuar
prema pozivajuci
secondo citando cita stando
""")
REPORTING_VERBS = _words("""
reported reports reporting wrote writes writing said says notes noted revealed reveals learned claims
claimed published
berichtet berichtete berichten berichteten meldet meldete melden schreibt schrieb schreiben titelt
titelte erfuhr enthullt enthullte
shkruan shkroi shkruajti shkruajne raporton raportoi raportojne njofton njoftoi thekson theksoi
citon citoi transmeton transmetoi pretendon pretendoi zbulon zbuloi publikoi publikon publikuar
ditur sjell meson mesoi thote percjell
pise pisao pisala pisali pisu prenosi prenose preneo prenela prenio navodi navode naveo navela
navodeci javlja javljaju javio javila tvrdi tvrdio tvrde izvestava izvestio izvjestava objavio
objavila objavili objavljuje saznaje saznao saznala istice otkriva otkrio
riferisce riferito riferiscono scrive scritto scrivono riporta riportato riportano rivela rivelato
racconta sapere noto
""")
POSTPOSITIONS = _words("zufolge")
# a report named by its outlet in front: "the Bild report", "Politico's article", "der Bild-Bericht"
REPORTS_AFTER_NAME = _words("report reports article story piece investigation bericht berichte artikel meldung recherche")
SPEECH_VERBS = _words("""
told telling interview speaking
sagte sagt erklarte interview gegenuber
tha thene deklaroi intervista interviste intervisten intervistes
izjavio izjavila izjavili rekao rekla rekli kazao kazala intervju intervjuu intervjua
detto dichiarato intervista spiegato
""")
REPORT_NOUNS = _words("""
report reports article story piece reporting investigation
bericht berichts artikel meldung informationen angaben recherche recherchen enthullungen
shkrim shkrimi shkrimin shkrimit raport raporti raportin raportit raportimi raportimin raportimit
artikulli artikullin artikullit lajmi lajmin publikimi publikimin publikimit
pisanju pisanje pisanja tekst teksta tekstu izvestaj izvestaja izvestaju izvjestaj clanak clanka
clanku navodima informacijama saznanjima
articolo articoli servizio rivelazione rivelazioni inchiesta notizia indiscrezioni
""")
MEDIA_NOUNS = _words("""
newspaper newspapers tabloid daily outlet agency portal broadcaster magazine website site station
channel network television tv radio weekly paper media
zeitung zeitungen blatt blattes boulevardblatt boulevardzeitung tageszeitung wochenzeitung magazin
magazins nachrichtenagentur agentur sender senders nachrichtenportal fernsehsender medium medien
gazeta gazetes gazeten gazetat gazetave gazete media medias mediat mediave mediumi mediumit mediumin
perditshmja perditshmes perditshmen perditshme portali portalit portalin agjencia agjencise
agjencine agjenci televizioni televizionit televizionin radios revista revistes tabloidi tabloidit
transmetuesi transmetuesit
list lista listu listom dnevnik dnevnika dnevniku novine novina novinama portala portalu agencija
agencije agenciji agenciju agencijom televizija televizije televiziji televizijom medij medija
mediji mediju tabloida sajt sajta sajtu magazina nedeljnik nedeljnika
quotidiano quotidiani giornale giornali testata agenzia agenzie portale sito emittente televisione
settimanale rete
""")
FILLERS = _words("""
the a an of by to with its first also on
der die das des dem den von vom mit im einem einer eines unter auf ebenfalls
e i te se per nga duke iu ne nje edhe fillimisht ka
za od je su na strane takodje
il lo la l gli le del dello della dei degli delle da dal dalla di al alla all ad un una quanto anche
""")
# adjectives between a media noun and the name: nationality, place, kind ("the German daily Bild")
ADJECTIVE_STEMS = tuple("""
german gjerman deutsch nemack nemac tedesc american amerikan americk statunitens britan british serb
srpsk shqiptar albanian albansk kosovar kosovsk pristin prishtin beograd ital bullgar bugarsk bulgar
europ evrop regional rajonal lokal local public publik javn state shteteror drzavn known njohur
popular prestigious prestigjioz ugledn influential renowned online news boulevard independent pavarur
nezavisn tirans belgrad
""".split())
# case endings an outlet's name takes (sq -it/-in/-s/-ës, sr -a/-u/-om, de -s); a vowel-final name
# drops its vowel before some of them (Koha -> Kohës, Kohu)
ENDINGS = ("a", "u", "e", "i", "om", "it", "in", "s", "es", "se", "ut", "un", "ja", "ov", "ove", "n", "t", "en")
VOWEL_ENDINGS = ("u", "e", "om", "es", "en", "s", "n", "ja")
# Serbian puts a name after these nouns in the genitive, and a name ending in -o changes it
# ("prema pisanju Politica"); elsewhere "-a" for "-o" is another word ("secondo la politica")
GENITIVE_CUES = _words("pisanju pisanje pisanja lista listu teksta tekstu izvestaju izvestaja navodima saznanjima")
# conjunctions of time before a credit make it a reference: "after Politico reported"
TEMPORAL = _words("after following pasi nachdem nakon posle poslije posto dopo")
MAX_FILLERS = 5  # fillers between a cue and the name
MAX_AFTER = 2  # tokens between the name and a reporting verb after it


def _filler(tok: str) -> bool:
    return tok in FILLERS or tok in MEDIA_NOUNS or tok in REPORT_NOUNS or tok.startswith(ADJECTIVE_STEMS) \
        or tok in ENDINGS


def _cue_before(toks: list[str], start: int) -> int | None:
    """Where the words crediting a name at `start` begin (the farthest cue of an unbroken run of
    cues and fillers: "shkruan e përditshmja gjermane Bild" from "shkruan"), or None."""
    cue = None
    for k in range(start - 1, max(-1, start - 1 - MAX_FILLERS - 1), -1):
        tok = toks[k]
        if tok in SOURCE_PREPOSITIONS or tok in REPORTING_VERBS or tok in SPEECH_VERBS \
                or tok in REPORT_NOUNS or tok in MEDIA_NOUNS:
            cue = k
        elif not _filler(tok):
            break
    return cue


def _cue_after(toks: list[str], start: int, end: int) -> int | None:
    """Where a reporting verb after the name ends (exclusive), or None."""
    for k in range(end, min(len(toks), end + MAX_AFTER + 1)):
        tok = toks[k]
        if tok in REPORTING_VERBS or tok in POSTPOSITIONS or tok in REPORTS_AFTER_NAME:
            return k + 1
        if start > 0 and toks[start - 1] == "za" and tok in SPEECH_VERBS:  # "za N1 izjavio"
            return k + 1
        if not (tok in ENDINGS or tok in MEDIA_NOUNS or tok in {"has", "had", "ka", "kishte", "je", "su", "hat",
                                                                "hatte", "ha", "aveva", "first", "also"}):
            return None
    return None


def credited_outlets(folded_tokens: list[str], aliases: dict[str, list[tuple[str, ...]]],
                     own_outlet: str) -> list[Credit]:
    """Outlets the text credits as its source, in order of first mention (its own name excluded)."""
    table = _names(aliases)
    found: dict[str, Credit] = {}
    toks = folded_tokens
    for i, tok in enumerate(toks):
        if tok[:3] not in table.prefixes:
            continue
        named = table.longest_at(toks, i)
        genitive = named is None and i > 0 and toks[i - 1] in GENITIVE_CUES and tok.endswith("a")
        if genitive:
            named = table.longest_at(toks[:i] + [tok[:-1] + "o"] + toks[i + 1:], i)
        if named is None:
            continue
        outlet, end = named
        if outlet == own_outlet or outlet in found:
            continue
        cue = _cue_before(toks, i)
        if cue is not None:
            found[outlet] = Credit(outlet, " ".join(toks[cue:end]), _temporal_before(toks, cue))
            continue
        after = _cue_after(toks, i, end)
        if after is not None:
            found[outlet] = Credit(outlet, " ".join(toks[i:after]), _temporal_before(toks, i))
    return list(found.values())


def _temporal_before(toks: list[str], start: int) -> bool:
    """A conjunction of time within the three words before ("nakon što je Politico objavio")."""
    return any(tok in TEMPORAL for tok in toks[max(0, start - 3):start])


class _NameTable:
    """The outlets' names, looked up by a token's first three letters, then by its first word
    with or without a case ending."""

    def __init__(self, aliases: dict[str, list[tuple[str, ...]]]) -> None:
        self.by_first: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for outlet, names in aliases.items():
            for name in names:
                self.by_first.setdefault(name[0], []).append((outlet, name))
        for entries in self.by_first.values():
            entries.sort(key=lambda e: -len(e[1]))  # the longest name first: "Politico Europe" over "Politico"
        self.prefixes = frozenset(first[:3] for first in self.by_first)

    def longest_at(self, toks: list[str], i: int) -> tuple[str, int] | None:
        """(outlet, end) of the longest name at token i, its last word allowed a case ending."""
        for first in _bare_forms(toks[i]):
            for outlet, name in self.by_first.get(first, ()):
                if len(name) == 1:
                    return outlet, _past_ending(toks, i + 1)
                if i + len(name) <= len(toks) and tuple(toks[i + 1:i + len(name) - 1]) == name[1:-1] \
                        and name[-1] in _bare_forms(toks[i + len(name) - 1]):
                    return outlet, _past_ending(toks, i + len(name))
        return None


def _bare_forms(tok: str) -> list[str]:
    """The token and what it is without a case ending ('bildit' -> 'bild', 'kohes' -> 'koh' + 'a')."""
    forms = [tok]
    for e in ENDINGS:
        if len(tok) > len(e) + 2 and tok.endswith(e):
            forms.append(tok[:-len(e)])
    for e in VOWEL_ENDINGS:
        if len(tok) > len(e) + 2 and tok.endswith(e):
            forms.append(tok[:-len(e)] + "a")
    return forms


def _past_ending(toks: list[str], end: int) -> int:
    """A hyphenated case ending ("Bild-it" -> bild, it) belongs to the name."""
    return end + 1 if end < len(toks) and toks[end] in ("i", "it", "in", "s", "se", "ja", "a", "u", "om", "e", "ut") else end


_TABLES: dict[int, tuple[object, _NameTable]] = {}


def _names(aliases: dict[str, list[tuple[str, ...]]]) -> _NameTable:
    """The name table, kept per alias table (it rarely changes)."""
    hit = _TABLES.get(id(aliases))
    if hit is None or hit[0] is not aliases:
        hit = _TABLES[id(aliases)] = (aliases, _NameTable(aliases))
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
