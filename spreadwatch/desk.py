"""The analyst's desk: correct a story (merge, split, move an article, a link's kind, an article's
source), undo a correction, rebuild the stories, mute a story, acknowledge an alert.

Every action runs in the caller's transaction and leaves the stories as placement would keep them:
the correction row, the stories' articles, profiles, trees, counts and alerts change together.
Corrections hold afterwards because placement reads them (spreadwatch/corrections.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.rules import carry_alerts, evaluate
from spreadwatch import placement
from spreadwatch.corrections import forget_pins
from spreadwatch.settings import Settings
from storage import stories_repo as repo
from storage.models import Alert, Article, Correction, Story, StoryMute, utcnow
from storage.queries import iso

LINK_KINDS = ("denial", "copy")  # what a link can be said not to be


class DeskError(Exception):
    """A correction that cannot be made, with the reason a person can act on."""


def _live_story(session: Session, story_id: int) -> Story:
    story = session.get(Story, story_id)
    if story is None:
        raise DeskError(f"no story {story_id}")
    while story.status == "merged" and story.merged_into_id:
        story = session.get_one(Story, story.merged_into_id)
    if story.status != "active":
        raise DeskError(f"story {story_id} holds no articles any more")
    return story


def _article(session: Session, article_id: int) -> Article:
    a = session.get(Article, article_id)
    if a is None or a.story_id is None:
        raise DeskError(f"no placed article {article_id}")
    return a


def _ids(session: Session, story_id: int) -> list[int]:
    return sorted(session.scalars(select(Article.id).where(Article.story_id == story_id)))


def _record(session: Session, **fields: Any) -> Correction:
    c = Correction(**fields)
    c.created_at = c.created_at or utcnow()
    session.add(c)
    session.flush()
    forget_pins(session)
    return c


def _refresh(session: Session, settings: Settings, story_ids: list[int], now: datetime) -> None:
    """Profiles, trees and counts of these stories from their articles; then their alerts."""
    for sid in story_ids:
        story = session.get_one(Story, sid)
        if story.status == "active":
            if placement.rebuild_profile(session, story, settings):
                placement.rebuild_story(session, story, settings)
    session.flush()
    evaluate(session, [sid for sid in story_ids if session.get_one(Story, sid).status == "active"], settings, now)


def merge(session: Session, into: int, other: int, who: str, settings: Settings,
          now: datetime | None = None) -> Correction:
    """Story `other` becomes part of story `into`: every article of both stays together from now on."""
    now = now or utcnow()
    a, b = _live_story(session, into), _live_story(session, other)
    if a.id == b.id:
        raise DeskError(f"stories {into} and {other} are one story already")
    repo.lock_stories(session)
    together = _ids(session, a.id) + _ids(session, b.id)
    c = _record(session, kind="merge", story_id=a.id, other_story_id=b.id, together=sorted(together), rest=[],
                detail={"title": a.title, "other_title": b.title, "other_articles": _ids(session, b.id)},
                who=who, created_at=now)
    repo.merge_stories(session, a.id, [b.id])  # b points to a: its alerts count as a's (alerts.rules.merged_family)
    session.flush()
    _refresh(session, settings, [a.id], now)
    return c


def split(session: Session, story_id: int, article_ids: list[int], who: str, settings: Settings,
          now: datetime | None = None) -> Correction:
    """These articles leave the story for a new one; the two are kept apart from now on. Each alert
    stays with the part holding most of the articles it was raised on; the other part records the
    level as reached, so the split sends no level twice."""
    now = now or utcnow()
    story = _live_story(session, story_id)
    held = _ids(session, story.id)
    moving = sorted(set(article_ids))
    if not moving or set(moving) - set(held):
        raise DeskError(f"articles {sorted(set(moving) - set(held)) or moving} are not in story {story.id}")
    rest = [aid for aid in held if aid not in moving]
    if not rest:
        raise DeskError(f"splitting every article out of story {story.id} leaves nothing behind: move them instead")
    repo.lock_stories(session)
    articles = sorted((session.get_one(Article, aid) for aid in moving), key=lambda a: (repo.article_time(a), a.id))
    new = repo.new_story(session, articles[0])
    for a in articles:
        a.story_id = new.id
    session.flush()
    c = _record(session, kind="split", story_id=story.id, other_story_id=new.id, together=moving, rest=rest,
                detail={"title": story.title}, who=who, created_at=now)
    _placed_by(c, articles)
    _refresh_profiles(session, settings, [story.id, new.id])
    carry_alerts(session, story.id, new.id, now)
    _refresh(session, settings, [story.id, new.id], now)
    return c


def _placed_by(c: Correction, articles: list[Article]) -> None:
    """Why these articles are where they are now: the correction (until a rebuild decides again)."""
    for a in articles:
        a.features = {**(a.features or {}), "placement": {"reason": "correction", "score": 1.0,
                                                          "evidence": {"correction": c.id, "who": c.who}}}


def _refresh_profiles(session: Session, settings: Settings, story_ids: list[int]) -> None:
    for sid in story_ids:
        story = session.get_one(Story, sid)
        if placement.rebuild_profile(session, story, settings):
            placement.rebuild_story(session, story, settings)
    session.flush()


def move(session: Session, article_id: int, to_story: int, who: str, settings: Settings,
         now: datetime | None = None) -> Correction:
    """One article leaves its story for another: it stays with that story's articles from now on and
    apart from the ones it left. A story left empty points to the one its article went to."""
    now = now or utcnow()
    article = _article(session, article_id)
    source, target = _live_story(session, article.story_id), _live_story(session, to_story)  # type: ignore[arg-type]
    if source.id == target.id:
        raise DeskError(f"article {article_id} is in story {target.id} already")
    repo.lock_stories(session)
    together = _ids(session, target.id) + [article.id]
    rest = [aid for aid in _ids(session, source.id) if aid != article.id]
    article.story_id = target.id
    session.flush()
    c = _record(session, kind="move", story_id=source.id, other_story_id=target.id, article_id=article.id,
                together=sorted(together), rest=rest, detail={"title": article.title}, who=who, created_at=now)
    _placed_by(c, [article])
    if not rest:  # the story was this article alone: it is now part of the target
        source.status, source.merged_into_id = "merged", target.id
        repo.replace_terms(session, source.id, (), source.last_seen_at)
    _refresh(session, settings, [source.id, target.id] if rest else [target.id], now)
    return c


def mark_link(session: Session, article_id: int, not_kind: str, who: str, settings: Settings,
              now: datetime | None = None) -> Correction:
    """The article's link is not a `not_kind` (denial, copy): the tree says what it is without that."""
    if not_kind not in LINK_KINDS:
        raise DeskError(f"a link can be marked not a {' or not a '.join(LINK_KINDS)}, not {not_kind!r}")
    now = now or utcnow()
    article = _article(session, article_id)
    c = _record(session, kind="link-kind", story_id=article.story_id, article_id=article.id,
                detail={"not": not_kind}, who=who, created_at=now)
    _refresh(session, settings, [article.story_id], now)  # type: ignore[list-item]
    return c


