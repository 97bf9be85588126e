"""The SQL side of stories: the dedup index, candidates, story rows and links, and the read shapes
(story_summary, story_history) that the CLI, the web app and the alerts share."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import and_, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session, selectinload

from storage.models import Article, Link, LshBand, Outlet, Story, StoryTerm, WatchMatch
from storage.queries import iso

# ------------------------------------------------------------------ the dedup index


# Index rows are written with Core executemany, not as ORM objects (the unit of work costs about a
# tenth of a millisecond per object, and an article writes dozens of these rows), on the session's
# connection: past the ORM's bulk-insert path, which cost more per placement than the rows' SQL, and
# without the flush a session statement would make first (the rows they point to are written
# already; placement writes the article's own row once, at its join).

def save_bands(session: Session, article_id: int, keys: list[int]) -> None:
    session.connection().execute(insert(LshBand), [{"article_id": article_id, "band": b, "key": k}
                                                   for b, k in enumerate(keys)])


def lsh_candidates(session: Session, keys: list[int], exclude: int, limit: int = 50) -> list[tuple[int, int, bytes]]:
    """(id, story id, signature) of placed articles sharing an LSH band with these keys, most bands first."""
    params = {f"k{b}": k for b, k in enumerate(keys)}
    rows = _read(session).execute(_lsh_query(len(keys), limit), {**params, "exclude": exclude})
    return [(aid, sid, sig) for aid, sid, sig in rows]


def _read(session: Session):  # type: ignore[no-untyped-def]
    """The session's connection, after writing what the session holds, for the index's read queries:
    they run on every placement, and the ORM's execution path costs more than their SQL."""
    session.flush()
    return session.connection()


_LSH_QUERIES: dict[tuple[int, int], Any] = {}


def _lsh_query(bands: int, limit: int):  # type: ignore[no-untyped-def]
    """The candidate query for this many bands, built once: building sixteen (band, key) comparisons
    per article cost more than running the query. (A row-value IN reads like the same thing, but
    SQLite's planner answers it with a full scan.)"""
    q = _LSH_QUERIES.get((bands, limit))
    if q is None:
        match = or_(*(and_(LshBand.band == b, LshBand.key == bindparam(f"k{b}")) for b in range(bands)))
        ids = (select(LshBand.article_id).where(match, LshBand.article_id != bindparam("exclude"))
               .group_by(LshBand.article_id).order_by(func.count().desc()).limit(limit))
        q = _LSH_QUERIES[(bands, limit)] = select(Article.id, Article.story_id, Article.minhash).where(
            Article.id.in_(ids), Article.story_id.is_not(None), Article.minhash.is_not(None))
    return q


def same_hash(session: Session, content_hash: str, exclude: int) -> list[tuple[int, int]]:
    """(id, story id) of placed articles with the same normalised text."""
    rows = _read(session).execute(_SAME_HASH, {"hash": content_hash, "exclude": exclude})
    return [(aid, sid) for aid, sid in rows]


_SAME_HASH = (select(Article.id, Article.story_id)
              .where(Article.content_hash == bindparam("hash"), Article.id != bindparam("exclude"),
                     Article.story_id.is_not(None)).order_by(Article.id).limit(5))


# A term in more than this share of the recent stories (Kosovo, KFOR, "say") finds nearly every story:
# it still counts in the comparison, but does not pick candidates. In a small collection every term
# picks them. The share is counted over a bounded background of the newest stories, so the count
# stays an index range scan.
BACKGROUND_STORIES = 5000
RETRIEVAL_SHARE, RETRIEVAL_MIN_DF = 0.1, 50
DAY = 86400


