"""What an article is made of, for comparing it with others: a MinHash signature of its wording
(copies), its weighted lemmas (what it says, within a language), and the language-independent
evidence that survives translation (names, numbers, links)."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from datasketch import LeanMinHash, MinHash

from stories import terms as T
from stories.normalize import tokens

NUM_PERM = 64
BANDS, ROWS = 16, 4  # P(candidate) = 1-(1-j^4)^16: 0.5 at j≈0.45, 0.98 at j=0.7: copies, not topics
SHINGLE = 3
_TEMPLATE = MinHash(num_perm=NUM_PERM, seed=7)
_PERMS, _SCHEME = _TEMPLATE.permutations, _TEMPLATE.scheme  # shared: building them per article is slow


@dataclass
class Features:
    content_hash: str
    signature: np.ndarray  # uint64[NUM_PERM], MinHash of word shingles
    names: frozenset[str]  # whole folded names and their skeletons ('~vsngtn'), for the tree's shared facts
    numbers: frozenset[str]  # identifying numbers, separators removed (600, 4767, 7.6): not years or days
    links: frozenset[str]
    language: str
    text_tokens: int = 0
    folded_text: str = field(default="", repr=False)
    terms: dict[str, float] = field(default_factory=dict, repr=False)  # unit vector of weighted lemmas
    anchors: dict[str, float] = field(default_factory=dict, repr=False)  # unit vector of names/numbers

    def stored(self) -> dict[str, Any]:
        """What the article row keeps, so a story can be rebuilt without re-reading any text."""
        return {"terms": {k: round(v, 4) for k, v in self.terms.items()},
                "anchors": {k: round(v, 4) for k, v in self.anchors.items()},
                "names": sorted(self.names), "numbers": sorted(self.numbers)}


def shingles(toks: list[str]) -> list[bytes]:
    if len(toks) < SHINGLE:
        return [" ".join(toks).encode()] if toks else []
    return [" ".join(toks[i:i + SHINGLE]).encode() for i in range(len(toks) - SHINGLE + 1)]


def signature(toks: list[str]) -> np.ndarray:
    m = MinHash(num_perm=NUM_PERM, seed=7, permutations=_PERMS, scheme=_SCHEME)
    sh = shingles(toks)
    if sh:
        m.update_batch(sh)
    return LeanMinHash(m).hashvalues.astype(np.uint64)


def band_keys(sig: np.ndarray) -> list[int]:
    """One signed 32-bit key per LSH band (compact, indexable in any database)."""
    keys = []
    for b in range(BANDS):
        digest = hashlib.blake2b(sig[b * ROWS:(b + 1) * ROWS].tobytes(), digest_size=4).digest()
        keys.append(struct.unpack("<i", digest)[0])
    return keys


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.count_nonzero(a == b)) / len(a)


def overlaps(signatures: np.ndarray, sig: np.ndarray) -> np.ndarray:
    """jaccard() of `sig` with each row of `signatures`, in one numpy step."""
    return np.count_nonzero(signatures == sig, axis=1) / signatures.shape[1]


def pack(sig: np.ndarray) -> bytes:
    return sig.astype("<u8").tobytes()


def unpack(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u8").astype(np.uint64)


def extract_features(title: str, text: str, language: str, links: tuple[str, ...] | list[str] = (),
                     content_hash: str = "") -> Features:
    """Features of one article (pure; a few milliseconds for a 600-word text)."""
    toks = tokens(text) or tokens(title)
    name_counts = T.names(title, text, language)
    number_counts = T.numbers(f"{title}\n{text}")
    skeletons = {"~" + sk for sk in map(T.skeleton, name_counts) if len(sk) >= 3}
    return Features(content_hash=content_hash, signature=signature(toks),
                    names=frozenset(name_counts) | skeletons, numbers=frozenset(number_counts),
                    links=frozenset(links), language=T.base_language(language), text_tokens=len(toks),
                    folded_text=" ".join(toks), terms=T.term_vector(title, text, language),
                    anchors=T.anchor_vector(name_counts, number_counts))
