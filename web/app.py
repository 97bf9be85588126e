"""The read-only web app: the story list, a story's page with its timeline, and the JSON API.

Everything scraped is untrusted: templates autoescape, the SVG escapes its text. Set a token
(`spreadwatch serve --token`, or $SPREADWATCH_WEB_TOKEN) where the page is exposed: requests then
need `?token=` or `Authorization: Bearer`.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from sqlalchemy import select

from spreadwatch.commands.stories import _evidence, delay, parse_since
from spreadwatch.settings import Settings
from storage import Article, Database, Outlet
from storage.stories_repo import list_stories, story_history
from web.timeline import KIND_COLOURS, render_svg

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


class StorySummary(BaseModel):
    id: int
    title: str
    status: str
    outlet_count: int
    article_count: int
    languages: list[str]
    countries: list[str]
    watches: list[str]
    first_seen: str | None
    last_seen: str | None
    origin_article_id: int | None


class ArticleEntry(BaseModel):
    id: int
    outlet: str
    outlet_name: str
    country: str
    language: str
    url: str
    title: str
    published_at: str | None
    first_seen_at: str | None
    delay_seconds: float
    source: int | None
    source_outlet: str | None
    kind: str
    score: float
    evidence: dict[str, Any]
    watches: list[str]


class StoryHistory(BaseModel):
    story: StorySummary
    origin: ArticleEntry
    articles: list[ArticleEntry]
    denials: list[int]


def create_app(settings: Settings, *, token: str | None = None) -> FastAPI:
    """The app over the database named in the settings."""
    db = Database(settings.database_url)
    token = token or os.environ.get("SPREADWATCH_WEB_TOKEN") or None
    app = FastAPI(title="spreadwatch", description="How stories spread across outlets: read-only API.",
                  version="0.1.0")

    @app.middleware("http")
    async def require_token(request: Request, call_next):  # type: ignore[no-untyped-def]
        if token and request.url.path not in ("/openapi.json", "/docs"):
            given = request.query_params.get("token") or request.headers.get("authorization", "").removeprefix("Bearer ")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"detail": "a valid token is required"}, status_code=401)
        return await call_next(request)

    def suffix() -> str:
        return f"?token={token}" if token else ""

    def stories(watch: str | None, language: str | None, outlet: str | None, since: str | None) -> list[dict[str, Any]]:
        with db.session() as s:
            rows = list_stories(s, watch=watch or None, since=parse_since(since) if since else None, limit=500)
            if outlet:
                ids = set(s.scalars(select(Article.story_id).join(Outlet).where(Outlet.key == outlet)))
                rows = [r for r in rows if r["id"] in ids]
        return [r for r in rows if not language or language in r["languages"]]

    def history(story_id: int) -> dict[str, Any]:
        with db.session() as s:
            h = story_history(s, story_id)
        if h is None:
            raise HTTPException(404, f"no story {story_id}")
        return h

    @app.get("/api/stories", response_model=list[StorySummary])
    def api_stories(watch: str | None = None, language: str | None = None, outlet: str | None = None,
                    since: str | None = Query(None, description="e.g. 24h, 7d")) -> list[dict[str, Any]]:
        return stories(watch, language, outlet, since)

    @app.get("/api/stories/{story_id}", response_model=StoryHistory)
    def api_story(story_id: int) -> dict[str, Any]:
        return history(story_id)

    @app.get("/", response_class=HTMLResponse)
    def page_stories(request: Request, watch: str | None = None, language: str | None = None,
                     outlet: str | None = None, since: str | None = None) -> Any:
        q = {"watch": watch, "language": language, "outlet": outlet, "since": since}
        return TEMPLATES.TemplateResponse(request, "stories.html", {
            "stories": stories(watch, language, outlet, since), "q": q, "token": token, "suffix": suffix()})

    @app.get("/stories/{story_id}", response_class=HTMLResponse)
    def page_story(request: Request, story_id: int) -> Any:
        h = history(story_id)
        return TEMPLATES.TemplateResponse(request, "story.html", {
            "h": h, "svg": render_svg(h, standalone=False), "delay": delay, "evidence": _evidence,
            "colours": KIND_COLOURS, "suffix": suffix()})

    @app.get("/stories/{story_id}/timeline.svg")
    def timeline(story_id: int) -> Response:
        return Response(render_svg(history(story_id)), media_type="image/svg+xml")

    return app