def epoch_day(t: datetime) -> int:
    """Days since 1970-01-01 UTC: the term index's unit of recency."""
    return int(t.timestamp() // DAY)


def stories_sharing(session: Session, terms: Iterable[str], around: datetime, window: timedelta,
                    limit: int = 20) -> list[Any]:
    """Live stories sharing any of these terms (most shared first), as rows with the columns a
    profile needs (id, fingerprint, first_seen_at, last_seen_at)."""
    terms = sorted({t[:40] for t in terms})
    if not terms:
        return []
    # The statements are built once and run on the session's connection: the SQL takes about a
    # millisecond, and building four ORM statements around a hundred terms cost several times that
    # per article. The story rows they read are the session's own after this flush.
    conn = _read(session)
    q = _SHARING
    # story_term holds only active stories' terms (merging deletes the merged story's rows). In a big
    # archive the background's stories were seen on or after the floor story's first day (stories are
    # numbered as they start), which bounds the index range; a small one is read whole.
    newest, since = conn.execute(q["background"]).one()
    newest = newest or 0
    floor = newest - BACKGROUND_STORIES
    n_background = newest - max(floor, 0)
    since_day = epoch_day(since) if since and floor > 0 else 0
    common = max(RETRIEVAL_MIN_DF, RETRIEVAL_SHARE * n_background)
    df = dict(conn.execute(q["df"], {"terms": terms, "since_day": since_day, "floor": floor}).all())
    picking = [t for t in terms if df.get(t, 0) <= common] or sorted(terms, key=lambda t: df.get(t, 0))[:3]
    return list(conn.execute(q["stories"], {"picking": picking, "from_day": epoch_day(around - window),
                                            "start": around - window, "end": around + window,
                                            "limit": limit}).all())


def _sharing_queries() -> dict[str, Any]:
    live = and_(Story.status == "active", Story.last_seen_at >= bindparam("start"),
                Story.first_seen_at <= bindparam("end"))
    ids = (select(StoryTerm.story_id).join(Story, Story.id == StoryTerm.story_id)
           .where(StoryTerm.term.in_(bindparam("picking", expanding=True)),
                  StoryTerm.last_day >= bindparam("from_day"), live)
           .group_by(StoryTerm.story_id).order_by(func.count().desc(), StoryTerm.story_id)
           .limit(bindparam("limit")))
    newest = select(func.max(Story.id)).scalar_subquery()
    return {
        # the newest story's number and the first day of the background's first story, in one query
        "background": select(newest, select(Story.first_seen_at).where(Story.id > newest - BACKGROUND_STORIES)
                             .order_by(Story.id).limit(1).scalar_subquery()),
        "df": (select(StoryTerm.term, func.count())
               .where(StoryTerm.term.in_(bindparam("terms", expanding=True)),
                      StoryTerm.last_day >= bindparam("since_day"), StoryTerm.story_id > bindparam("floor"))
               .group_by(StoryTerm.term)),
        "stories": (select(Story.id, Story.fingerprint, Story.first_seen_at, Story.last_seen_at)
                    .where(Story.id.in_(ids)).order_by(Story.id)),
    }


_SHARING = _sharing_queries()  # built once: stories_sharing runs them with its values


def published_after(session: Session, story_ids: Iterable[int], when: datetime, limit: int) -> list[Article]:
    """Articles of these stories that appeared after `when` (published, else first seen), earliest first."""
    ids = sorted(set(story_ids))
    if not ids:
        return []
    appeared = func.coalesce(Article.published_at, Article.first_seen_at)
    q = (select(Article).where(Article.story_id.in_(ids), appeared > when).options(selectinload(Article.outlet))
         .order_by(appeared, Article.id).limit(limit))
    return list(session.scalars(q))


def replace_terms(session: Session, story_id: int, terms: Iterable[str], last_seen: datetime,
                  held_terms: Iterable[str] | None = None, held_seen: datetime | None = None) -> bool:
    """Make the story's index terms exactly these, dated by the story's last day (only differences
    are written: the day changes at most once a day); True if the terms changed. A caller that knows
    the terms held now (`held_terms`, dated `held_seen`) saves reading them."""
    day = epoch_day(last_seen)
    wanted = {t[:40] for t in terms}
    conn = session.connection()  # Core, as the index rows above: the story's row is written already
    if held_terms is not None and held_seen is not None:
        held = dict.fromkeys((t[:40] for t in held_terms), epoch_day(held_seen))
    else:
        held = dict(conn.execute(select(StoryTerm.term, StoryTerm.last_day)
                                 .where(StoryTerm.story_id == story_id)).all())
    gone, new = set(held) - wanted, wanted - set(held)
    if gone:
        conn.execute(delete(StoryTerm).where(StoryTerm.story_id == story_id, StoryTerm.term.in_(gone)))
    if any(d != day for t, d in held.items() if t in wanted):
        conn.execute(update(StoryTerm).where(StoryTerm.story_id == story_id).values(last_day=day))
    if new:
        conn.execute(insert(StoryTerm), [{"story_id": story_id, "term": t, "last_day": day} for t in sorted(new)])
    return bool(gone or new)


def story_articles(session: Session, story_id: int, *, matches: bool = True) -> list[Article]:
    """A story's articles with their outlets, and their watch matches unless `matches` is False
    (placement reads a story's watches with one query instead: see story_watches)."""
    # placement (matches=False) leaves the outlets to lazy many-to-one loads, which find the few
    # outlet rows in the session's identity map once loaded: no outlet query per placement
    options = [selectinload(Article.outlet), selectinload(Article.matches)] if matches else []
    return list(session.scalars(select(Article).where(Article.story_id == story_id).options(*options)))


def story_watches(session: Session, story_id: int) -> list[str]:
    q = (select(WatchMatch.watch).join(Article, Article.id == WatchMatch.article_id)
         .where(Article.story_id == story_id).distinct())
    return sorted(session.scalars(q))


# ------------------------------------------------------------------ writing stories

PLACEMENT_LOCK = 0x5377_0001  # PostgreSQL advisory lock key: "Sw" + 1


def lock_stories(session: Session) -> None:
    """Placement reads stories and writes them back; two processes placing at once could each miss
    the other's article. On PostgreSQL one transaction-scoped advisory lock serialises placement
    (held until commit); SQLite sessions already hold the write lock from their start."""
    transaction = session.get_transaction()
    if session.info.get(_LOCKED) is transaction and transaction is not None:
        return  # held already: a batch of placements in one transaction asks once
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(PLACEMENT_LOCK)))
    session.info[_LOCKED] = session.get_transaction()


