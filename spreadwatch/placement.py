"""Placing an article in a story: storage gathers the candidates, stories/ decides, storage writes.

Called by ingest() inside the article's transaction, after the article row (with its watch
matches) is flushed. An article's edge depends only on the articles published before it, so when
a newcomer joins a story only its own edge and the edges of the articles published after it can
change: the usual newcomer is the latest article of its story, and then only its own edge, the
story's counts and its index terms are written. One that arrives out of order (published before
others of its story) also has the later articles' edges recomputed. A new story or a merge has the
whole tree rebuilt. Either way the result is the tree a full rebuild gives, whatever the arrival
order.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from spreadwatch.settings import Settings
from storage import stories_repo as repo
from storage.models import Article, Story
from stories.attribution import alias_tokens, credited_outlets, is_denial
from stories.cluster import Candidate, Decision, StoryProfile, assign, idf_from_counts, same_story, story_terms
from stories.features import Features, band_keys, extract_features, pack, unpack
from stories.propagation import Edge, Node, build_tree, edges_at, later_edges_to_redo


@dataclass
class Placement:
    story_id: int
    created: bool
    merged_story_ids: list[int] = field(default_factory=list)
    changed_story_ids: list[int] = field(default_factory=list)
    reason: str = ""
    articles: list[Article] = field(default_factory=list)  # the story's articles, for the alert rules


class _Recent:
    """What is derived from an article's text may be kept by the process: a small LRU."""

    def __init__(self, size: int = 4096) -> None:
        self.size, self.data = size, OrderedDict()  # type: ignore[var-annotated]

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        hit = self.data.get(key)
        if hit is None:
            hit = self.data[key] = compute()
            if len(self.data) > self.size:
                self.data.popitem(last=False)
        self.data.move_to_end(key)
        return hit


class _FeatureCache(_Recent):
    """Features are derived from text: keyed by the article and its content."""

    def get(self, a: Article) -> Features:  # type: ignore[override]
        return super().get((a.id, a.content_hash), lambda: extract_features(
            a.title, a.text, a.language, tuple(a.links or ()), a.content_hash))


_features = _FeatureCache()
_aliases: dict[int, tuple[Settings, dict[str, list[tuple[str, ...]]]]] = {}


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


def place_article(session, article: Article, settings: Settings) -> Placement:  # type: ignore[no-untyped-def]
    """Index the article, join or start a story (merging any it bridges), update that story's tree."""
    repo.lock_stories(session)
    choice = choose_story(session, article, settings)
    repo.save_bands(session, article.id, choice.band_keys)
    decision = choice.decision
    if decision.story_id is None:
        story, created = repo.new_story(session, article), True
    else:
        article.story_id, created = decision.story_id, False
        story = session.get_one(Story, decision.story_id)
    merged = list(decision.merge)
    if merged:
        repo.merge_stories(session, story.id, merged)
    session.flush()
    articles, changed = update_story(session, story, article, settings, rebuild=bool(merged) or created)
    # whether the story now tells the same facts as another can only change with its index terms
    twins = _twins(session, story, choice.when, choice.window) if changed else []
    if twins:
        repo.merge_stories(session, story.id, twins)
        merged += twins
        session.flush()
        articles, _ = update_story(session, story, article, settings, rebuild=True)
    return Placement(story.id, created, merged, [story.id], decision.reason, articles)


def choose_story(session, article: Article, settings: Settings) -> Choice:  # type: ignore[no-untyped-def]
    """Which story the article belongs to (reads only): identical text, copies found through the
    LSH index, then the stories that share its names, numbers and credited outlets."""
    feats = _features.get(article)
    article.minhash = pack(feats.signature)
    keys = band_keys(feats.signature)
    when = repo.article_time(article)
    window = timedelta(hours=settings.stories.window_hours)
    # identical normalised text has identical features: the stored twin needs no recomputing
    hashed = [Candidate(aid, sid, feats) for aid, sid in repo.same_hash(session, article.content_hash, article.id)]
    near = [Candidate(aid, sid, _signature_only(sig, article.language))
            for aid, sid, sig in repo.lsh_candidates(session, keys, article.id)]
    credits = frozenset(c.outlet for c in credited_outlets(feats.folded_text.split(), outlet_aliases(settings),
                                                           article.outlet.key))
    terms = set(feats.names) | {"#" + n for n in feats.numbers} | {"@" + c for c in credits}
    # only stories sharing some evidence are scored (the index), weighted against recent stories
    stories, df, n_background = repo.stories_sharing(session, terms, when, window)
    decision = assign(feats, when, hashed, near, [_profile(s) for s in stories], window, credits,
                      idf_from_counts(df, n_background))
    return Choice(decision, keys, when, window)


def _twins(session, story: Story, when, window: timedelta) -> list[int]:  # type: ignore[no-untyped-def]
    """Other live stories telling the same facts as this one (e.g. a relay chain that began in
    another language before its original arrived): to merge into it."""
    profile = _profile(story)
    others, df, n_background = repo.stories_sharing(session, story_terms(profile), when, window)
    return same_story(profile, [_profile(s) for s in others], window, idf_from_counts(df, n_background))


def _signature_only(minhash: bytes, language: str) -> Features:
    """A candidate as the copy test sees it: its stored signature, no text re-read or re-hashed."""
    return Features("", unpack(minhash), frozenset(), frozenset(), frozenset(), language)


