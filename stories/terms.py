"""The words of an article as the story engine weighs them: lemmas with their rarity (what an article
says, compared within a language), and the names and numbers that survive translation (compared
across languages).

Rarity comes from a real background, not from the archive: wordfreq's word frequencies for en, de,
it and Serbo-Croatian (so the same article gets the same weights whatever else is stored, and the
stories do not depend on the arrival order), read through stories.frequency's compact table (the
same values in 13 MB instead of wordfreq's 170 MB of dicts). simplemma's dictionaries are read with
its own low-memory backend (40 MB instead of 260 MB for the five languages, the same lemmas).
wordfreq has no Albanian; there a word simplemma knows is ordinary, one it does not know (a name, a rare word) is rare, and the function words
below weigh almost nothing.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter

import simplemma

from stories import frequency
from stories.language import dictionary_language, lemmas
from stories.language import to_serbian_latin as to_latin
from stories.normalize import fold

WORDFREQ = {"en": "en", "de": "de", "it": "it", "sr": "sh", "hr": "sh", "bs": "sh"}
NAME_LANGUAGES = ("en", "de", "it", "sh")  # where a name's commonness is looked up, whatever the text's language
TOP_TERMS = 60  # an article's terms beyond these carry little weight and cost space in every story
MAX_RARITY = 8.0  # zipf 0: a word wordfreq has never seen

# Albanian function words (wordfreq has no Albanian): articles, prepositions, pronouns, auxiliaries
ALBANIAN_FUNCTION_WORDS = frozenset(fold(w) for w in """
të te në ne një nje e i dhe që qe për per me se nga ka është eshte janë jane do u së tij saj ai ajo ata ato
por edhe si më me nuk mund kjo ky këtë kete këtij kësaj cili cila ku kur pas para deri mbi nën pa sipas
gjatë rreth tek prej drejt midis ndërmjet jo po ishte kishte kanë kane kemi jemi jam duke tha thotë shumë
pak tjetër tjera gjithë çdo vetëm ende tashmë atë atij asaj tyre ju unë ti na ua ia o apo as ose sepse
nëse nese ndërsa megjithatë gjithashtu ndaj kundër kundrejt përmes nëpër tani sot dje mirë kishin ishin
jenë qenë kjo këto këta cilat cilët atyre këtyre saj tonë juaj
""".split())
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


def base_language(language: str) -> str:
    return (language or "").split("-")[0].lower()[:2]


@functools.lru_cache(maxsize=400_000)
def rarity(folded_lemma: str, language: str) -> float:
    """How informative a word is, 0 (the) to MAX_RARITY (never seen): MAX_RARITY minus its zipf frequency."""
    code = WORDFREQ.get(language)
    if code is not None:
        return max(0.0, MAX_RARITY - frequency.zipf_frequency(folded_lemma, code))
    if language == "sq":
        if folded_lemma in ALBANIAN_FUNCTION_WORDS:
            return 0.5
        return 4.0 if simplemma.is_known(folded_lemma, lang="sq", low_memory=True) else 6.0
    return max(0.0, MAX_RARITY - frequency.zipf_frequency(folded_lemma, "en"))


def term_vector(title: str, text: str, language: str) -> dict[str, float]:
    """Unit-length weighted lemmas of the article (title counted twice: it says what the story is),
    the TOP_TERMS heaviest kept: sublinear term frequency times rarity."""
    language = base_language(language)
    body = f"{title}\n{title}\n{text}"
    if language in ("sr", "hr", "bs"):
        body = to_latin(body)
    counts = Counter(t for t in lemmas([m.group() for m in _WORD.finditer(body) if len(m.group()) > 1], language) if t)
    weights = {t: (1 + math.log(n)) * rarity(t, language) for t, n in counts.items()}
    return unit(dict(sorted(weights.items(), key=lambda kv: -kv[1])[:TOP_TERMS]))


def unit(vector: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {k: v / norm for k, v in vector.items() if v > 0} if norm else {}


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    """Dot product of two sparse vectors (unit vectors: their cosine)."""
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(k, 0.0) for k, v in a.items())


# ---------------------------------------------------------------- names

_CAPITALISED = re.compile(r"(?<![\w'’])([A-ZÀ-ÖØ-ÞĀ-ſА-ЯЂЉЊЋЏЈ][\w'’-]*)")  # Ā-ſ holds lower case too: checked
_SENTENCE_START = re.compile(r"(?:^|[.!?:;…\"“”„«»(–—-]\s*|\n\s*)$")
# case endings a name takes in these languages (Trumpit, Kosovës; Vučića, Pensilvaniji; Trumps)
NAME_ENDINGS = {
    "sq": ("it", "in", "es", "se", "ve", "i", "n", "a", "e", "s", "u"),
    "sr": ("ovima", "ovih", "ovom", "om", "em", "oj", "ov", "ova", "ove", "ima", "ama", "u", "a", "e", "i", "o"),
    "de": ("es", "s", "n"),
}
_NOT_NAMES = frozenset("""i monday tuesday wednesday thursday friday saturday sunday january february march april
may june july august september october november december mr mrs ms dr""".split())
_TITLE_WORD = re.compile(r"[^\W\d_]{4,}")


def names(title: str, text: str, language: str) -> Counter[str]:
    """Whole names in the article, folded and with case endings cut (David and Davis stay two names;
    Vučić, Vuçiq, Вучић, Vucic are one), with how often each is mentioned.

    A name is a capitalised word inside a sentence, or one at a sentence start that the language's
    dictionary does not know; in German, where every noun is capitalised, a word the dictionary
    knows (or a compound ending in one) is a noun, not a name. Acronyms count. A headline in
    Title Case says nothing by its capitals and is skipped."""
    language = base_language(language)
    out: Counter[str] = Counter()
    for part in ([] if _title_case(title) else [title]) + [text]:
        if language in ("sr", "hr", "bs"):
            part = to_latin(part)
        for m in _CAPITALISED.finditer(part):
            word = m.group(1).strip("-'’")
            if len(word) >= 2 and word[0].isupper() and _is_name(word, part, m.start(), language):
                out.update(name_keys(word, language))
    return out


@functools.lru_cache(maxsize=100_000)
def name_keys(word: str, language: str) -> tuple[str, ...]:
    """The forms a name is matched by: folded without a possessive, without a case ending (Vučića ->
    vucic; kept too, since Mualem is not Mual-em), and the dictionary form of a name that is also a
    word (Democrats -> democrat, Syrians -> syrian)."""
    key = _plain(fold(word))
    if len(key) < 3 or key.isdigit():
        return ()
    keys = [key]
    for ending in NAME_ENDINGS.get("sr" if language in ("hr", "bs") else language, ()):
        if key.endswith(ending) and len(key) - len(ending) >= 4:
            keys.append(key[: -len(ending)])
            break
    if _known(word, language):
        base = _plain(lemmas([word], language)[0])
        if len(base) >= 3 and base not in keys:
            keys.append(base)
    return tuple(keys)


def _plain(folded: str) -> str:
    return re.sub(r"[^a-z0-9]", "", re.sub(r"['’]s$", "", folded))


def _title_case(title: str) -> bool:
    words = _TITLE_WORD.findall(title)
    return len(words) >= 3 and sum(w[0].isupper() for w in words) > 0.6 * len(words)


def _is_name(word: str, text: str, start: int, language: str) -> bool:
    if word.isupper():
        return True  # an acronym: NATO, KFOR, DCCC
    at_start = _SENTENCE_START.search(text[max(0, start - 4):start]) is not None
    if language == "de":
        if _known(word, "de"):
            return _international(word)  # Hamburg, Berlin, Washington are in the dictionary too
        return not (_german_compound(word) or (at_start and frequency.zipf_frequency(word.lower(), "de") > 2.5))
    if at_start:
        return not _known(word, language) and frequency.zipf_frequency(
            word.lower(), WORDFREQ.get(language, "en")) < 3.0
    return word.lower() not in _NOT_NAMES


@functools.lru_cache(maxsize=100_000)
def _known(word: str, language: str) -> bool:
    code = dictionary_language(language)
    try:
        return bool(code) and simplemma.is_known(word.lower(), lang=code, low_memory=True)
    except ValueError:
        return False


@functools.lru_cache(maxsize=100_000)
def _international(word: str) -> bool:
    """A German dictionary word that is a name: as frequent in two other languages as a name is
    (Hamburg, Berlin, Paris, NATO), without being an everyday English word (Hand, Land, Kind)."""
    w = word.lower()
    others = [frequency.zipf_frequency(w, code) for code in ("en", "it", "sh")]
    return sum(z >= 3.0 for z in others) >= 2 and others[0] < 5.0


@functools.lru_cache(maxsize=100_000)
def _german_compound(word: str) -> bool:
    """Truppenabzug, Wahlkampffinanzierung: a long word whose tail is a common German word."""
    w = word.lower()
    return len(w) >= 9 and any(_known(w[k:], "de") or frequency.zipf_frequency(w[k:], "de") >= 3.0
                               for k in range(4, len(w) - 3))


# Serbian writes foreign names as they sound (Vašington, Korbin, Tramp, Džekson): a consonant
# skeleton of both spellings agrees where the letters do not.
_SKELETON_STEPS = (("sch", "s"), ("ck", "k"), ("ph", "f"), ("th", "t"), ("sh", "s"), ("ch", "c"), ("qu", "kv"),
                   ("x", "ks"), ("w", "v"), ("dz", "g"), ("dj", "g"), ("j", ""), ("y", ""), ("z", "s"), ("q", "k"))


@functools.lru_cache(maxsize=100_000)
def skeleton(key: str) -> str:
    """Washington/Vašington -> vsngtn, Corbyn/Korbin -> krbn, Trump/Tramp -> trmp, Kavanaugh/Kavano -> kvn;
    David (dvd) and Davis (dvs) differ."""
    k = re.sub(r"c(?=[eiy])", "s", key).replace("c", "k").replace("rgh", "rg").replace("gh", "")
    if k.startswith("j"):
        k = "g" + k[1:]  # English J is Serbian Dž
    for a, b in _SKELETON_STEPS:
        k = k.replace(a, b)
    if not k:
        return ""
    return re.sub(r"(.)\1+", r"\1", k[0] + re.sub(r"[aeiou]", "", k[1:]))


@functools.lru_cache(maxsize=100_000)
def name_weight(key: str) -> float:
    """Rare names say more than common ones (Rothfus more than David), between 0.5 and 2.5."""
    z = max(frequency.zipf_frequency(key, code) for code in NAME_LANGUAGES)
    return min(2.5, max(0.5, (7.5 - z) / 2.0))


# ---------------------------------------------------------------- numbers

_NUMBER = re.compile(r"(?<![\w.,])(\d{1,3}(?:[.,\u00a0\u202f ]\d{3})+(?!\d)|\d+(?:[.,]\d+)?)"
                     r"(?=st\b|nd\b|rd\b|th\b|°|\.|[^\w]|$)")
_THOUSANDS = re.compile(r"\d{1,3}(?:[.,\u00a0\u202f ]\d{3})+")
MONTHS = frozenset(fold(w) for w in """january february march april may june july august september october november
december jan feb mar apr jun jul aug sep sept oct nov dec januar februar märz mai juni juli oktober dezember
janar shkurt mars prill maj qershor korrik gusht shtator tetor nëntor dhjetor mart avgust septembar oktobar
novembar decembar gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre
dicembre""".split())
_LETTERS = re.compile(r"[a-z]+")


def numbers(text: str) -> Counter[str]:
    """Numbers that identify a story: thousands separators removed (4,767 = 4.767 = 4767), decimals
    with a point (7,6 = 7.6), ordinals as their number (17th = 17. = 17°). Not years, not one-digit
    numbers, not a day next to a month's name: those are in every story."""
    out: Counter[str] = Counter()
    text = to_latin(text)
    for m in _NUMBER.finditer(text):
        raw = m.group(1)
        number = re.sub(r"\D", "", raw) if _THOUSANDS.fullmatch(raw) else raw.replace(",", ".")
        if "." not in number:
            value = int(number)
            if value < 10 or (len(number) == 4 and 1900 <= value <= 2099):
                continue
            around = fold(text[max(0, m.start() - 14):m.end() + 14])
            if value <= 31 and any(w in MONTHS for w in _LETTERS.findall(around)):
                continue
        out[number] += 1
    return out


def number_weight(number: str) -> float:
    """Longer numbers are rarer: 600 says more than 12; round tens say less."""
    if "." in number:
        return 2.0
    if len(number) <= 3 and int(number) % 10 == 0:
        return 0.7
    return {2: 1.0, 3: 1.8}.get(len(number), 2.5)


SKELETON_SHARE = 0.6  # a skeleton agreeing is weaker evidence than the name itself


def anchor_vector(name_counts: Counter[str], number_counts: Counter[str]) -> dict[str, float]:
    """Unit-length weights of the language-independent evidence: names, their skeletons ('~'), numbers ('#')."""
    v: dict[str, float] = {}
    for key, n in name_counts.items():
        w = (1 + math.log(n)) * name_weight(key)
        v[key] = w
        sk = skeleton(key)
        if len(sk) >= 3:
            v["~" + sk] = max(v.get("~" + sk, 0.0), SKELETON_SHARE * w)
    for number, n in number_counts.items():
        v["#" + number] = (1 + math.log(n)) * number_weight(number)
    return unit(v)
