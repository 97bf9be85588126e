"""Text normalisation shared by matching and dedup: one form for every script and spelling.

fold(): NFKC, case folding, Serbian Cyrillic to Latin, diacritics removed, so that
"повлачење", "povlačenje" and "povlacenje" are the same word, and so are "Вучић" and "Vucic".
"""

from __future__ import annotations

import re
import unicodedata

_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "ђ": "dj", "е": "e", "ж": "z", "з": "z",
    "и": "i", "ј": "j", "к": "k", "л": "l", "љ": "lj", "м": "m", "н": "n", "њ": "nj", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "ћ": "c", "у": "u", "ф": "f", "х": "h", "ц": "c",
    "ч": "c", "џ": "dz", "ш": "s",
    # Russian/Bulgarian/Macedonian letters that turn up in regional copies
    "ё": "e", "й": "j", "щ": "st", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "ju", "я": "ja",
    "ѓ": "gj", "ќ": "kj", "ѕ": "dz", "і": "i", "ї": "ji", "є": "je",
}
# letters NFKD does not decompose into base + mark
_SPECIAL = {"đ": "dj", "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "ı": "i", "þ": "th", "ð": "d"}
_TABLE = str.maketrans({**_CYRILLIC, **_SPECIAL, "’": "'", "‘": "'", "`": "'", "“": '"', "”": '"',
                        "„": '"', "«": '"', "»": '"', "–": "-", "—": "-"})
_NUMBER_SEP = re.compile(r"(?<=\d)[.,\u00a0\u202f ](?=\d{3}(?!\d))")
_TOKEN = re.compile(r"[a-z0-9]+")
# an abbreviation with dots (U.S., S.H.B.A.), a number with thousands separators, or a word
_WORD = re.compile(r"(?:[^\W\d_]\.){2,}|\d{1,3}(?:[.,\u00a0\u202f ]\d{3})+(?![\d.,]\d)|\w+")


def fold(text: str) -> str:
    """Lower-case, Latin-script, diacritic-free form of a text (word boundaries kept)."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_TABLE)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def join_thousands(text: str) -> str:
    """'4,767', '4.767' and '4 767' are one number, 4767 (a separator before exactly 3 digits)."""
    return _NUMBER_SEP.sub("", text)


def words(text: str) -> list[tuple[str, int, int]]:
    """(folded token, start, end) for each word of the original text, so hits can be shown as written."""
    folded = fold(text)
    # fast path: folding kept every character in place (true unless ß, љ, њ… expanded), so one
    # fold of the whole text serves every word; otherwise fold word by word
    aligned = len(folded) == len(text)
    out = []
    for m in _WORD.finditer(text):
        word = folded[m.start():m.end()] if aligned else fold(m.group())
        token = "".join(_TOKEN.findall(word))
        if token:
            out.append((token, m.start(), m.end()))
    return out


def tokens(text: str) -> list[str]:
    """Folded word tokens: 'U.S.' is 'us', '4,767' is '4767', 'Вучић' is 'vucic'."""
    return [t for t, _, _ in words(text)]


def fold_term(term: str) -> str:
    """A watch term in folded form, keeping its '*' wildcards and the spaces between words."""
    parts = re.split(r"[^\w*]+", fold(term).replace(".", ""))
    return " ".join("*".join("".join(_TOKEN.findall(p)) for p in word.split("*")) for word in parts if word)