def set_source(session: Session, article_id: int, source_id: int, who: str, settings: Settings,
               now: datetime | None = None) -> Correction:
    """The article was taken from `source_id` (an earlier article of the same story), whatever the evidence says."""
    now = now or utcnow()
    article, source = _article(session, article_id), _article(session, source_id)
    if source.story_id != article.story_id or source.id == article.id:
        raise DeskError(f"article {source_id} is not another article of story {article.story_id}")
    if (repo.article_time(source), source.id) > (repo.article_time(article), article.id):
        raise DeskError(f"article {source_id} appeared after article {article_id}: it cannot be its source")
    c = _record(session, kind="source", story_id=article.story_id, article_id=article.id,
                detail={"source_article_id": source.id}, who=who, created_at=now)
    _refresh(session, settings, [article.story_id], now)  # type: ignore[list-item]
    return c


def undo(session: Session, correction_id: int, who: str, settings: Settings, now: datetime | None = None) -> Correction:
    """Take a correction back: the articles it named are placed again as if it had never been made."""
    now = now or utcnow()
    c = session.get(Correction, correction_id)
    if c is None:
        raise DeskError(f"no correction {correction_id}")
    if c.undone_at is not None:
        raise DeskError(f"correction {correction_id} was undone already ({iso(c.undone_at)} by {c.undone_by})")
    c.undone_at, c.undone_by = now, who
    session.flush()
    forget_pins(session)
    if c.kind in ("link-kind", "source"):
        article = session.get_one(Article, c.article_id)
        _refresh(session, settings, [article.story_id], now)  # type: ignore[list-item]
        return c
    named = [int(x) for x in [*c.together, *c.rest]]
    stories = set(session.scalars(select(Article.story_id).where(Article.id.in_(named), Article.story_id.is_not(None))))
    articles = list(session.scalars(select(Article).where(Article.story_id.in_(stories))))
    # an undone merge gives the merged story's articles their story back (and its alerts with it)
    restore = {int(aid): c.other_story_id for aid in (c.detail or {}).get("other_articles", [])} \
        if c.kind == "merge" and c.other_story_id else {}
    changed = placement.replace_articles(session, articles, settings, restore)
    session.flush()
    evaluate(session, [sid for sid in changed if session.get_one(Story, sid).status == "active"], settings, now)
    return c


def rebuild(session: Session, settings: Settings, now: datetime | None = None) -> int:
    """Place every article again in publication order, keeping the corrections; alerts already sent
    are not sent again. Returns how many articles were placed."""
    now = now or utcnow()
    articles = list(session.scalars(select(Article).where(Article.story_id.is_not(None))))
    changed = placement.replace_articles(session, articles, settings)
    session.flush()
    evaluate(session, [sid for sid in changed if session.get_one(Story, sid).status == "active"], settings, now)
    return len(articles)


