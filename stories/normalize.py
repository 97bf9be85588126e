"""Text normalisation shared by matching and dedup: one form for every script and spelling.

fold(): NFKC, case folding, Serbian Cyrillic to Latin, diacritics removed, so that
"повлачење", "povlačenje" and "povlacenje" are the same word, and so are "Вучић" and "Vucic".
"""

from __future__ import annotations

import functools
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
_PLAIN = _TOKEN.fullmatch
# an abbreviation with dots (U.S., S.H.B.A.), a number with thousands separators, or a word
_WORD = re.compile(r"(?:[^\W\d_]\.){2,}|\d{1,3}(?:[.,\u00a0\u202f ]\d{3})+(?![\d.,]\d)|\w+")


class _Marks(dict):  # type: ignore[type-arg]
    """A str.translate table that deletes combining marks, filled in as characters are met.

    Asking unicodedata once per distinct character, then translating in C, is several times
    faster than a Python test per character of every text."""

    def __missing__(self, codepoint: int) -> int | None:
        kept = None if unicodedata.combining(chr(codepoint)) else codepoint
        self[codepoint] = kept
        return kept


_MARKS = _Marks()
_IN_TABLE = re.compile("[" + re.escape("".join(map(chr, _TABLE))) + "]")
# the marks of Latin diacritics, removed in one C pass (U+034F, the grapheme joiner, is not a mark)
_COMMON_MARKS = re.compile("[\u0300-\u034e\u0350-\u036f]")


def fold(text: str) -> str:
    """Lower-case, Latin-script, diacritic-free form of a text (word boundaries kept)."""
    if text.isascii():  # NFKC, NFKD and the marks change no ASCII; of the table only '`' is ASCII
        return text.lower().replace("`", "'")
    text = unicodedata.normalize("NFKC", text).casefold()
    if _IN_TABLE.search(text):  # translating costs a lookup per character; most Latin texts need none
        text = text.translate(_TABLE)
    text = _COMMON_MARKS.sub("", unicodedata.normalize("NFKD", text))
    return text if text.isascii() else text.translate(_MARKS)


def join_thousands(text: str) -> str:
    """'4,767', '4.767' and '4 767' are one number, 4767 (a separator before exactly 3 digits)."""
    return _NUMBER_SEP.sub("", text)


def words(text: str) -> list[tuple[str, int, int]]:
    """(folded token, start, end) for each word of the original text, so hits can be shown as written."""
    if len(text) < CACHED_CHARS:
        return list(_words(text))
    return list(_recent_words(text))


# One article's text is split several times while it is ingested (its hash, the watches, its
# features, the denial check, and again each time its story is rebuilt), so the last texts' words
# are kept. Short strings (names, titles, terms) are cheap and many: they would only churn the cache.
CACHED_CHARS = 256
RECENT_TEXTS = 64  # ~85 KB each for a 600-word article


def _words(text: str) -> tuple[tuple[str, int, int], ...]:
    folded = fold(text)
    # fast path: folding kept every character in place (true unless ß, љ, њ… expanded), so one
    # fold of the whole text serves every word; otherwise fold word by word
    aligned = len(folded) == len(text)
    out = []
    for m in _WORD.finditer(text):
        start, end = m.span()
        word = folded[start:end] if aligned else fold(m.group())
        if _PLAIN(word) is None:  # most words already are a token; the rest lose '.', '_', ','…
            word = "".join(_TOKEN.findall(word))
        if word:
            out.append((word, start, end))
    return tuple(out)


_recent_words = functools.lru_cache(maxsize=RECENT_TEXTS)(_words)


def tokens(text: str) -> list[str]:
    """Folded word tokens: 'U.S.' is 'us', '4,767' is '4767', 'Вучић' is 'vucic'."""
    return [t for t, _, _ in words(text)]


def fold_term(term: str) -> str:
    """A watch term in folded form, keeping its '*' wildcards and the spaces between words."""
    parts = re.split(r"[^\w*]+", fold(term).replace(".", ""))
    return " ".join("*".join("".join(_TOKEN.findall(p)) for p in word.split("*")) for word in parts if word)
