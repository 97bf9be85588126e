"""Languages: which language an article is written in, and the dictionary forms of its words.

Lemmas come from simplemma's dictionaries (offline, in the package). Serbian, Croatian and
Bosnian are one dictionary there ("hbs"), written in Latin script with diacritics, so Serbian
Cyrillic is transliterated to Latin *with* its diacritics before the lookup ("повлачење" ->
"povlačenje" -> "povlačenje"), and only the lemma is folded afterwards.
"""

from __future__ import annotations

import functools

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
        lemma = simplemma.lemmatize(written, lang=code)
    except ValueError:  # simplemma refuses some inputs (empty after its own cleaning)
        return folded
    return _token(lemma) or folded


def _token(word: str) -> str:
    """One word in the folded token form of stories.normalize ('U.S.' -> 'us', 'Vučić' -> 'vucic')."""
    return "".join(tokens(word))
