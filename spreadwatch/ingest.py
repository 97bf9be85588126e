"""ingest(): the one entry point every source calls (feed poller, spiders, demo).

One article, one transaction (the caller's session): canonical-URL dedupe, the article row, watch
matches, story placement and alert rules. If any step fails the whole article rolls back, so a
crash can never leave an article without its story or a story change without its alert.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from crawler.draft import ArticleDraft
from crawler.urls import canonicalize
from spreadwatch.settings import OutletConfig, Settings
from storage.models import Article, Outlet, WatchMatch, utcnow
from storage.text import plain
from stories.attribution import is_denial
from stories.features import Features, extract_features
from stories.language import identify
from stories.match import compile_watches, match_article
from stories.normalize import tokens
from spreadwatch.placement import place_article, remember_features
from alerts.rules import evaluate


@dataclass
class IngestResult:
    article_id: int
    created: bool
    watches: list[str] = field(default_factory=list)
    story_id: int | None = None
    alerts: int = 0
    replayed: int = 0  # later articles re-placed because this one arrived after them (placement.py)


_compiled: dict[int, tuple[Any, list[Any]]] = {}
_languages: dict[int, tuple[Any, frozenset[str]]] = {}


def _watches(settings: Settings) -> list[Any]:
    # keyed by identity; the settings object is kept in the value so its id cannot be reused
    hit = _compiled.get(id(settings))
    if hit is None or hit[0] is not settings:
        hit = (settings, compile_watches(list(settings.watches)))
        _compiled[id(settings)] = hit
    return hit[1]


def _expected_languages(settings: Settings) -> frozenset[str]:
    """The languages the configured outlets publish in: the detector believes others only when sure."""
    hit = _languages.get(id(settings))
    if hit is None or hit[0] is not settings:
        hit = (settings, frozenset(o.language for o in settings.outlets if o.language))
        _languages[id(settings)] = hit
    return hit[1]


def content_hash(title: str, text: str) -> str:
    """Hash of the normalised body: identical text under another URL or headline hashes the same."""
    body = " ".join(tokens(text)) or " ".join(tokens(title))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def ensure_outlet(session: Session, cfg: OutletConfig | str) -> Outlet:
    """The outlet row for a configured outlet (or a bare key), created on first use."""
    key = cfg if isinstance(cfg, str) else cfg.key
    outlet = session.scalar(select(Outlet).where(Outlet.key == key))
    if outlet is None:
        try:  # another process may create the same outlet at the same moment
            with session.begin_nested():
                outlet = Outlet(key=key, name=key)
                session.add(outlet)
                session.flush()
        except IntegrityError:
            outlet = session.scalars(select(Outlet).where(Outlet.key == key)).one()
    if not isinstance(cfg, str):
        fields = {"name": cfg.name, "country": cfg.country, "language": cfg.language, "homepage": cfg.homepage,
                  "kind": cfg.kind}
        for name, value in fields.items():
            if getattr(outlet, name) != value:
                setattr(outlet, name, value)
        session.flush()
    return outlet


def find_article(session: Session, url: str) -> Article | None:
    """An already stored article reached by this URL (canonical or as fetched)."""
    canon = canonicalize(url)
    return session.scalar(select(Article).where(or_(Article.canonical_url == canon, Article.url == url)))


@dataclass(frozen=True)
class Prepared:
    """What ingest() derives from a draft's text alone (pure, a few milliseconds): callers compute it
    before opening the article's transaction, where it holds no lock (and a worker pool can spread it)."""

    language: str  # detected from the text (stories/language.py)
    content_hash: str
    features: Features
    matches: list[Any]  # stories.match hits of the configured watches, in the text's language
    denial_terms: list[str]
    script: str = ""  # Latn | Cyrl | "" (no letters of either)


def prepare(draft: ArticleDraft, settings: Settings, prior: str | None = None) -> Prepared:
    """The text's own language and script, hash, story features, watch matches in that language and
    denial terms. The language is read from the text; the outlet's configured language is the prior,
    and the answer for a text too short to tell (the page's declared language only when the outlet
    has none: a page's declaration comes from its theme)."""
    if prior is None:
        try:
            prior = settings.outlet(draft.outlet_key).language or draft.language
        except KeyError:
            prior = draft.language
    title, text = plain(draft.title).strip(), plain(draft.text).strip()  # as the article row stores them
    found = identify(f"{title}\n{text}", prior, _expected_languages(settings))
    language = found.language[:8]
    digest = content_hash(title, text)
    links = tuple(canonicalize(u) for u in draft.links)
    return Prepared(language, digest, extract_features(title, text, language, links, digest),
                    match_article(title, text, _watches(settings), language), is_denial(title, text),
                    found.script)


