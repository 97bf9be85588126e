"""The default KFOR watch across languages and scripts, and the term syntax."""

from __future__ import annotations

import pytest

from spreadwatch.settings import WatchConfig, WatchRule, load_settings
from stories.match import compile_watches, match_article
from stories.normalize import fold, tokens

WATCHES = compile_watches(list(load_settings().watches))


def names(title: str, text: str = "") -> list[str]:
    return [h.watch for h in match_article(title, text, WATCHES)]


@pytest.mark.parametrize("text", [
    "Italien bereitet sich auf einen möglichen Truppenabzug der USA aus dem Kosovo vor.",
    "Die amerikanischen Soldaten könnten aus der KFOR abgezogen werden.",
    "Italia po përgatitet për tërheqjen e trupave amerikane nga Kosova.",
    "Trupat amerikane mund të tërhiqen nga KFOR-i.",
    "SHBA-të mund t'i largojnë ushtarët e tyre nga Kosova, sipas medias gjermane.",
    "Italija se priprema za povlačenje američkih vojnika sa Kosova.",
    "Италија се припрема за повлачење америчких војника са Косова.",
    "Italija se priprema za povlacenje americkih vojnika sa Kosova.",  # no diacritics, as typed on phones
    "L'Italia si prepara al ritiro delle truppe americane dal Kosovo.",
    "Washington wants to scale back KFOR and have fewer US troops in Kosovo.",
    "Italy prepares for a withdrawal of U.S. troops from Kosovo.",
])
def test_rumour_matches_in_every_language(text: str) -> None:
    assert names("", text) == ["kfor-withdrawal"]


@pytest.mark.parametrize("text", [
    "The American team withdrew from the football tournament in Pristina, Kosovo.",
    "Klubi amerikan u tërhoq nga turneu i futbollit në Prishtinë.",
    "KFOR troops patrolled the Ibar bridge in Mitrovica; US soldiers took part in the exercise.",
    "The US welcomed the withdrawal of Serbian troops from the Kosovo border.",
    "Americans withdraw savings as troops parade in Paris.",  # no Kosovo at all
])
def test_near_misses_do_not_match(text: str) -> None:
    assert names("", text) == []


def test_hit_reports_surface_terms_and_a_snippet() -> None:
    text = ("Në kryeqytete evropiane rritet shqetësimi. " * 6 + "Sipas Bild, Italia po përgatitet për "
            "tërheqjen e trupave amerikane nga Kosova, ku SHBA kanë mbi 600 ushtarë.")
    hit = match_article("Alarm", text, WATCHES)[0]
    assert {"tërheqjen e trupave amerikane", "Kosova"} <= set(hit.terms)
    assert hit.terms[0] == "tërheqjen e trupave amerikane"  # in the order they appear
    assert "tërheqjen" in hit.snippet and hit.snippet.startswith("…") and len(hit.snippet) < 260


def test_title_alone_can_match() -> None:
    assert names("Abzug der US-Truppen aus dem Kosovo?") == ["kfor-withdrawal"]


def test_folding_and_tokens() -> None:
    assert fold("Повлачење Vučić ËSHTË Straße") == "povlacenje vucic eshte strasse"
    assert tokens("4,767 troops, 4.767 Soldaten, 4 767 ushtarë; U.S. and SHBA-të") == [
        "4767", "troops", "4767", "soldaten", "4767", "ushtare", "us", "and", "shba", "te"]
    assert tokens("Ђурђевдан у Нишу") == ["djurdjevdan", "u", "nisu"]


def test_term_syntax_prefix_suffix_phrase_near_and_none() -> None:
    watch = WatchConfig(name="t", rules=[WatchRule(all=[["*abzug"], ["nato mission*"], ["us ~2 truppe*"]],
                                                   none=["manöver"])])
    compiled = compile_watches([watch])
    yes = "Truppenabzug: die NATO Missionen und die US-Truppen"
    assert [h.watch for h in match_article("", yes, compiled)] == ["t"]
    assert match_article("", yes + " beim Manöver", compiled) == []
    assert match_article("", "Abzug der NATO Mission: die Truppen bleiben, sagt die US Army", compiled) == []


def _fold_slowly(text: str) -> str:
    """fold() as first written: a Python test per character, no fast paths."""
    import unicodedata

    from stories.normalize import _TABLE

    text = unicodedata.normalize("NFKC", text).casefold().translate(_TABLE)
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@pytest.mark.parametrize("text", [
    "Plain ASCII with a `backtick` and CAPITALS 4,767.",
    "Tërheqja e trupave amerikane nga Kosova — „sipas burimeve“.",
    "Повлачење америчких војника: Вучић, Љубљана, Њујорк, Ђаковица.",
    "Straße, Œuvre, łódź, Þór, ﬁle, ①, ², ＡＢＣ, ﬀ",
    "e\u0301 a\u0308 o\u034f\u0308 x\u20d7 \u05b0\u05d0 \u093f\u0915 \u3099",  # marks, the grapheme joiner, other scripts
    "".join(chr(c) for c in range(0x0300, 0x0370)) + "abc",  # every mark of the Latin block, and U+034F
])
def test_fold_fast_paths_agree_with_the_plain_definition(text: str) -> None:
    assert fold(text) == _fold_slowly(text)


def test_words_of_a_long_text_are_cached_but_each_caller_gets_its_own_list() -> None:
    from stories.normalize import CACHED_CHARS, words

    text = "Trupat amerikane në KFOR. " * (CACHED_CHARS // 10)
    first = words(text)
    first.clear()  # a caller changing its list must not change what the next caller gets
    again = words(text)
    assert again == words(text) and again[0] == ("trupat", 0, 6) and again is not words(text)


def test_a_text_matched_again_gets_the_same_verdict_and_its_own_hits() -> None:
    text = "Trupat amerikane mund të tërhiqen nga KFOR-i, sipas burimeve në Prishtinë."
    first = match_article("", text, WATCHES)
    first[0].terms.append("changed by a caller")
    again = match_article("", text, WATCHES)
    assert [h.watch for h in again] == ["kfor-withdrawal"] and "changed by a caller" not in again[0].terms
    other = compile_watches([WatchConfig(name="base", rules=[WatchRule(all=[["bondsteel", "prishtin*"]])])])
    assert [h.watch for h in match_article("", text, other)] == ["base"]  # the same text, other watches