def _profile(s: Any) -> StoryProfile:
    """A story's evidence, from a Story or a row with its id, fingerprint and first/last seen times."""
    fp = s.fingerprint or {}
    return StoryProfile(s.id, Counter(fp.get("names", {})), Counter(fp.get("numbers", {})), set(fp.get("urls", [])),
                        s.first_seen_at, s.last_seen_at, int(fp.get("size", 1)), set(fp.get("outlets", [])))


def update_story(session, story: Story, article: Article, settings: Settings, *,  # type: ignore[no-untyped-def]
                 rebuild: bool = False) -> tuple[list[Article], bool]:
    """Bring the story's tree, summary and index terms up to date after `article` joined it;
    returns the story's articles (by publication) and whether its index terms changed."""
    articles = _story_articles(session, story.id)
    if rebuild or not story.fingerprint:
        return articles, rebuild_story(session, story, settings, articles)
    return articles, _insert_into_story(session, story, articles, article, settings)


def _story_articles(session, story_id: int) -> list[Article]:  # type: ignore[no-untyped-def]
    """A story's articles in publication order (their watches are read by story_watches)."""
    return sorted(repo.story_articles(session, story_id, matches=False), key=lambda a: (repo.article_time(a), a.id))


def rebuild_story(session, story: Story, settings: Settings,  # type: ignore[no-untyped-def]
                  articles: list[Article] | None = None) -> bool:
    """Recompute the propagation tree and summary of a story from all its articles."""
    if articles is None:
        articles = _story_articles(session, story.id)
    edges = build_tree([_node(a) for a in articles], outlet_aliases(settings))
    repo.replace_links(session, [a.id for a in articles], [_link_row(e) for e in edges])
    names, numbers = Counter(), Counter()  # type: ignore[var-annotated]
    for a in articles:
        f = _features.get(a)
        names.update(f.names)
        numbers.update(f.numbers)
    return _write_summary(session, story, articles, edges[0].article_id, names, numbers)


def _insert_into_story(session, story: Story, articles: list[Article], article: Article,  # type: ignore[no-untyped-def]
                       settings: Settings) -> bool:
    """`article` joined the story (`articles`, in publication order): recompute the edges from its
    place on and add its counts; the edges of the articles published before it cannot change."""
    at = next(i for i, a in enumerate(articles) if a.id == article.id)
    aliases = outlet_aliases(settings)
    if at == 0:  # a new origin: every edge may change
        nodes = [_node(a) for a in articles]
        edges = build_tree(nodes, aliases)
        repo.replace_links(session, [a.id for a in articles], [_link_row(e) for e in edges])
    else:
        nodes = [_node(a, whole=False) for a in articles]
        stored = repo.links_of(session, [a.id for a in articles[at + 1:]])
        redo = [at] + later_edges_to_redo(nodes, at, stored, lambda n: _credits(n, aliases))
        for i in redo[1:]:
            nodes[i] = _node(articles[i])
        nodes[at] = _node(article)
        edges = edges_at(nodes, redo, aliases)
        repo.replace_links(session, [nodes[i].article_id for i in redo], [_link_row(e) for e in edges])
    fp = story.fingerprint
    names, numbers = Counter(fp.get("names", {})), Counter(fp.get("numbers", {}))
    names.update(nodes[at].features.names)
    numbers.update(nodes[at].features.numbers)
    return _write_summary(session, story, articles, articles[0].id, names, numbers)


_credit_cache: tuple[Any, _Recent] = (None, _Recent())


def _credits(node: Node, aliases: dict[str, list[tuple[str, ...]]]) -> frozenset[str]:
    """Outlets an article credits: they depend on its text, its outlet and the alias table."""
    global _credit_cache
    if _credit_cache[0] is not aliases:
        _credit_cache = (aliases, _Recent())
    return _credit_cache[1].get((node.features.content_hash, node.outlet), lambda: frozenset(
        c.outlet for c in credited_outlets(node.features.folded_text.split(), aliases, node.outlet)))


def _write_summary(session, story: Story, articles: list[Article], origin_id: int,  # type: ignore[no-untyped-def]
                   names: Counter[str], numbers: Counter[str]) -> bool:
    urls = {a.canonical_url for a in articles}
    repo.refresh_story(session, story, articles, origin_id,
                       {**repo.fingerprint(names, numbers, urls), "size": len(articles),
                        "outlets": sorted({a.outlet.key for a in articles})})
    return repo.replace_terms(session, story.id, story_terms(_profile(story)), story.last_seen_at)


def _node(a: Article, *, whole: bool = True) -> Node:
    """An article as the tree sees it; `whole=False` leaves out what only its own edge needs."""
    f = _features.get(a)
    if not whole:
        return Node(a.id, a.outlet.key, a.language, repo.article_time(a), a.canonical_url, f, [])
    return Node(a.id, a.outlet.key, a.language, repo.article_time(a), a.canonical_url, f,
                f.folded_text.split(), is_denial(a.title, a.text))


def _link_row(e: Edge) -> dict[str, Any]:
    return {"article_id": e.article_id, "source_article_id": e.source_id, "kind": e.kind, "score": e.score,
            "evidence": e.evidence}