_LOCKED = "spreadwatch_placement_lock"  # Session.info: the transaction that holds the placement lock


def new_story(session: Session, article: Article) -> Story:
    when = article_time(article)
    story = Story(title=article.title, first_seen_at=when, last_seen_at=when)
    session.add(story)
    session.flush()  # its id (placement changes the article's row after this, in one UPDATE)
    article.story_id = story.id
    return story


def merge_stories(session: Session, into: int, others: list[int]) -> None:
    """Move every article of `others` into story `into`; the others stay as merged pointers."""
    for sid in others:
        session.execute(update(Article).where(Article.story_id == sid).values(story_id=into))
        session.execute(delete(StoryTerm).where(StoryTerm.story_id == sid))
        session.execute(update(Story).where(Story.id == sid).values(status="merged", merged_into_id=into))


def links_of(session: Session, article_ids: list[int]) -> dict[int, tuple[int | None, str, float, dict[str, Any]]]:
    """article id -> (source article id, kind, score, evidence) of its stored edge."""
    if not article_ids:
        return {}
    q = (select(Link.article_id, Link.source_article_id, Link.kind, Link.score, Link.evidence)
         .where(Link.article_id.in_(article_ids)))
    return {aid: (src, kind, score, evidence or {}) for aid, src, kind, score, evidence in session.execute(q)}


def replace_links(session: Session, article_ids: list[int], links: list[dict[str, Any]]) -> None:
    conn = _read(session)  # Core, as the index rows; after a flush: the linked articles' rows go first
    conn.execute(delete(Link).where(Link.article_id.in_(article_ids)))
    if links:
        conn.execute(insert(Link), links)


def article_time(a: Article) -> datetime:
    """When an article entered the world: its publication time, else when we first saw it."""
    return a.published_at or a.first_seen_at


def refresh_story(session: Session, story: Story, articles: list[Article], origin_id: int) -> None:
    """Recompute a story's summary fields from its articles (its profile is placement's to keep)."""
    times = [article_time(a) for a in articles]
    origin = next(a for a in articles if a.id == origin_id)
    story.origin_article_id, story.title = origin.id, origin.title
    story.first_seen_at, story.last_seen_at = min(times), max(times)
    story.outlet_count = len({a.outlet_id for a in articles})
    story.languages = sorted({a.language for a in articles if a.language})
    story.countries = sorted({a.outlet.country for a in articles if a.outlet.country})
    story.watches = story_watches(session, story.id)


# ------------------------------------------------------------------ the read shapes (stable JSON)


def story_summary(story: Story, article_count: int | None = None) -> dict[str, Any]:
    return {
        "id": story.id, "title": story.title, "status": story.status, "outlet_count": story.outlet_count,
        "article_count": article_count if article_count is not None else 0,
        "languages": list(story.languages or []), "countries": list(story.countries or []),
        "watches": list(story.watches or []), "first_seen": iso(story.first_seen_at),
        "last_seen": iso(story.last_seen_at), "origin_article_id": story.origin_article_id,
    }


def _article_entry(a: Article, link: Link | None, origin_time: datetime, by_id: dict[int, Article]) -> dict[str, Any]:
    src = by_id.get(link.source_article_id) if link and link.source_article_id else None
    return {
        "id": a.id, "outlet": a.outlet.key, "outlet_name": a.outlet.name, "outlet_kind": a.outlet.kind,
        "country": a.outlet.country,
        "language": a.language, "url": a.url, "title": a.title, "published_at": iso(a.published_at),
        "first_seen_at": iso(a.first_seen_at),
        "delay_seconds": (article_time(a) - origin_time).total_seconds(),
        "source": src.id if src else None, "source_outlet": src.outlet.key if src else None,
        "kind": link.kind if link else "origin", "score": link.score if link else 1.0,
        "evidence": link.evidence if link else {}, "watches": sorted({m.watch for m in a.matches}),
        # why the article is in this story (placement's decision), as opposed to its source within it
        "placement": (a.features or {}).get("placement"),
    }


