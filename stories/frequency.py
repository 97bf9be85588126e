"""wordfreq's word frequencies in a compact table: the same zipf values in about 10 bytes a word.

wordfreq keeps each language's list as a dict of word -> float once it is first asked (321,000 words
for English, 634,000 for German: 170 MB for the four languages the engine looks up). The engine
only ever asks "how frequent is this word", so here each list is read once, streamed from
wordfreq's own data file without building the list, into two numpy arrays sorted together: the
words' hashes (64 bits, the process's own str hash, so the table is built per process and never
stored) and their frequency in centibels. A lookup is a binary search. A word outside the list is
frequency 0, as in wordfreq; a false hit needs two 64-bit hashes to collide (about 1 in 10^13 per
lookup at this size).

zipf_frequency() tokenises with wordfreq's own tokeniser and combines several tokens as wordfreq
does, so it returns what wordfreq.zipf_frequency(word, lang) returns; tests/stories pin that on
a sample of words of each language.
"""

from __future__ import annotations

import functools
import gzip
import math
import threading

import msgpack
import numpy as np
from wordfreq import available_languages, lossy_tokenize
from wordfreq.numbers import digit_freq, smash_numbers

_LOCK = threading.Lock()


class FrequencyTable:
    """One language's wordfreq list: sorted word hashes and their centibels."""

    __slots__ = ("hashes", "centibels")

    def __init__(self, path: str) -> None:
        with gzip.open(path, "rb") as stream:
            unpacker = msgpack.Unpacker(stream, raw=False)
            buckets = unpacker.read_array_header() - 1
            header = unpacker.unpack()
            if not isinstance(header, dict) or header.get("format") != "cB" or header.get("version") != 1:
                raise ValueError(f"{path}: not a wordfreq cBpack file (header {header!r})")
            hashes: list[np.ndarray] = []
            centibels: list[np.ndarray] = []
            for index in range(buckets):  # the bucket's position is minus its frequency in centibels
                size = unpacker.read_array_header()
                if size:
                    hashes.append(np.fromiter((hash(unpacker.unpack()) for _ in range(size)), np.int64, size))
                    centibels.append(np.full(size, index, np.uint16))
        all_hashes = np.concatenate(hashes) if hashes else np.zeros(0, np.int64)
        order = np.argsort(all_hashes, kind="stable")
        self.hashes = all_hashes[order]
        self.centibels = (np.concatenate(centibels) if centibels else np.zeros(0, np.uint16))[order]

    def __len__(self) -> int:
        return len(self.hashes)

    def centibel(self, token: str) -> int | None:
        """Minus the token's frequency in centibels, or None when the list does not have it."""
        h = hash(token)
        i = int(np.searchsorted(self.hashes, h))
        if i < len(self.hashes) and self.hashes[i] == h:
            return int(self.centibels[i])
        return None

    @property
    def nbytes(self) -> int:
        return int(self.hashes.nbytes + self.centibels.nbytes)


_TABLES: dict[str, FrequencyTable] = {}


def table(lang: str) -> FrequencyTable:
    """The language's table (wordfreq's 'best' list: large where there is one), read once per process."""
    found = _TABLES.get(lang)
    if found is None:
        with _LOCK:
            found = _TABLES.get(lang)
            if found is None:
                path = available_languages("best").get(lang)
                if path is None:
                    raise ValueError(f"wordfreq has no word list for {lang!r}")
                found = _TABLES[lang] = FrequencyTable(path)
    return found


@functools.lru_cache(maxsize=200_000)
def zipf_frequency(word: str, lang: str) -> float:
    """wordfreq.zipf_frequency(word, lang) with the default list and minimum, from the compact table."""
    tokens = lossy_tokenize(word, lang)
    if not tokens:
        return 0.0
    freqs = table(lang)
    one_over = 0.0
    for token in tokens:
        smashed = smash_numbers(token)
        cb = freqs.centibel(smashed)
        if cb is None:
            return 0.0
        freq = 10 ** (-cb / 100)
        if smashed != token:
            freq *= digit_freq(token)
        one_over += 1.0 / freq
    freq = max(1.0 / one_over, 1e-9)  # wordfreq's default minimum: zipf 0
    leading_zeroes = math.floor(-math.log(freq, 10))
    freq = round(freq, leading_zeroes + 3)  # wordfreq's own rounding to three significant digits
    return round(math.log(freq, 10) + 9, 2)
