"""The pure core: features, copy detection, story choice and the propagation tree, on plain data."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from stories.attribution import alias_tokens, credited_outlets, is_denial
from stories.cluster import Candidate, StoryProfile, assign
from stories.features import band_keys, extract_features, jaccard, pack, unpack
from stories.normalize import tokens
from stories.propagation import Node, build_tree

T0 = datetime(2025, 2, 19, 6, 10, tzinfo=timezone.utc)
ORIGINAL = ("Sipas Bild, Italia po përgatitet për një tërheqje të mundshme të trupave amerikane nga Kosova. "
            "SHBA-të kanë aktualisht mbi 600 ushtarë në misionin e KFOR-it dhe bazën Bondsteel pranë Ferizajt. "
            "Pentagoni nuk ka komentuar informacionin, ndërsa në Romë thonë se po përgatiten për çdo skenar.")
EDITED = ORIGINAL.replace("aktualisht mbi 600", "sot më shumë se 600") + " Qeveria ende nuk ka reaguar."
SERBIAN = ("Prema pisanju lista Bild, Italija se priprema za povlačenje američkih vojnika sa Kosova. SAD imaju "
           "više od 600 vojnika u KFOR-u i bazu Bondsteel kod Uroševca, a Pentagon nije komentarisao.")
UNRELATED = ("Enti Rregullator i Energjisë miratoi një rritje të tarifës së energjisë elektrike për bizneset "
             "e vogla, duke filluar nga muaji i ardhshëm, ndërsa familjet nuk preken.")


def feats(text: str, lang: str = "sq", links: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    return extract_features("", text, lang, links)


def test_signatures_see_edited_copies_and_not_other_texts() -> None:
    a, b, c = feats(ORIGINAL), feats(EDITED), feats(UNRELATED)
    assert jaccard(a.signature, b.signature) >= 0.5
    assert jaccard(a.signature, c.signature) < 0.1
    assert (unpack(pack(a.signature)) == a.signature).all()  # stored and restored bit for bit
    shared_bands = sum(x == y for x, y in zip(band_keys(a.signature), band_keys(b.signature)))
    assert shared_bands >= 1  # the LSH index finds the copy


def test_names_and_numbers_cross_languages() -> None:
    sq, sr = feats(ORIGINAL), feats(SERBIAN, "sr")
    assert {"600"} <= sq.numbers & sr.numbers
    # whole names, case endings cut (KFOR-it, KFOR-u); Italia/Italija agree by their skeleton
    assert {"bondsteel", "kfor", "~itl"} <= sq.names & sr.names
    # a word opening a sentence is a name only if the dictionary does not know it
    opening = feats("Sipas Bild, Italia po përgatitet. Qeveria ende nuk ka reaguar.").names
    assert {"bild", "italia"} <= opening and not {"sipas", "qeveria", "qeveri"} & opening


def test_whole_names_keep_david_and_davis_apart_and_vucic_one() -> None:
    david = feats("The coach David Moyes spoke.", "en").names
    davis = feats("The coach Davis Moyes spoke.", "en").names
    assert "david" in david and "davis" in davis and not {"david", "~dvd"} & davis
    spellings = [feats(t, lang).names for t, lang in (("Predsednik Vučić je rekao.", "sr"), ("Presidenti Vuçiq tha.", "sq"),
                                                      ("Председник Вучић је рекао.", "sr"), ("President Vucic said.", "en"))]
    assert all("~vsk" in n for n in spellings)
    assert {"vucic"} <= spellings[0] & spellings[2] & spellings[3]


def test_years_days_and_small_numbers_are_not_evidence() -> None:
    f = feats("On 12 March 2013 the 17th district counted 4,767 votes, 7,6 per cent, in 3 towns.", "en")
    assert f.numbers == frozenset({"17", "4767", "7.6"})


def test_assign_copy_then_evidence_then_new() -> None:
    window = timedelta(hours=72)
    original = Candidate(1, 10, feats(ORIGINAL))
    copy = assign(feats(EDITED), T0, [], [original], [], window)
    assert (copy.story_id, copy.reason) == (10, "copy") and copy.score >= 0.5
    profile, other = StoryProfile(10), StoryProfile(11)
    profile.add(feats(ORIGINAL), T0, "bild", "https://bild.de/a")
    other.add(feats(UNRELATED), T0, "ere", "https://ere.al/b")
    translated = assign(feats(SERBIAN, "sr"), T0 + timedelta(hours=3), [], [], [profile, other], window)
    assert translated.story_id == 10 and translated.reason == "evidence"
    assert {"bondsteel", "kfor"} <= set(translated.evidence["shared_names"])  # type: ignore[arg-type]
    assert translated.scored[0].probability > 0.5 > translated.scored[1].probability
    late = assign(feats(SERBIAN, "sr"), T0 + timedelta(days=30), [], [], [profile], window)
    assert late.story_id is None  # outside the window it is another story, whatever it shares
    alone = assign(feats(UNRELATED, "sq"), T0, [], [], [profile], window)
    assert alone.story_id is None and alone.reason == "new"


def test_credits_in_several_languages() -> None:
    aliases = {"bild": alias_tokens(["Bild", "Билд"]), "politico": alias_tokens(["Politico"])}
    for text in ("Sipas Bild, Italia po përgatitet", "Италија се спрема, пише Билд", "according to Politico, the US",
                 "Die Zeitung Bild berichtet", "secondo Politico gli Usa"):
        assert [c.outlet for c in credited_outlets(tokens(text), aliases, "other")], text
    assert credited_outlets(tokens("Bild is a German newspaper"), aliases, "bild") == []  # its own name


def test_denials_in_several_languages() -> None:
    assert is_denial("", "The ministry called the report disinformation")
    assert is_denial("", "Ministria e Mbrojtjes e ka mohuar raportimin")
    assert is_denial("", "Ministarstvo je demantovalo pisanje lista")
    assert is_denial("", "Il ministero ha smentito la notizia")
    assert not is_denial("", "Italy is preparing for a US withdrawal from Kosovo")
    # a plain "denied" denies the claim only when it is about the claim: a report, the news, allegations
    for text in ("The Pentagon denied the report", "Pentagoni e mohoi lajmin e Bild", "Ministarstvo je negiralo navode",
                 "Das Ministerium bestritt den Bericht", "The report was firmly rejected by NATO"):
        assert is_denial("", text), text
    for text in ("Kurti denied meeting Vucic in Brussels", "Ministria mohoi se kishte takim me ambasadorin",
                 "Der Bürgermeister bestritt jede Verantwortung", "He denied it"):
        assert not is_denial("", text), text


def test_tree_prefers_wording_then_credits_and_marks_denials() -> None:
    aliases = {"bild": alias_tokens(["Bild"]), "telegrafi": alias_tokens(["Telegrafi"])}
    german = "Italien bereitet sich auf einen Abzug der US-Truppen aus dem Kosovo vor, 600 Soldaten, Bondsteel."

    def node(i: int, outlet: str, lang: str, text: str, minutes: int, url: str = "", links=()) -> Node:  # type: ignore[no-untyped-def]
        f = extract_features("", text, lang, links)
        return Node(i, outlet, lang, T0 + timedelta(minutes=minutes), url or f"https://{outlet}/{i}", f,
                    f.folded_text.split(), is_denial("", text))

    nodes = [
        node(4, "ntv", "sq", EDITED, 90),  # arrives first, published later
        node(1, "bild", "de", german, 0, "https://bild.de/1"),
        node(2, "telegrafi", "sq", ORIGINAL, 40),
        node(3, "b92", "sr", SERBIAN, 120),
        node(5, "mod", "sq", "Ministria e quajti dezinformim raportimin e gazetës Bild për 600 ushtarët.", 200),
    ]
    edges = {e.article_id: e for e in build_tree(nodes, aliases)}
    assert edges[1].kind == "origin" and edges[1].source_id is None
    assert (edges[2].source_id, edges[2].kind) == (1, "attribution")  # "Sipas Bild"
    assert (edges[4].source_id, edges[4].kind) == (2, "copy")
    assert edges[3].source_id == 1 and edges[3].kind == "attribution"  # "Prema pisanju lista Bild"
    assert edges[5].kind == "denial" and edges[5].source_id == 1
    assert "dezinformim" in edges[5].evidence["denial_terms"]  # type: ignore[operator]


def test_may_change_never_misses_an_edge_that_a_newcomer_changes() -> None:
    """Soundness of the shortcut placement takes for an out-of-order newcomer: on random stories,
    every later edge that differs between the tree without and with the newcomer is one that
    may_change flags (copies, links, credits and shared facts all occur)."""
    import random

    import numpy as np

    from stories.features import Features
    from stories.propagation import may_change

    rng = random.Random(5)
    outlets = [f"outlet{i}" for i in range(6)]
    aliases = {o: alias_tokens([o]) for o in outlets}
    bases = [np.array([rng.getrandbits(32) for _ in range(64)], dtype=np.uint64) for _ in range(3)]
    changed_seen = flagged_without_change = 0
    for trial in range(150):
        nodes = []
        for i in range(rng.randint(3, 12)):
            sig = bases[rng.randrange(3)].copy()
            for k in rng.sample(range(64), rng.choice([0, 10, 30, 64])):
                sig[k] = rng.getrandbits(32)
            outlet = rng.choice(outlets)
            text = f"sipas {rng.choice(outlets)} lajmi" if rng.random() < 0.3 else "lajmi i dites"
            links = frozenset({f"https://x/{rng.randrange(12)}"}) if rng.random() < 0.2 else frozenset()
            f = Features(f"h{trial}-{i}", sig, frozenset(rng.sample("abcdef", rng.randint(0, 4))),
                         frozenset(rng.sample(["600", "1999", "4767"], rng.randint(0, 2))), links,
                         rng.choice(["sq", "de"]), 3, text)
            nodes.append(Node(i, outlet, f.language, T0 + timedelta(minutes=rng.randrange(1000)), f"https://x/{i}",
                              f, text.split(), ["denied"] if rng.random() < 0.2 else []))
        nodes.sort(key=lambda n: (n.published, n.article_id))
        at = rng.randrange(1, len(nodes))
        newcomer = nodes[at]
        before = {e.article_id: e for e in build_tree(nodes[:at] + nodes[at + 1:], aliases)}
        after = {e.article_id: e for e in build_tree(nodes, aliases)}
        for later in nodes[at + 1:]:
            old, new = before[later.article_id], after[later.article_id]
            overlap = float(np.count_nonzero(later.features.signature == newcomer.features.signature)) / 64
            credits = frozenset(c.outlet for c in credited_outlets(later.tokens, aliases, later.outlet))
            earlier = old.source_id in {n.article_id for n in nodes[:at]}
            flagged = may_change(newcomer, later, overlap, credits, (old.kind, old.score, old.evidence), earlier)
            if (old.source_id, old.kind, old.score, old.evidence) != (new.source_id, new.kind, new.score, new.evidence):
                changed_seen += 1
                assert flagged, (trial, later.article_id, old, new)
            elif flagged:
                flagged_without_change += 1
    assert changed_seen >= 20  # the random stories did exercise the newcomer changing later edges
    assert flagged_without_change < 10 * changed_seen  # and the shortcut still skips most unchanged ones