# ------------------------------------------------------------------ mute and acknowledge


def mute(session: Session, story_id: int, who: str, until: datetime | None = None, upto: int | None = None,
         now: datetime | None = None) -> StoryMute:
    """No alert for this story (until `until`; only outlet levels up to `upto`, if given)."""
    story = _live_story(session, story_id)
    m = StoryMute(story_id=story.id, until=until, upto=upto, who=who, created_at=now or utcnow())
    session.add(m)
    session.flush()
    return m


def unmute(session: Session, story_id: int, now: datetime | None = None) -> int:
    """Lift the story's mutes in force; how many were lifted."""
    from alerts.rules import active_mutes, merged_family

    now = now or utcnow()
    rows = active_mutes(session, merged_family(session, _live_story(session, story_id).id), now)
    for m in rows:
        m.lifted_at = now
    return len(rows)


def acknowledge(session: Session, alert_id: int, who: str, now: datetime | None = None) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise DeskError(f"no alert {alert_id}")
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = now or utcnow(), who
    return alert


# ------------------------------------------------------------------ reading them


def shown(c: Correction) -> dict[str, Any]:
    """A correction as the history, the CLI and the web page show it (stable JSON)."""
    return {"id": c.id, "kind": c.kind, "story_id": c.story_id, "other_story_id": c.other_story_id,
            "article_id": c.article_id, "articles": list(c.together if c.kind == "split" else []),
            "detail": dict(c.detail or {}), "who": c.who, "at": iso(c.created_at),
            "undone_at": iso(c.undone_at) if c.undone_at else None, "undone_by": c.undone_by,
            "text": describe(c)}


def describe(c: Correction) -> str:
    d = c.detail or {}
    text = {
        "merge": f"merged story {c.other_story_id} into story {c.story_id}",
        "split": f"split articles {', '.join(map(str, c.together))} of story {c.story_id} into story {c.other_story_id}",
        "move": f"moved article {c.article_id} from story {c.story_id} to story {c.other_story_id}",
        "link-kind": f"article {c.article_id}: its link is not a {d.get('not')}",
        "source": f"article {c.article_id}: its source is article {d.get('source_article_id')}",
    }.get(c.kind, c.kind)
    return text + (" (undone)" if c.undone_at else "")


def story_corrections(session: Session, story_id: int) -> list[dict[str, Any]]:
    """Corrections made on this story, on the stories merged into it, or naming its articles."""
    from alerts.rules import merged_family

    family = merged_family(session, story_id)
    ids = set(_ids(session, story_id))
    rows = session.scalars(select(Correction).order_by(Correction.id))
    return [shown(c) for c in rows if c.story_id in family or c.other_story_id in family
            or (c.article_id in ids) or ids & {int(x) for x in c.together}]


def all_corrections(session: Session) -> list[Correction]:
    return list(session.scalars(select(Correction).order_by(Correction.id)))


def correction_count(session: Session) -> int:
    return int(session.scalar(select(func.count(Correction.id))) or 0)


def export_stream(session: Session) -> list[dict[str, Any]]:
    """The stories the active corrections name, every article of them, in the evaluation stream
    format (/work/shared/eval, bench/streams.py) in publication order: `story` is the corrected story,
    so a desk's corrections label the engine's own output."""
    active = [c for c in all_corrections(session) if c.undone_at is None]
    named: dict[int, list[int]] = {}
    for c in active:
        for aid in {*map(int, c.together), *map(int, c.rest), *([c.article_id] if c.article_id else [])}:
            named.setdefault(aid, []).append(c.id)
    stories = set(session.scalars(select(Article.story_id).where(Article.id.in_(list(named)),
                                                                 Article.story_id.is_not(None))))
    articles = sorted(session.scalars(select(Article).where(Article.story_id.in_(stories))),
                      key=lambda a: (repo.article_time(a), a.id))
    origins = {s.id: s.origin_article_id for s in session.scalars(select(Story).where(Story.id.in_(stories)))}
    by_story: dict[int, list[int]] = {}
    for a in articles:
        by_story.setdefault(a.story_id, []).extend(named.get(a.id, []))  # type: ignore[arg-type]
    return [{"id": f"spreadwatch:{a.id}", "story": f"story-{a.story_id}", "event": f"story-{a.story_id}",
             "set": "desk", "outlet": a.outlet.key, "outlet_name": a.outlet.name, "country": a.outlet.country,
             "language": a.language, "script": a.script, "published_at": iso(repo.article_time(a)),
             "title": a.title, "text": a.text, "origin": origins.get(a.story_id) == a.id,  # type: ignore[arg-type]
             "url": a.url, "corrections": sorted(set(by_story[a.story_id]))}  # type: ignore[index]
            for a in articles]
