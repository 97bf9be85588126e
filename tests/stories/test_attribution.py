"""Credits as a grammar, in every configured language, and the source of a translation that
credits a third outlet."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from spreadwatch.placement import outlet_aliases
from spreadwatch.settings import load_settings
from stories.attribution import credited_outlets, is_denial
from stories.features import extract_features
from stories.normalize import tokens
from stories.propagation import Node, build_tree

ALIASES = outlet_aliases(load_settings())


def credits(text: str, own: str = "someone") -> list[str]:
    return [c.outlet for c in credited_outlets(tokens(text), ALIASES, own)]


@pytest.mark.parametrize("text, outlet", [
    # the Albanian misses: a genitive after a media noun, the outlet as subject, a report noun
    ("shkrim i së përditshmes gjermane Bild", "bild"),
    ("Bild thekson se trupat amerikane do të largohen", "bild"),
    ("Ministria ka mohuar shkrimin e medias gjermane Bild", "bild"),
    ("sipas gazetës Bild", "bild"), ("sipas Bildit", "bild"), ("Bild-i shkruan se", "bild"),
    ("i tha Radios Evropa e Lirë se", "evropaelire"), ("bën të ditur KosovaPress", "kosovapress"),
    # Serbian, both scripts, inflected names
    ("piše nemački list Bild", "bild"), ("пише немачки лист Билд", "bild"), ("prenosi Politico", "politico"),
    ("преноси Политико", "politico"), ("kako navodi Bild", "bild"), ("javlja Tanjug", "tanjug"),
    ("prema pisanju lista Bild", "bild"), ("prema pisanju Bilda", "bild"), ("prema pisanju Politica", "politico"),
    ("rekao je za Kohu", "koha"), ("Ministar je za N1 izjavio", "n1"), ("пише агенција Ројтерс", "reuters"),
    # German word orders
    ("Wie die Bild-Zeitung berichtet", "bild"), ("berichtet die Bild am Sonntag", "bild"), ("laut Bild", "bild"),
    ("nach Informationen der Nachrichtenagentur Reuters", "reuters"), ("Politico zufolge", "politico"),
    ("sagte der Bild", "bild"), ("im Interview mit dem Sender N1", "n1"),
    # English and Italian
    ("according to the German newspaper Bild", "bild"), ("dismissed the Bild report as disinformation", "bild"), ("Politico reported on Tuesday", "politico"),
    ("first reported by Kosovo Online", "kosovo-online"), ("told Radio Free Europe", "rferl"),
    ("secondo quanto riferito da Politico", "politico"), ("scrive il quotidiano tedesco Bild", "bild"),
    ("ha dichiarato alla Bild", "bild"), ("In un'intervista all'emittente N1", "n1"),
])
def test_credit_constructions(text: str, outlet: str) -> None:
    assert credits(text) == [outlet]


@pytest.mark.parametrize("text", [
    "Bild is Germany's best-selling newspaper", "Bild është gazeta më e shitur në Gjermani",
    "Die Bild ist die auflagenstärkste Zeitung", "La Bild è il quotidiano più venduto",
    "According to the minister, Telegrafi had not registered", "Sipas ministrit, Euronews Albania ka licencë",
    "Kurti accused Reuters of bias and said he would not answer", "Gazetarët e Kohës protestuan",
    "Novinari RTS-a protestovali su", "Вучић је оптужио Н1 да води кампању", "secondo la politica del governo",
])
def test_an_outlet_named_is_not_credited(text: str) -> None:
    assert credits(text) == []


def test_the_phrase_is_kept_and_its_own_name_is_not_a_credit() -> None:
    found = credited_outlets(tokens("Italia po përgatitet, shkruan e përditshmja gjermane Bild."), ALIASES, "telegrafi")
    assert [(c.outlet, c.phrase) for c in found] == [("bild", "shkruan e perditshmja gjermane bild")]
    assert credits("Bild berichtet", own="bild") == []
    assert credits("according to Politico Europe") == ["politico-eu"]  # the longest name


def test_denials_still_found() -> None:
    assert is_denial("", "Ministria e Mbrojtjes e ka mohuar shkrimin e medias gjermane Bild")


T0 = datetime(2026, 6, 10, 4, 30, tzinfo=timezone.utc)
POLITICO = ("Washington wants NATO to scale back KFOR, four NATO diplomats told Politico. The US also wants "
            "the Iraq mission ended and allies not to invite Ukraine to the Ankara summit in 2026.")
RFERL = ("A US Defense Department official told RFE/RL there is no change in the deployment of US troops in "
         "Kosovo, after Politico reported that Washington wants KFOR scaled back. A NATO official said the "
         "United States leads Regional Command-East with about 600 troops; Camp Bondsteel near Ferizaj is "
         "the largest US base in the Balkans.")
ALBANIAN = ("Një zyrtar i Pentagonit i tha Evropës së Lirë se nuk ka ndryshim në vendosjen e trupave "
            "amerikane në Kosovë, pasi Politico raportoi se Uashingtoni kërkon zvogëlimin e KFOR-it. NATO "
            "tha se SHBA udhëheqin Komandën Rajonale Lindje me rreth 600 ushtarë; Kampi Bondsteel pranë "
            "Ferizajt është baza më e madhe amerikane.")


def _node(i: int, outlet: str, lang: str, text: str, minutes: int) -> Node:
    f = extract_features("", text, lang)
    return Node(i, outlet, lang, T0 + timedelta(minutes=minutes), f"https://{outlet}/{i}", f,
                f.folded_text.split(), [])


def test_a_translation_is_sourced_to_what_it_translates_and_keeps_its_credit() -> None:
    nodes = [_node(1, "politico", "en", POLITICO, 0), _node(2, "rferl", "en", RFERL, 555),
             _node(3, "evropaelire", "sq", ALBANIAN, 600)]
    edges = {e.article_id: e for e in build_tree(nodes, ALIASES)}
    assert (edges[2].source_id, edges[2].kind) == (1, "attribution")  # RFE/RL credits Politico itself
    assert (edges[3].source_id, edges[3].kind) == (2, "translation")  # not Politico, whom it also credits
    assert edges[3].evidence["outlet"] == "politico" and "politico raportoi" in str(edges[3].evidence["credits"])
    assert "600" in edges[3].evidence["shared_numbers"]  # type: ignore[operator]


def test_a_credit_stays_when_no_translation_carries_it() -> None:
    alone = [_node(1, "politico", "en", POLITICO, 0), _node(3, "evropaelire", "sq", ALBANIAN, 600)]
    edges = {e.article_id: e for e in build_tree(alone, ALIASES)}
    assert (edges[3].source_id, edges[3].kind) == (1, "attribution")


def test_a_credit_of_where_the_text_is_from_stays_an_attribution() -> None:
    """"Sipas Politico" says where the text is from; "pasi Politico raportoi" refers to an earlier report."""
    direct = ALBANIAN.replace("pasi Politico raportoi se", "sipas Politico,")
    assert [c.reference for c in credited_outlets(tokens(direct), ALIASES, "evropaelire")] == [False]
    assert [c.reference for c in credited_outlets(tokens(ALBANIAN), ALIASES, "evropaelire")] == [True]
    assert [c.reference for c in credited_outlets(tokens("nakon što je Politico objavio"), ALIASES, "x")] == [True]
    nodes = [_node(1, "politico", "en", POLITICO, 0), _node(2, "rferl", "en", RFERL, 555),
             _node(3, "evropaelire", "sq", direct, 600)]
    edges = {e.article_id: e for e in build_tree(nodes, ALIASES)}
    assert (edges[3].source_id, edges[3].kind) == (1, "attribution")