def official_label(entry: dict[str, Any]) -> str | None:
    """How a history entry from an official source is marked ("Denied by KFOR", "Official statement:
    Ministry of Defence"); None for a newsroom's article. The tree, the web page and alerts all say it so."""
    if entry.get("outlet_kind") != "official":
        return None
    name = entry.get("outlet_name") or entry.get("outlet")
    return f"Denied by {name}" if entry.get("kind") == "denial" else f"Official statement: {name}"


def story_history(session: Session, story_id: int) -> dict[str, Any] | None:
    """The propagation history of a story: its origin and, per article, its source and why."""
    story = session.get(Story, story_id)
    if story is None:
        return None
    while story.status == "merged" and story.merged_into_id:
        story = session.get_one(Story, story.merged_into_id)
    articles = sorted(story_articles(session, story.id), key=lambda a: (article_time(a), a.id))
    if not articles:
        return None
    by_id = {a.id: a for a in articles}
    links = {l.article_id: l for l in session.scalars(select(Link).where(Link.article_id.in_(list(by_id))))}
    origin = by_id.get(story.origin_article_id or -1, articles[0])
    t0 = article_time(origin)
    entries = [_article_entry(a, links.get(a.id), t0, by_id) for a in articles]
    return {"story": story_summary(story, len(articles)), "origin": next(e for e in entries if e["id"] == origin.id),
            "articles": entries, "denials": [e["id"] for e in entries if e["kind"] == "denial"]}


def list_stories(session: Session, *, watch: str | None = None, since: datetime | None = None,
                 language: str | None = None, outlet: str | None = None,
                 spreading_since: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Stories matching every filter given, the most widely spread and most recent first.

    With `spreading_since`, the stories the most outlets took up since then come first, and each
    summary also carries that number as `recent_outlets` (the "spreading now" view)."""
    on_story = Article.story_id == Story.id
    q = select(Story).where(Story.status == "active")
    if since is not None:
        q = q.where(Story.last_seen_at >= since)
    if watch:
        q = q.where(exists().where(on_story, WatchMatch.article_id == Article.id, WatchMatch.watch == watch))
    if language:
        q = q.where(exists().where(on_story, Article.language == language))
    if outlet:
        q = q.where(exists().where(on_story, Article.outlet_id == Outlet.id, Outlet.key == outlet))
    order = [Story.outlet_count.desc(), Story.last_seen_at.desc(), Story.id.desc()]
    if spreading_since is not None:
        recent = _recent_outlets(spreading_since)
        q = q.add_columns(func.coalesce(recent.c.outlets, 0)).outerjoin(recent, recent.c.story_id == Story.id)
        order.insert(0, func.coalesce(recent.c.outlets, 0).desc())
    rows = session.execute(q.order_by(*order).limit(limit)).all()
    counts = _article_counts(session, [row[0].id for row in rows])
    out = []
    for row in rows:
        summary = story_summary(row[0], counts.get(row[0].id, 0))
        if spreading_since is not None:
            summary["recent_outlets"] = row[1]
        out.append(summary)
    return out


def _recent_outlets(cutoff: datetime):  # type: ignore[no-untyped-def]
    """Per story, the distinct outlets whose article appeared since `cutoff` (published, else first seen)."""
    appeared = or_(Article.published_at >= cutoff, and_(Article.published_at.is_(None), Article.first_seen_at >= cutoff))
    return (select(Article.story_id, func.count(func.distinct(Article.outlet_id)).label("outlets"))
            .where(appeared, Article.story_id.is_not(None)).group_by(Article.story_id).subquery())


def _article_counts(session: Session, story_ids: list[int]) -> dict[int, int]:
    if not story_ids:
        return {}
    q = select(Article.story_id, func.count(Article.id)).where(Article.story_id.in_(story_ids)).group_by(Article.story_id)
    return {sid: n for sid, n in session.execute(q)}


def find_story_by_url(session: Session, url: str) -> int | None:
    from crawler.urls import canonicalize

    a = session.scalar(select(Article).where(or_(Article.canonical_url == canonicalize(url), Article.url == url)))
    return a.story_id if a else None


def search_stories(session: Session, text: str, limit: int = 20) -> list[dict[str, Any]]:
    """Stories with an article whose title or text contains every word given (case-insensitive).
    The words are literal: `%` and `_` are escaped, not LIKE's wildcards."""
    words = [w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for w in text.split()]
    cond = and_(*(or_(Article.title.ilike(f"%{w}%", escape="\\"), Article.text.ilike(f"%{w}%", escape="\\"))
                  for w in words))
    ids = list(dict.fromkeys(session.scalars(select(Article.story_id).where(cond, Article.story_id.is_not(None)))))
    stories = [session.get_one(Story, i) for i in ids[:limit]]
    counts = dict(session.execute(select(Article.story_id, func.count()).where(Article.story_id.in_(ids[:limit]))
                                  .group_by(Article.story_id)).all())
    return [story_summary(s, counts.get(s.id, 0)) for s in stories if s.status == "active"]


