"""Placing an article in a story: storage gathers the candidates, stories/ decides, storage writes.

Called by ingest() inside the article's transaction, after the article row (with its watch
matches) is flushed.

The stories are meant to be the ones that placing every article in publication order would give,
whatever order the feeds deliver them in. An article's decision depends only on the stories formed
by the articles published before it, so an article that arrives late (published before articles
of the stories it was compared with) re-decides those later articles: they are taken out of their
stories, the newcomer is placed, and they are placed again after it, earliest first. One level of
this is done per arrival, bounded by REPLAY_MAX; in publication order nothing is replayed.

An article's propagation edge likewise depends only on the articles published before it: the usual
newcomer is the latest of its story and costs one edge; a story whose membership changed otherwise
has its tree rebuilt.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from spreadwatch.corrections import constrain, fix_links
from spreadwatch.settings import Settings
from storage import stories_repo as repo
from storage.models import Article, Story
from stories.attribution import alias_tokens, credited_outlets, is_denial
from stories.cluster import Candidate, Decision, StoryProfile, assign
from stories.features import Features, band_keys, extract_features, pack, unpack
from stories.propagation import Edge, Node, build_tree, edges_at, later_edges_to_redo

# A late article re-decides the later articles of the stories it may belong to: those whose join
# probability is at least this (far below the join threshold: a story the newcomer cannot join
# cannot be changed by it), at most REPLAY_MAX of them, earliest first.
REPLAY_MIN = 0.05
REPLAY_MAX = 300


@dataclass
class Placement:
    story_id: int
    created: bool
    merged_story_ids: list[int] = field(default_factory=list)
    changed_story_ids: list[int] = field(default_factory=list)
    reason: str = ""
    articles: list[Article] = field(default_factory=list)  # the story's articles, for the alert rules
    replayed: int = 0  # later articles re-decided because this one arrived late


class _Recent:
    """What is derived from an article's text may be kept by the process: a small LRU. A worker's
    poll threads put into it while its placement thread reads: the lookups and updates hold a lock
    (the computing does not: two threads may compute one value, and either is kept)."""

    def __init__(self, size: int = 4096) -> None:
        self.size, self.data = size, OrderedDict()  # type: ignore[var-annotated]
        self.lock = threading.Lock()

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        with self.lock:
            hit = self.data.get(key)
            if hit is not None:
                self.data.move_to_end(key)
                return hit
        value = compute()
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            if len(self.data) > self.size:
                self.data.popitem(last=False)
        return value


class _FeatureCache(_Recent):
    """Features are derived from text: keyed by the article and its content."""

    def get(self, a: Article) -> Features:  # type: ignore[override]
        return super().get((a.id, a.content_hash), lambda: extract_features(
            a.title, a.text, a.language, tuple(a.links or ()), a.content_hash))

    def put(self, a: Article, features: Features) -> None:
        super().get((a.id, a.content_hash), lambda: features)


_features = _FeatureCache()
_aliases: dict[int, tuple[Settings, dict[str, list[tuple[str, ...]]]]] = {}


def remember_features(article: Article, features: Features) -> None:
    """Features computed before the article's row was stored (ingest's prepare()), for its placement
    later in this process (the worker pool's `place` job), keyed by the row's id and content."""
    _features.put(article, features)


def outlet_aliases(settings: Settings) -> dict[str, list[tuple[str, ...]]]:
    hit = _aliases.get(id(settings))
    if hit is None or hit[0] is not settings:
        table = {o.key: alias_tokens([o.name, o.key, *o.aliases]) for o in settings.outlets}
        hit = _aliases[id(settings)] = (settings, table)
    return hit[1]


@dataclass
class Choice:
    """The decision for one article, and what was computed on the way that the writes reuse."""

    decision: Decision
    band_keys: list[int]
    when: datetime
    window: timedelta


def place_article(session, article: Article, settings: Settings, features: Features | None = None,  # type: ignore[no-untyped-def]
                  denial_terms: list[str] | None = None) -> Placement:
    """Index the article, join or start a story (re-deciding the later articles of the stories it
    was compared with if it arrived late), and bring the changed stories' trees up to date.
    `features` and `denial_terms` are the article's, if the caller computed them already."""
    repo.lock_stories(session)
    if features is not None:
        _features.put(article, features)
    feats = _features.get(article)
    credits = _credited(feats, article.outlet.key, settings)
    denial = denial_terms if denial_terms is not None else is_denial(article.title, article.text)
    choice = choose_story(session, article, settings)
    repo.save_bands(session, article.id, choice.band_keys)
    later = _later_articles(session, article, choice)
    # written after the choice, which reads only other articles; set by _join once the story is
    # found or made, so that the row's signature, features and story go out in one UPDATE
    row = (pack(feats.signature), {**feats.stored(), "credits": sorted(credits), "denial": denial})
    if later:
        article.minhash, article.features = row
        return _place_with_replay(session, article, later, settings)
    story, created = _join(session, article, choice.decision, [], row)
    merged = list(choice.decision.merge)
    if merged:
        repo.merge_stories(session, story.id, merged)
        session.flush()
        rebuild_profile(session, story, settings)
    articles = update_story(session, story, article, settings, rebuild=bool(merged) or created)
    return Placement(story.id, created, merged, [story.id], choice.decision.reason, articles)


def choose_story(session, article: Article, settings: Settings) -> Choice:  # type: ignore[no-untyped-def]
    """Which story the article belongs to (reads only): identical text, copies found through the
    LSH index, links, then the live stories sharing some of its terms, names, numbers or credited
    outlets, each compared as a whole."""
    feats = _features.get(article)
    keys = band_keys(feats.signature)
    when = repo.article_time(article)
    window = timedelta(hours=settings.stories.window_hours)
    # identical normalised text has identical features: the stored twin needs no recomputing
    hashed = [Candidate(aid, sid, feats) for aid, sid in repo.same_hash(session, article.content_hash, article.id)]
    near = [Candidate(aid, sid, _signature_only(sig, article.language))
            for aid, sid, sig in repo.lsh_candidates(session, keys, article.id)]
    credits = _credited(feats, article.outlet.key, settings)
    stories = repo.stories_sharing(session, query_terms(feats, credits, article.outlet.key), when, window)
    decision = assign(feats, when, hashed, near, [_profile(s) for s in stories], window, credits,
                      outlet=article.outlet.key)
    return Choice(constrain(session, article, decision), keys, when, window)


def query_terms(feats: Features, credits: frozenset[str], outlet: str, lemmas: int = 15, anchors: int = 20) -> set[str]:
    """What an article asks the story index: its heaviest lemmas and names, its numbers, the outlets
    it credits, and stories crediting its own outlet (the namespaces of StoryProfile.index_terms)."""
    out = {t for t, _ in sorted(feats.terms.items(), key=lambda kv: -kv[1])[:lemmas]}
    out |= {t for t, _ in sorted(feats.anchors.items(), key=lambda kv: -kv[1])[:anchors]}
    return out | {"@" + c for c in credits} | {"^" + outlet}


def _credited(feats: Features, outlet: str, settings: Settings) -> frozenset[str]:
    return frozenset(c.outlet for c in credited_outlets(feats.folded_text.split(), outlet_aliases(settings), outlet))


def _later_articles(session, article: Article, choice: Choice) -> list[Article]:  # type: ignore[no-untyped-def]
    """Articles published after this one in the stories it may belong to: its arrival can change them."""
    when = choice.when
    near = {s.profile.story_id for s in choice.decision.scored
            if (s.probability >= REPLAY_MIN or s.evidence.credited) and s.profile.last is not None
            and s.profile.last > when}
    if choice.decision.story_id is not None:  # a copy or link joins a story whatever its probability
        story = session.get_one(Story, choice.decision.story_id)
        if story.last_seen_at > when:
            near.add(story.id)
    return repo.published_after(session, near, when, REPLAY_MAX) if near else []


def _place_with_replay(session, article: Article, later: list[Article],  # type: ignore[no-untyped-def]
                       settings: Settings) -> Placement:
    """Take the later articles out of their stories, place the newcomer, place them again in order.
    A story id follows its articles: an article that must start a story again takes back the one it
    left if that is still empty (so its alerts stay with it); stories left empty are retired into
    the story their first article joined."""
    former = {a.id: a.story_id for a in later}
    emptied = _detach(session, later, settings)
    first, touched, merged = _place_in_order(session, [article] + later, former, set(emptied), settings)
    story, created, decision = first
    articles: list[Article] = []
    for sid in sorted(touched):
        s = session.get_one(Story, sid)
        if s.status != "active":
            continue
        rows = rebuild_story(session, s, settings)
        if sid == story.id:
            articles = rows
    return Placement(story.id, created and story.id not in emptied, merged, sorted(touched | set(emptied)),
                     decision.reason, articles, replayed=len(later))


def _place_in_order(session, articles: list[Article], former: dict[int, int | None], spare: set[int],  # type: ignore[no-untyped-def]
                    settings: Settings) -> tuple[tuple[Story, bool, Decision], set[int], list[int]]:
    """Place detached articles one by one in this order; an article that starts a story takes back
    the one it left if that is still empty (`spare`); stories left empty are retired. Returns the
    first article's (story, created, decision), the stories touched and the stories merged."""
    touched: set[int] = set()
    first: tuple[Story, bool, Decision] | None = None
    merged: list[int] = []
    for a in articles:
        decision = choose_story(session, a, settings).decision
        own = [former[a.id]] if former.get(a.id) in spare else []
        story, created = _join(session, a, decision, own)  # type: ignore[arg-type]
        spare.discard(story.id)
        if decision.merge:
            repo.merge_stories(session, story.id, decision.merge)
            merged += decision.merge
            session.flush()
            rebuild_profile(session, story, settings)
        touched.add(story.id)
        if first is None:
            first = (story, created, decision)
    _retire(session, sorted(sid for sid in spare if sid not in touched))
    return first, touched, merged  # type: ignore[return-value]


def replace_articles(session, articles: list[Article], settings: Settings,  # type: ignore[no-untyped-def]
                     restore: dict[int, int] | None = None) -> list[int]:
    """Take these articles out of their stories and place them again in publication order, as if
    they arrived in that order (with the analysts' corrections): a rebuild, whole or of the stories
    a correction's undo touches. `restore` gives articles the (merged, now empty) story they should
    take back if they start one. Returns the stories changed; their trees and counts are rebuilt."""
    if not articles:
        return []
    repo.lock_stories(session)
    ordered = sorted(articles, key=lambda a: (repo.article_time(a), a.id))
    former = {a.id: a.story_id for a in ordered}
    emptied = _detach(session, ordered, settings)
    former.update(restore or {})
    spare = set(emptied) | set((restore or {}).values())
    _, touched, _ = _place_in_order(session, ordered, former, spare, settings)
    for sid in sorted(touched):
        s = session.get_one(Story, sid)
        if s.status == "active":
            rebuild_story(session, s, settings)
    return sorted(touched | set(emptied))


def _detach(session, articles: list[Article], settings: Settings) -> set[int]:  # type: ignore[no-untyped-def]
    """Take these articles out of their stories; the stories' profiles are recomputed from what is
    left. Returns the stories left with no article."""
    stories = {a.story_id for a in articles if a.story_id is not None}
    for a in articles:
        a.story_id = None
    session.flush()
    emptied = set()
    for sid in sorted(stories):
        story = session.get_one(Story, sid)
        if not rebuild_profile(session, story, settings):
            emptied.add(sid)
    return emptied


def _retire(session, story_ids: list[int]) -> None:  # type: ignore[no-untyped-def]
    """Stories a replay left empty and did not reuse point to where their first article went."""
    for sid in story_ids:
        story = session.get_one(Story, sid)
        went = session.get(Article, story.origin_article_id) if story.origin_article_id else None
        story.status = "merged"
        story.merged_into_id = went.story_id if went is not None and went.story_id != sid else None
        repo.replace_terms(session, sid, (), story.last_seen_at)


def _join(session, article: Article, decision: Decision, spare: list[int],  # type: ignore[no-untyped-def]
          row: tuple[bytes, dict[str, Any]] | None = None) -> tuple[Story, bool]:
    """Put the article in the decided story, or in a new one (the spare emptied story given, if any);
    the story's profile and index terms gain the article, and the article keeps why it is there
    (`row`: the article's signature and stored features, written with its story)."""
    # the story is found or made before the article's row changes (loading or inserting it would
    # flush the row half-written): its story, placement and features then go out in one UPDATE
    with session.no_autoflush:
        if decision.story_id is not None:
            story, created = session.get_one(Story, decision.story_id), False
        elif spare:
            story, created = session.get_one(Story, spare.pop(0)), True
            story.fingerprint, story.status, story.merged_into_id = {}, "active", None
            when = repo.article_time(article)
            story.first_seen_at = story.last_seen_at = when
            story.origin_article_id, story.title = article.id, article.title
        else:
            story, created = repo.new_story(session, article), True
    if row is not None:
        article.minhash, article.features = row
    article.story_id = story.id
    article.features = {**(article.features or {}), "placement": {
        "reason": decision.reason, "score": decision.score, "evidence": decision.evidence}}
    # a profile written by this engine is what the index holds: its terms need not be read back
    known = bool(story.fingerprint) and "centroid" in story.fingerprint
    profile = _profile(story) if story.fingerprint else StoryProfile(story.id)
    held = (profile.index_terms(), story.last_seen_at) if known else (None, None)
    profile.add(_features.get(article), repo.article_time(article), article.outlet.key, article.canonical_url,
                frozenset((article.features or {}).get("credits", ())))
    _write_profile(session, story, profile, *held)
    session.flush()
    return story, created


def _write_profile(session, story: Story, profile: StoryProfile, held_terms: set[str] | None = None,  # type: ignore[no-untyped-def]
                   held_seen: datetime | None = None) -> None:
    story.fingerprint = profile.to_json()
    story.first_seen_at, story.last_seen_at = profile.first, profile.last  # type: ignore[assignment]
    repo.replace_terms(session, story.id, profile.index_terms(), story.last_seen_at, held_terms, held_seen)


def rebuild_profile(session, story: Story, settings: Settings) -> bool:  # type: ignore[no-untyped-def]
    """Recompute a story's profile and index terms from its articles; False if it has none."""
    articles = _story_articles(session, story.id)
    if not articles:
        story.fingerprint = {}
        return False
    profile = StoryProfile(story.id)
    for a in articles:
        profile.add(_stored_features(a), repo.article_time(a), a.outlet.key, a.canonical_url,
                    frozenset((a.features or {}).get("credits", ())))
    _write_profile(session, story, profile)
    return True


def _stored_features(a: Article) -> Features:
    """The features kept on the row when they exist (the text may be gone), else computed from it."""
    data = a.features
    if not data:
        return _features.get(a)
    return Features(a.content_hash, unpack(a.minhash) if a.minhash else _features.get(a).signature,
                    frozenset(data.get("names", ())), frozenset(data.get("numbers", ())), frozenset(a.links or ()),
                    _features.get(a).language if not a.language else a.language.split("-")[0][:2],
                    terms=dict(data.get("terms", {})), anchors=dict(data.get("anchors", {})))


def _signature_only(minhash: bytes, language: str) -> Features:
    """A candidate as the copy test sees it: its stored signature, no text re-read or re-hashed."""
    return Features("", unpack(minhash), frozenset(), frozenset(), frozenset(), language)


def _profile(s: Any) -> StoryProfile:
    """A story's profile, from a Story or a row with its id, fingerprint and first/last seen times."""
    return StoryProfile.from_json(s.id, s.fingerprint, s.first_seen_at, s.last_seen_at)


def update_story(session, story: Story, article: Article, settings: Settings, *,  # type: ignore[no-untyped-def]
                 rebuild: bool = False) -> list[Article]:
    """Bring the story's tree and summary up to date after `article` joined it (the whole tree when
    `rebuild`); returns the story's articles (by publication)."""
    articles = _story_articles(session, story.id)
    if rebuild:
        return rebuild_story(session, story, settings, articles)
    _insert_into_story(session, story, articles, article, settings)
    return articles


def _story_articles(session, story_id: int) -> list[Article]:  # type: ignore[no-untyped-def]
    """A story's articles in publication order (their watches are read by story_watches)."""
    return sorted(repo.story_articles(session, story_id, matches=False), key=lambda a: (repo.article_time(a), a.id))


def _write_links(session, article_ids: list[int], edges: list[Any]) -> None:  # type: ignore[no-untyped-def]
    """Store these articles' tree edges, with the analysts' link corrections applied (the one way
    links are written)."""
    repo.replace_links(session, article_ids, fix_links(session, [_link_row(e) for e in edges]))


def rebuild_story(session, story: Story, settings: Settings,  # type: ignore[no-untyped-def]
                  articles: list[Article] | None = None) -> list[Article]:
    """Recompute the propagation tree and summary of a story from all its articles."""
    if articles is None:
        articles = _story_articles(session, story.id)
    edges = build_tree([_node(a) for a in articles], outlet_aliases(settings))
    _write_links(session, [a.id for a in articles], edges)
    repo.refresh_story(session, story, articles, edges[0].article_id)
    return articles


def _insert_into_story(session, story: Story, articles: list[Article], article: Article,  # type: ignore[no-untyped-def]
                       settings: Settings) -> None:
    """`article` joined the story (`articles`, in publication order): recompute the edges from its
    place on; the edges of the articles published before it cannot change."""
    at = next(i for i, a in enumerate(articles) if a.id == article.id)
    aliases = outlet_aliases(settings)
    if at == 0:  # a new origin: every edge may change
        edges = build_tree([_node(a) for a in articles], aliases)
        _write_links(session, [a.id for a in articles], edges)
    else:
        nodes = [_node(a, whole=False) for a in articles]
        stored = repo.links_of(session, [a.id for a in articles[at + 1:]])
        redo = [at] + later_edges_to_redo(nodes, at, stored, lambda n: _credits(n, aliases))
        for i in redo[1:]:
            nodes[i] = _node(articles[i])
        nodes[at] = _node(article)
        edges = edges_at(nodes, redo, aliases)
        _write_links(session, [nodes[i].article_id for i in redo], edges)
    repo.refresh_story(session, story, articles, articles[0].id)


_credit_cache: tuple[Any, _Recent] = (None, _Recent())


def _credits(node: Node, aliases: dict[str, list[tuple[str, ...]]]) -> frozenset[str]:
    """Outlets an article credits: they depend on its text, its outlet and the alias table."""
    global _credit_cache
    if _credit_cache[0] is not aliases:
        _credit_cache = (aliases, _Recent())
    return _credit_cache[1].get((node.features.content_hash, node.outlet), lambda: frozenset(
        c.outlet for c in credited_outlets(node.features.folded_text.split(), aliases, node.outlet)))


def _node(a: Article, *, whole: bool = True) -> Node:
    """An article as the tree sees it; `whole=False` leaves out what only its own edge needs."""
    f = _features.get(a)
    if not whole:
        return Node(a.id, a.outlet.key, a.language, repo.article_time(a), a.canonical_url, f, [])
    stored = (a.features or {}).get("denial")
    return Node(a.id, a.outlet.key, a.language, repo.article_time(a), a.canonical_url, f,
                f.folded_text.split(), stored if stored is not None else is_denial(a.title, a.text))


def _link_row(e: Edge) -> dict[str, Any]:
    return {"article_id": e.article_id, "source_article_id": e.source_id, "kind": e.kind, "score": e.score,
            "evidence": e.evidence}


