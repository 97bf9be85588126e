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


# --- the false alert and miss, and the watch language of lemmas, order and blockers ----

def test_washington_welcoming_serbias_pullback_is_not_a_us_withdrawal() -> None:
    """The false alert: the US and troops are named, but the troops are Serbia's."""
    for text in ("Washington welcomed Serbia's troop pullback from the Kosovo border on Monday.",
                 "The United States welcomed the withdrawal of Serbian troops from the border with Kosovo.",
                 "Uashingtoni mirëpriti tërheqjen e trupave serbe nga kufiri me Kosovën.",
                 "Vašington je pozdravio povlačenje srpskih snaga sa administrativne linije sa Kosovom.",
                 "Die USA begrüßen, dass Serbien seine Soldaten von der Grenze zum Kosovo abzieht.",
                 "Washington ha accolto con favore il ritiro delle truppe serbe dal confine con il Kosovo."):
        assert names("", text) == [], text


def test_the_us_wanting_kfor_scaled_back_is_a_match() -> None:
    """The miss: how English, German, Albanian and Serbian say the US wants KFOR smaller."""
    for text in ("US wants KFOR scaled back, diplomats say",
                 "Washington wants to shrink its military presence in Kosovo.",
                 "Washington wants to wind down its part of the Kosovo mission.",
                 "The Trump administration plans to cut the number of troops it keeps in Kosovo.",
                 "The US intends to reduce its presence in Kosovo.",
                 "Washington drängt die Nato, die KFOR-Mission zu verkleinern.",
                 "Die USA wollen ihre Truppen im Kosovo deutlich reduzieren.",
                 "Uashingtoni kërkon zvogëlimin e misionit të KFOR-it në Kosovë.",
                 "Administrata po diskuton reduktimin e numrit të ushtarëve amerikanë në Bondsteel.",
                 "SAD traže smanjenje KFOR-a na Kosovu.", "САД траже смањење КФОР-а на Косову."):
        assert names("", text) == ["kfor-withdrawal"], text


def test_other_withdrawals_and_increases_near_the_same_words_do_not_match() -> None:
    for text in ("Hungary will reduce its KFOR contingent in Kosovo, while US troops remain at Camp Bondsteel.",
                 "The US will send 200 more troops to Kosovo to reinforce KFOR.",
                 "Washington will cut aid to Kosovo by a third, officials said.",
                 "The US will withdraw its troops from Iraq by the end of the year; in Kosovo nothing changes.",
                 "The US withdrew its support for Kosovo's bid to join the Council of Europe.",
                 "Österreich zieht Soldaten aus der KFOR ab. Die amerikanischen Truppen bleiben im Kosovo."):
        assert names("", text) == [], text


def _watch(*terms: str, lists: dict[str, list[str]] | None = None) -> list:  # type: ignore[type-arg]
    return compile_watches([WatchConfig(name="t", terms=lists or {}, rules=[WatchRule(all=[list(terms)])])])


def test_lemmas_match_in_the_articles_language_only() -> None:
    watch = _watch("withdraw", "povući")  # dictionary forms
    assert match_article("", "The US withdrew two battalions.", watch, "en")
    assert match_article("", "SAD su povukle vojnike.", watch, "sr")  # povukle: no prefix of povući
    assert match_article("", "САД су повукле војнике.", watch, "sr")
    assert not match_article("", "SAD su povukle vojnike.", watch, "")  # no language: the words as written only


def test_ordered_proximity_chains_lists_and_sentences() -> None:
    lists = {"actor": ["us", "washington"], "act": ["cut*", "reduc*"]}
    watch = _watch("@actor ~4> @act ~3> troop*", lists=lists)
    assert match_article("", "Washington plans to reduce its troops.", watch)
    assert not match_article("", "Troops: Washington plans to reduce them.", watch)  # the troops come first
    assert not match_article("", "Washington is worried. Others reduce troops.", watch)  # another sentence
    assert match_article("", "The U.S. will cut troops.", watch)  # the dots of U.S. end no sentence


def test_a_blocker_between_or_just_after_makes_it_someone_elses_act() -> None:
    watch = _watch("@actor ~6> @act ~4> @forces !@others", lists={
        "actor": ["us"], "act": ["withdraw*"], "forces": ["troop*", "trup*"], "others": ["serb*"]})
    assert match_article("", "The US wants to withdraw its troops.", watch)
    assert not match_article("", "The US welcomed Serbia's decision to withdraw troops.", watch)
    assert not match_article("", "The US praised the withdrawal of troops of Serbia.", watch)  # just after
    assert match_article("", "The US wants to withdraw its troops. Serbia objected.", watch)  # after, but next sentence


def test_watch_mistakes_are_reported_with_the_watch_and_term() -> None:
    with pytest.raises(ValueError, match="watch 't'.*no list named 'nope'"):
        _watch("@nope ~3 troop*")
    with pytest.raises(ValueError, match="only follows a proximity"):
        _watch("troop* !@x", lists={"x": ["serb*"]})
    with pytest.raises(ValueError, match="refers to itself"):
        _watch("@a", lists={"a": ["@a"]})
