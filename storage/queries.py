"""Read queries shared by the CLI and the web app; they return plain dicts (the JSON shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from storage.models import Article, Outlet, WatchMatch


def iso(dt: datetime | None) -> str | None:
    return dt.isoformat().replace("+00:00", "Z") if dt else None


def article_dict(a: Article) -> dict[str, Any]:
    return {
        "id": a.id, "outlet": a.outlet.key, "outlet_name": a.outlet.name, "language": a.language,
        "url": a.url, "canonical_url": a.canonical_url, "title": a.title,
        "published_at": iso(a.published_at), "first_seen_at": iso(a.first_seen_at),
        "story_id": a.story_id, "via": a.via, "extraction_note": a.extraction_note,
        "matches": [{"watch": m.watch, "terms": m.terms, "snippet": m.snippet} for m in a.matches],
    }


def list_articles(session: Session, *, watch: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Articles newest first (by publication, else first seen), optionally only those matching a watch."""
    q = (select(Article).join(Outlet).options(selectinload(Article.matches), selectinload(Article.outlet))
         .order_by(Article.published_at.desc().nulls_last(), Article.id.desc()).limit(limit))
    if watch:
        q = q.where(Article.id.in_(select(WatchMatch.article_id).where(WatchMatch.watch == watch)))
    return [article_dict(a) for a in session.scalars(q)]
