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


# --- identification ---------------------------------------------------------------------------

from stories.language import identify, script_of  # noqa: E402

EXPECTED = {"sq", "sr", "de", "en", "it"}
SERBIAN_CYRILLIC = ("Народна скупштина Србије усвојила је данас сет закона из области енергетике, а министарка "
                    "је најавила да ће цене струје остати непромењене до краја грејне сезоне.")
CROATIAN = ("Vlada je najavila novi paket mjera za kućanstva, a ministar financija rekao je da će cijene "
            "plina ostati ograničene do kraja godine.")


@pytest.mark.parametrize("text, prior, language", [
    # an outlet's other editions: Kosovo Online (sr) in Albanian, RTS (sr) in English, Euronews (en) in German
    ("Komuna e Mitrovicës së Veriut do të mbajë seancën e parë pas disa muajsh, ndërsa këshilltarët "
     "serbë kanë paralajmëruar bojkot të votimit për buxhetin.", "sr", "sq"),
    ("Serbian officials said on Wednesday they were following reports that the United States could "
     "withdraw its troops from Kosovo.", "sr", "en"),
    ("Serbien will bis 2028 mit dem Abbau von Lithium im Jadar-Tal beginnen; Umweltschützer haben "
     "bereits neue Proteste in Belgrad angekündigt.", "en", "de"),
    ("Il maltempo ha colpito il nord Italia con piogge torrenziali: tre persone sono morte e centinaia "
     "di famiglie sono state evacuate.", "sq", "it"),
    (SERBIAN_CYRILLIC, "sq", "sr"),
])
def test_the_text_decides_over_the_outlet(text: str, prior: str, language: str) -> None:
    found = identify(text, prior, EXPECTED)
    assert (found.language, found.by) == (language, "text") and found.confidence > 0.5


def test_serbian_croatian_bosnian_are_one_family_and_the_script_is_recorded() -> None:
    assert identify(CROATIAN, "sq", EXPECTED).language == "sr"  # a Croatian text of an Albanian outlet
    assert identify(CROATIAN, "hr", EXPECTED | {"hr"}).language == "hr"  # the outlet's own member of the family
    assert identify(CROATIAN, "sr", EXPECTED).script == "Latn"
    assert identify(SERBIAN_CYRILLIC, "sr", EXPECTED).script == "Cyrl"
    assert script_of("1234, 5678!") == ""


def test_short_or_unsure_text_keeps_the_outlet_language() -> None:
    assert identify("", "sq", EXPECTED) == identify("12:30", "sq", EXPECTED)
    assert identify("", "sq", EXPECTED).language == "sq" and identify("", "sq", EXPECTED).by == "prior"
    # three Albanian words look like Esperanto to the detector: not sure enough for a language no
    # configured outlet publishes in, so the outlet's language stands
    assert identify("Stuhia godet veriun", "sq", EXPECTED).language == "sq"
    # a short headline the detector is sure of is believed
    assert identify("Germany hit by storm", "de", EXPECTED).language == "en"


def test_a_language_nobody_publishes_in_is_believed_when_sure() -> None:
    french = ("Le gouvernement a présenté mardi un projet de loi sur l'énergie qui prévoit une hausse des "
              "tarifs de l'électricité pour les ménages à partir du mois prochain.")
    assert identify(french, "en", EXPECTED).language == "fr"
