"""What the analysts' corrections ask of placement: which articles stay together, which stay apart,
and which links are not what the tree would say.

A correction names article groups, not story ids (a rebuild renumbers stories; articles stay):
the articles of its `together` share one story, and those of `rest` share another, kept apart from
the first. An article belongs to the group of the latest correction naming it, so a later correction
overrides an earlier one (a merge after a split joins the parts again). Placement asks `constrain`
after deciding each article: an article whose group already has a placed article goes there; a
story holding a group kept apart from the article's is not joined, nor merged by a bridging copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Article, Correction
from stories.cluster import Decision

PINS = "spreadwatch_pins"  # Session.info key: the active corrections, read once per transaction
# whether any correction is active: asked on every placement, built once (most archives have none)
_ANY_ACTIVE = select(Correction.id).where(Correction.undone_at.is_(None)).limit(1)


@dataclass
class Pins:
    """The active corrections, as placement needs them."""

    group: dict[int, str] = field(default_factory=dict)  # article id -> its group ("c12", "c12-rest")
    members: dict[str, list[int]] = field(default_factory=dict)
    apart: dict[str, set[str]] = field(default_factory=dict)  # group -> groups kept apart from it
    links: dict[int, dict[str, Any]] = field(default_factory=dict)  # article id -> {"not": [...], "source": id}
    by_group: dict[str, int] = field(default_factory=dict)  # group -> correction id

    def __bool__(self) -> bool:
        return bool(self.group or self.links)


def load_pins(session: Session) -> Pins:
    """The active (not undone) corrections, in the order they were made; cached in the session."""
    hit = session.info.get(PINS)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    pins = Pins()
    session.flush()
    if session.connection().execute(_ANY_ACTIVE).first() is None:
        session.info[PINS] = pins
        return pins
    rows = session.scalars(select(Correction).where(Correction.undone_at.is_(None)).order_by(Correction.id))
    for c in rows:
        if c.kind in ("merge", "split", "move"):
            _add_groups(pins, c)
        elif c.article_id is not None:
            fix = pins.links.setdefault(c.article_id, {"not": [], "source": None, "by": {}})
            if c.kind == "link-kind":
                fix["not"] = sorted({*fix["not"], c.detail["not"]})
            else:
                fix["source"] = c.detail["source_article_id"]
            fix["by"] = {**fix["by"], c.kind: c.id}
    for aid, g in pins.group.items():
        pins.members.setdefault(g, []).append(aid)
    session.info[PINS] = pins
    return pins


def _add_groups(pins: Pins, c: Correction) -> None:
    mine, rest = f"c{c.id}", f"c{c.id}-rest"
    for aid in c.together:
        pins.group[int(aid)] = mine
    for aid in c.rest:
        pins.group[int(aid)] = rest
    pins.by_group[mine] = pins.by_group[rest] = c.id
    if c.rest:
        pins.apart.setdefault(mine, set()).add(rest)
        pins.apart.setdefault(rest, set()).add(mine)


def forget_pins(session: Session) -> None:
    """A correction was written or undone in this transaction: read them again."""
    session.info.pop(PINS, None)


def story_groups(session: Session, story_id: int, pins: Pins) -> set[str]:
    """The correction groups among a story's articles."""
    if not pins.group:
        return set()
    ids = select(Article.id).where(Article.story_id == story_id, Article.id.in_(list(pins.group)))
    return {pins.group[aid] for aid in session.scalars(ids)}


def constrain(session: Session, article: Article, decision: Decision) -> Decision:
    """Placement's decision for `article`, bent to the corrections (the same decision without any)."""
    pins = load_pins(session)
    if not pins.group:
        return decision
    group = pins.group.get(article.id)
    if group is not None:
        mate = _placed_mate(session, article, pins.members[group])
        if mate is not None:
            return Decision(mate, [], "correction", 1.0, {"correction": pins.by_group[group]}, decision.scored)
    mine = {group} if group else set()
    target = decision.story_id
    if target is not None and _kept_apart(mine, story_groups(session, target, pins), pins):
        return Decision(None, [], "new", 0.0, {"kept_apart_by_correction": True, "from_story": target},
                        decision.scored)
    if decision.merge and target is not None:
        held = mine | story_groups(session, target, pins)
        kept = []
        for other in decision.merge:
            theirs = story_groups(session, other, pins)
            if not _kept_apart(held, theirs, pins):
                kept.append(other)
                held |= theirs
        if kept != decision.merge:
            return Decision(target, kept, decision.reason, decision.score,
                            {**decision.evidence, "merge_refused_by_correction": sorted(set(decision.merge) - set(kept))},
                            decision.scored)
    return decision


def _placed_mate(session: Session, article: Article, members: list[int]) -> int | None:
    """The story of the earliest placed article of the article's group, if one is placed."""
    others = [m for m in members if m != article.id]
    if not others:
        return None
    appeared = func.coalesce(Article.published_at, Article.first_seen_at)
    return session.scalar(select(Article.story_id).where(Article.id.in_(others), Article.story_id.is_not(None))
                          .order_by(appeared, Article.id).limit(1))


def _kept_apart(a: set[str], b: set[str], pins: Pins) -> bool:
    return any(pins.apart.get(g, set()) & b for g in a)


def fix_links(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tree's link rows with the analysts' link corrections applied: a kind said to be wrong is
    replaced by what the evidence says without it; a source set by hand is the source."""
    pins = load_pins(session)
    if not pins.links:
        return rows
    out = []
    for r in rows:
        fix = pins.links.get(r["article_id"])
        if fix is None or r["kind"] == "origin":
            out.append(r)
            continue
        r = dict(r)
        evidence = dict(r.get("evidence") or {})
        if "denial" in fix["not"] and r["kind"] == "denial":
            r["kind"] = str(evidence.pop("as", "same-event"))
            if r["kind"] == "copy" and "copy" in fix["not"]:
                r["kind"] = "same-event"
            evidence["corrected"] = "not a denial"
        elif "copy" in fix["not"] and (r["kind"] == "copy" or evidence.get("as") == "copy"):
            if r["kind"] == "copy":
                r["kind"] = "same-event"
            else:
                evidence["as"] = "same-event"
            evidence["corrected"] = "not a copy"
        source = fix["source"]
        if source is not None and source != r["article_id"] and _same_story(session, source, r["article_id"]):
            r["source_article_id"] = source
            evidence["source_set_by_hand"] = True
            if r["kind"] == "same-event":
                r["kind"] = "attribution"
        r["evidence"] = evidence
        out.append(r)
    return out


def _same_story(session: Session, a: int, b: int) -> bool:
    first, second = session.get(Article, a), session.get(Article, b)
    return first is not None and second is not None and first.story_id == second.story_id
