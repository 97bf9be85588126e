"""Placing an article in a story: storage gathers the candidates, stories/ decides, storage writes.

Called by ingest() inside the article's transaction, after the article row (with its watch
matches) is flushed.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta

from spreadwatch.settings import Settings
from storage import stories_repo as repo
from storage.models import Article, Story
from stories.attribution import alias_tokens, credited_outlets, is_denial
from stories.cluster import Candidate, StoryProfile, assign, idf_from_counts, same_story, story_terms
from stories.features import Features, band_keys, extract_features, pack, unpack
from stories.propagation import Node, build_tree

MAX_TREE = 400  # a story bigger than this keeps its tree and only places newcomers (cost stays flat)


@dataclass
class Placement:
    story_id: int
    created: bool
    merged_story_ids: list[int] = field(default_factory=list)
    changed_story_ids: list[int] = field(default_factory=list)
    reason: str = ""


class _FeatureCache:
    """Features are derived from text, so a process may keep some: a small LRU, keyed by content."""

    def __init__(self, size: int = 4096) -> None:
        self.size, self.data = size, OrderedDict()  # type: ignore[var-annotated]

    def get(self, a: Article) -> Features:
        key = (a.id, a.content_hash)
        hit = self.data.get(key)
        if hit is None:
            hit = extract_features(a.title, a.text, a.language, tuple(a.links or ()), a.content_hash)
            self.data[key] = hit
            if len(self.data) > self.size:
                self.data.popitem(last=False)
        self.data.move_to_end(key)
        return hit


_features = _FeatureCache()
_aliases: dict[int, tuple[Settings, dict[str, list[tuple[str, ...]]]]] = {}


def outlet_aliases(settings: Settings) -> dict[str, list[tuple[str, ...]]]:
    hit = _aliases.get(id(settings))
    if hit is None or hit[0] is not settings:
        table = {o.key: alias_tokens([o.name, o.key, *o.aliases]) for o in settings.outlets}
        hit = _aliases[id(settings)] = (settings, table)
    return hit[1]


def place_article(session, article: Article, settings: Settings) -> Placement:  # type: ignore[no-untyped-def]
    """Index the article, join or start a story (merging any it bridges), rebuild that story's tree."""
    feats = _features.get(article)
    article.minhash = pack(feats.signature)
    keys = band_keys(feats.signature)
    repo.save_bands(session, article.id, keys)
    when = repo.article_time(article)
    window = timedelta(hours=settings.stories.window_hours)
    hashed = [Candidate(a.id, a.story_id, _features.get(a)) for a in repo.same_hash(session, article.content_hash, article.id)]
    near = [Candidate(a.id, a.story_id, _stored(a)) for a in
            repo.articles_by_id(session, repo.lsh_candidates(session, keys, article.id)) if a.story_id]
    credits = frozenset(c.outlet for c in credited_outlets(feats.folded_text.split(), outlet_aliases(settings),
                                                           article.outlet.key))
    terms = set(feats.names) | {"#" + n for n in feats.numbers} | {"@" + c for c in credits}
    # only stories sharing some evidence are scored (the index), weighted against all live stories
    stories, df, n_live = repo.stories_sharing(session, terms, when, window)
    idf = idf_from_counts(df, n_live)
    decision = assign(feats, when, hashed, near, [_profile(s) for s in stories], window, credits, idf)
    if decision.story_id is None:
        story = repo.new_story(session, article)
        created = True
    else:
        article.story_id, created = decision.story_id, False
        story = session.get_one(Story, decision.story_id)
    merged = list(decision.merge)
    if merged:
        repo.merge_stories(session, story.id, merged)
    session.flush()
    rebuild_story(session, story, settings)
    profile = _profile(story)
    others, df, n_live = repo.stories_sharing(session, story_terms(profile), when, window)
    twins = same_story(profile, [_profile(s) for s in others], window, idf_from_counts(df, n_live))
    if twins:
        repo.merge_stories(session, story.id, twins)
        merged += twins
        session.flush()
        rebuild_story(session, story, settings)
    return Placement(story.id, created, merged, [story.id], decision.reason)


def _stored(a: Article) -> Features:
    """A candidate's features; its stored signature avoids re-hashing its text."""
    if a.minhash:
        return Features(a.content_hash, unpack(a.minhash), frozenset(), frozenset(), frozenset(), a.language)
    return _features.get(a)


def _profile(s: Story) -> StoryProfile:
    fp = s.fingerprint or {}
    return StoryProfile(s.id, Counter(fp.get("names", {})), Counter(fp.get("numbers", {})), set(fp.get("urls", [])),
                        s.first_seen_at, s.last_seen_at, int(fp.get("size", 1)), set(fp.get("outlets", [])))


def rebuild_story(session, story: Story, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    """Recompute the propagation tree and summary of a story from all its articles."""
    articles = repo.story_articles(session, story.id)
    if len(articles) > MAX_TREE:
        articles = sorted(articles, key=lambda a: (repo.article_time(a), a.id))[:MAX_TREE]
    nodes, names, numbers = [], Counter(), Counter()  # type: ignore[var-annotated]
    for a in articles:
        f = _features.get(a)
        names.update(f.names)
        numbers.update(f.numbers)
        nodes.append(Node(a.id, a.outlet.key, a.language, repo.article_time(a), a.canonical_url, f,
                          f.folded_text.split(), is_denial(a.title, a.text)))
    edges = build_tree(nodes, outlet_aliases(settings))
    repo.replace_links(session, [a.id for a in articles], [
        {"article_id": e.article_id, "source_article_id": e.source_id, "kind": e.kind, "score": e.score,
         "evidence": e.evidence} for e in edges])
    urls = {a.canonical_url for a in articles}
    repo.refresh_story(session, story, articles, edges[0].article_id,
                       {**repo.fingerprint(names, numbers, urls), "size": len(articles),
                        "outlets": sorted({a.outlet.key for a in articles})})
    repo.replace_terms(session, story.id, story_terms(_profile(story)))
