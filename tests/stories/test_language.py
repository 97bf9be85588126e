"""Languages: lemmas of inflected words in every configured language."""

from __future__ import annotations

import pytest

from stories.language import dictionary_language, lemmas, to_serbian_latin


@pytest.mark.parametrize("language, written, expected", [
    ("sq", ["trupave", "gazetës", "gazetën", "ushtarët"], ["trup", "gazete", "gazete", "ushtar"]),
    ("sr", ["povlačenja", "vojnika", "američkih", "prenosi"], ["povlacenje", "vojnik", "americki", "prenositi"]),
    # Cyrillic goes through Latin with diacritics: the hbs dictionary is written that way
    ("sr", ["повлачења", "војника", "америчких", "преноси"], ["povlacenje", "vojnik", "americki", "prenositi"]),
    ("de", ["Truppen", "abgezogen", "berichtete", "Zeitung"], ["truppe", "abziehen", "berichten", "zeitung"]),
    ("en", ["troops", "withdrew", "reported", "U.S."], ["troop", "withdraw", "report", "us"]),
    ("it", ["truppe", "ritirate", "americane"], ["truppa", "ritirare", "americano"]),
])
def test_inflected_words_give_their_dictionary_form(language: str, written: list[str], expected: list[str]) -> None:
    assert lemmas(written, language) == expected


def test_croatian_and_bosnian_share_the_serbian_dictionary() -> None:
    assert dictionary_language("hr") == dictionary_language("bs") == dictionary_language("sr-Latn") == "hbs"
    assert lemmas(["povlačenja"], "hr") == lemmas(["повлачења"], "sr") == ["povlacenje"]


def test_unknown_words_and_languages_fold_and_keep_the_alignment() -> None:
    assert lemmas(["Bondsteel", "KFOR-it", "Vučić"], "xx") == ["bondsteel", "kforit", "vucic"]
    out = lemmas(["Qwzrtpl", "Trupat", ""], "sq")
    assert len(out) == 3 and out[0] == "qwzrtpl" and out[2] == ""


def test_serbian_latin_keeps_diacritics() -> None:
    assert to_serbian_latin("Вучић, Ђукановић, Љубљана, Џеп") == "Vučić, Đukanović, Ljubljana, Džep"