def ingest(session: Session, draft: ArticleDraft, settings: Settings, *,
           now: datetime | None = None, prepared: Prepared | None = None, place: bool = True) -> IngestResult:
    """Store one article and everything that follows from it, inside the caller's transaction
    (`prepared`: the draft's prepare(), if the caller computed it before the transaction).
    `place=False` stores the article and its watch matches only: it waits, without a story, for
    place_next() (the worker pool's placement job), which places the waiting articles in
    publication order."""
    canon = canonicalize(draft.canonical_url or draft.url)
    existing = session.scalar(select(Article).where(Article.canonical_url == canon))
    if existing is not None:
        return IngestResult(existing.id, created=False, story_id=existing.story_id)
    try:
        cfg: OutletConfig | str = settings.outlet(draft.outlet_key)
    except KeyError:
        cfg = draft.outlet_key
    outlet = ensure_outlet(session, cfg)
    if prepared is None or (not prepared.language and outlet.language):
        prepared = prepare(draft, settings, outlet.language or draft.language or "")
    article = Article(
        outlet_id=outlet.id, canonical_url=canon, url=draft.url, title=plain(draft.title).strip(),
        text=plain(draft.text).strip(), language=prepared.language, script=prepared.script,
        published_at=draft.published_at, first_seen_at=now or utcnow(),
        content_hash=prepared.content_hash, via=draft.via,
        extraction_note=draft.extraction_note, links=[canonicalize(u) for u in draft.links],
    )
    # a savepoint: another process may store the same URL between our check and our insert
    try:
        with session.begin_nested():
            session.add(article)
            session.flush()
    except IntegrityError:
        again = session.scalar(select(Article).where(Article.canonical_url == canon))
        if again is None:
            raise
        return IngestResult(again.id, created=False, story_id=again.story_id)

    result = IngestResult(article.id, created=True)
    for hit in prepared.matches:
        session.add(WatchMatch(article_id=article.id, watch=hit.watch, terms=hit.terms, snippet=hit.snippet))
        result.watches.append(hit.watch)
    session.flush()
    if place:
        _place_and_alert(session, article, settings, result, now, prepared)
    else:  # the placement job, if this process runs it, need not derive them again from the text
        remember_features(article, prepared.features)
    return result


_WAITING = (select(Article).where(Article.story_id.is_(None))
            .options(selectinload(Article.outlet), selectinload(Article.matches))
            .order_by(func.coalesce(Article.published_at, Article.first_seen_at), Article.id))


def settled_mark(session: Session, window: float, now: datetime | None = None) -> datetime | None:
    """While articles may still be stored (polls running), the latest publication time up to which
    the waiting articles may be placed: that of the latest published article that has waited
    `window` seconds since it was stored (it, and everything published before it, go: the low
    watermark of the daemon's PublicationOrder, by the clock instead of by the feeds). None when
    none has waited that long."""
    cutoff = (now or utcnow()) - timedelta(seconds=window)
    return session.scalar(select(func.max(func.coalesce(Article.published_at, Article.first_seen_at)))
                          .where(Article.story_id.is_(None), Article.first_seen_at <= cutoff))


def place_waiting(session: Session, settings: Settings, limit: int = 25,
                  now: datetime | None = None, *, through: datetime | None | bool = True) -> list[IngestResult]:
    """Place up to `limit` articles stored without a story (ingest(place=False)), earliest published
    first, each with its alert rules, in the caller's transaction; [] when none waits. The placement
    lock is taken once, before the articles are chosen (two callers never take one), and held to the
    caller's commit: a batch pays the lock, the reads of the waiting rows and the commit once.
    The stories are those of placing them one at a time: each is placed after the one before it,
    seeing its writes, in the order place_next() would take them. `through`: only articles
    published at or before this time (a settled_mark(); None: none may go yet; True: all)."""
    from storage.stories_repo import lock_stories

    if through is None:
        return []
    lock_stories(session)
    q = _WAITING if through is True else _WAITING.where(
        func.coalesce(Article.published_at, Article.first_seen_at) <= through)
    results = []
    for article in session.scalars(q.limit(limit)).all():
        result = IngestResult(article.id, created=True, watches=[m.watch for m in article.matches])
        _place_and_alert(session, article, settings, result, now, None)  # features cached or from the stored text
        results.append(result)
    return results


def place_next(session: Session, settings: Settings, now: datetime | None = None) -> IngestResult | None:
    """Place the earliest published waiting article (place_waiting() of one); None when none waits."""
    placed = place_waiting(session, settings, 1, now)
    return placed[0] if placed else None


def _place_and_alert(session: Session, article: Article, settings: Settings, result: IngestResult,
                     now: datetime | None, prepared: Prepared | None) -> None:
    features, denial = (prepared.features, prepared.denial_terms) if prepared else (None, None)
    placement = place_article(session, article, settings, features, denial)
    result.story_id, result.replayed = placement.story_id, placement.replayed
    fired = evaluate(session, placement.changed_story_ids, settings, now or utcnow(),
                     {placement.story_id: placement.articles})
    result.alerts = len(fired)
