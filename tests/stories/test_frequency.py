"""The compact frequency table answers what wordfreq answers, in a fraction of its memory."""

import random
import re
from pathlib import Path

import pytest
import wordfreq

from stories import frequency
from stories.terms import MAX_RARITY, rarity

ROOT = Path(__file__).resolve().parents[2]
TEXTS = (ROOT / "tests" / "data", ROOT / "spreadwatch" / "replay")


def _sample_words(n: int = 3000) -> list[str]:
    """Words of every shape the engine looks up: the project's own fixture articles (five languages,
    both scripts), with their case, diacritics, apostrophes and digits, and made-up words."""
    text = " ".join(p.read_text(encoding="utf-8", errors="replace")
                    for d in TEXTS for p in sorted(d.rglob("*")) if p.is_file() and p.suffix in {".json", ".jsonl", ".xml", ".html", ".txt", ".yaml"})
    words = sorted(set(re.findall(r"[\w'’.-]+", text)))
    assert len(words) > 2000, "the fixtures should give a varied sample"
    rng = random.Random(7)
    picked = rng.sample(words, min(n, len(words)))
    return picked + [w.lower() for w in picked[:500]] + ["qzxvbnm", "truppenabzugsplan", "l'uomo", "2025", "5.000"]


@pytest.mark.parametrize("lang", ["en", "de", "it", "sh"])
def test_same_zipf_as_wordfreq(lang: str) -> None:
    words = _sample_words()
    differ = [(w, wordfreq.zipf_frequency(w, lang), frequency.zipf_frequency(w, lang))
              for w in words if wordfreq.zipf_frequency(w, lang) != frequency.zipf_frequency(w, lang)]
    assert not differ, differ[:10]
    known = sum(frequency.zipf_frequency(w, lang) > 0 for w in words)
    assert known > len(words) // 20  # the comparison is not only over words neither side knows


def test_table_is_compact_and_complete() -> None:
    table = frequency.table("de")
    assert len(table) == sum(len(bucket) for bucket in wordfreq.get_frequency_list("de"))
    assert table.nbytes < 12 * len(table)  # 8-byte hash + 2-byte centibels per word
    assert table.centibel("der") is not None and table.centibel("qzxvbnm") is None
    assert frequency.zipf_frequency("der", "de") > frequency.zipf_frequency("truppenabzug", "de")


def test_rarity_uses_the_table() -> None:
    assert rarity("the", "en") < 1.5
    assert rarity("qzxvbnm", "en") == MAX_RARITY
    assert rarity("kosovo", "it") < rarity("qzxvbnm", "it")


def test_unknown_language_is_an_error() -> None:
    with pytest.raises(ValueError, match="no word list"):
        frequency.table("xx")
