"""The read-only web app: the story list, a story's page with its timeline, exports, and the JSON API.

Everything scraped is untrusted: templates autoescape, the SVG escapes its text, only http(s)
addresses become links, and the pages run no script at all (the Content-Security-Policy forbids
it). Set a token (`spreadwatch serve --token`, or $SPREADWATCH_WEB_TOKEN) where the app is exposed:
every route then needs `?token=` or `Authorization: Bearer`. How it serves besides the pages (/docs,
error pages, HEAD, the access log) is in web/serving.py.
"""

from __future__ import annotations

import hmac
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Query, Request, Security
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy.orm import Session

from spreadwatch.settings import Settings
from storage import Database
from storage.stories_repo import list_stories, story_history
from web.history import format_delay, format_evidence, history_csv, parse_age, plain, tree_rows
from web.desk import Csrf, add_desk_routes, desk_user, parse_desk_tokens, story_desk
from web.png import render_png
from web.schemas import Problem, StoryHistory, StorySummary
from web.serving import DOCS_CSP, HeadAsGet, add_docs, add_error_pages, redact_access_log
from web.svg import is_web_address, render_svg
from web.timeline import KIND_COLOURS, language_colour, layout_timeline

# "Spreading now" is how many outlets took a story up within this window before now.
SPREADING_WINDOW = timedelta(hours=24)
PAGE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'")
AGE_PATTERN = r"^\s*\d+\s*[mhdwMHDW]\s*$"
UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "A token is set and the request did not carry it."}}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "No such story."}}
# A browser gets an HTML page for a missing story; a client that does not accept HTML, the JSON.
PAGE_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {
    "description": "No such story: an HTML page for a browser, else JSON.", "content": {
        "text/html": {"schema": {"type": "string"}},
        "application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}


TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _printable(value: Any) -> Any:
    """Every value a template prints loses its control characters; our own markup (the SVG) stays."""
    return plain(value) if isinstance(value, str) and not isinstance(value, Markup) else value


TEMPLATES.env.finalize = _printable


def create_app(settings: Settings, *, token: str | None = None, desk_tokens: dict[str, str] | None = None) -> FastAPI:
    """The app over the database named in the settings; with a token, every route requires it.
    `desk_tokens` (name -> secret; default $SPREADWATCH_DESK_TOKENS) also open every route, and
    the desk's write actions, recorded under the token's name (web/desk.py)."""
    db = Database(settings.database_url)
    token = token or os.environ.get("SPREADWATCH_WEB_TOKEN") or None
    if desk_tokens is None:
        desk_tokens = parse_desk_tokens(os.environ.get("SPREADWATCH_DESK_TOKENS"))
    secrets = ([token] if token else []) + list(desk_tokens.values())
    guard = [Security(token_guard(*secrets))] if secrets else []
    app = FastAPI(title="spreadwatch", version="0.1.0", dependencies=guard,
                  responses=UNAUTHORIZED if token else None, docs_url=None, redoc_url=None,
                  description="How stories spread across news outlets: a read-only API. The shapes are those "
                              "of `spreadwatch stories --json` and `spreadwatch story ID --json`.")
    app.middleware("http")(security_headers)
    app.add_middleware(HeadAsGet)
    suffix = "?" + urlencode({"token": token}) if token else ""
    add_docs(app)
    add_error_pages(app, TEMPLATES, suffix)
    redact_access_log()
    _api_routes(app, db)
    _export_routes(app, db)
    csrf = Csrf()

    def suffix_of(request: Request) -> str:
        """Links on a page carry the token the page was opened with (a desk user's own)."""
        mine = desk_user(request, desk_tokens)  # type: ignore[arg-type]
        return "?" + urlencode({"token": desk_tokens[mine]}) if mine else suffix  # type: ignore[index]

    _page_routes(app, db, settings, suffix, token, lambda r: (suffix_of(r), desk_user(r, desk_tokens), csrf))  # type: ignore[arg-type]
    if desk_tokens:
        add_desk_routes(app, db, settings, desk_tokens, csrf, suffix_of)
    return app


def token_guard(*tokens: str) -> Callable[..., None]:
    """A dependency that lets a request through only with the token, as a query or a bearer header."""
    bearer = HTTPBearer(auto_error=False, description="The deployment's access token.")
    query = APIKeyQuery(name="token", auto_error=False, description="The access token, for links and browsers.")

    def require_token(header: HTTPAuthorizationCredentials | None = Security(bearer),
                      given: str | None = Security(query)) -> None:
        offered = (given or (header.credentials if header else "")).encode()
        if not any([hmac.compare_digest(offered, t.encode()) for t in tokens]):  # each compared, in constant time
            raise HTTPException(401, "a valid token is required", headers={"WWW-Authenticate": "Bearer"})

    return require_token


async def security_headers(request: Request, call_next: Any) -> Response:
    """No script on our pages, no sniffing, and no Referer (it could carry the token) to outlets."""
    response: Response = await call_next(request)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    docs = request.url.path == "/docs" or request.url.path.startswith("/docs/")
    response.headers["Content-Security-Policy"] = DOCS_CSP if docs else PAGE_CSP  # Swagger UI: our own scripts
    return response


def find_stories(session: Session, *, watch: str | None = None, language: str | None = None,
                 outlet: str | None = None, since: datetime | None = None, limit: int = 100,
                 now: datetime | None = None) -> list[dict[str, Any]]:
    """Story summaries matching the filters, spreading now first, with `recent_outlets` beside each."""
    cutoff = (now or datetime.now(timezone.utc)) - SPREADING_WINDOW
    return list_stories(session, watch=watch or None, language=language or None, outlet=outlet or None,
                        since=since, spreading_since=cutoff, limit=limit)


def _api_routes(app: FastAPI, db: Database) -> None:
    @app.get("/api/stories", response_model=list[StorySummary], tags=["api"],
             summary="Stories, spreading now first", response_description="Story summaries.")
    def api_stories(watch: str | None = Query(None, description="Only stories matching this watch."),
                    language: str | None = Query(None, description="Only stories with an article in this language."),
                    outlet: str | None = Query(None, description="Only stories this outlet (key) carried."),
                    since: str | None = Query(None, pattern=AGE_PATTERN,
                                              description="Only stories seen within this age: 90m, 24h, 7d, 2w."),
                    limit: int = Query(100, ge=1, le=500, description="At most this many stories.")) -> Any:
        """Stories ordered by how many outlets took them up in the last 24 hours, then by how widely
        and how recently they spread: the shape of `spreadwatch stories --json`."""
        with db.session(read_only=True) as s:
            return find_stories(s, watch=watch, language=language, outlet=outlet, since=parse_age(since),
                                limit=limit)

    @app.get("/api/stories/{story_id}", response_model=StoryHistory, responses=NOT_FOUND, tags=["api"],
             summary="A story's propagation history", response_description="The story's history.")
    def api_story(story_id: int) -> Any:
        """The origin and every article with its source, link kind and evidence: the shape of
        `spreadwatch story ID --json`. A merged story's id gives the story it was merged into."""
        return _history(db, story_id)


def _export_routes(app: FastAPI, db: Database) -> None:
    text, binary = {"schema": {"type": "string"}}, {"schema": {"type": "string", "format": "binary"}}
    svg = {200: {"content": {"image/svg+xml": text}, "description": "A standalone SVG document."}, **NOT_FOUND}
    png = {200: {"content": {"image/png": binary}, "description": "A PNG image at twice the SVG's size."},
           **NOT_FOUND}
    csv = {200: {"content": {"text/csv": text}, "description": "One row per article; cells a spreadsheet would "
                                                             "run as formulas start with an apostrophe."}, **NOT_FOUND}

    @app.get("/stories/{story_id}/timeline.svg", response_class=Response, responses=svg, tags=["exports"],
             summary="The timeline as SVG")
    def timeline_svg(story_id: int) -> Response:
        """The story page's timeline picture alone, for reports."""
        picture = render_svg(layout_timeline(_history(db, story_id)))
        return Response(picture, media_type="image/svg+xml",
                        headers=_disposition(f"story-{story_id}-timeline.svg", inline=True))

    @app.get("/stories/{story_id}/timeline.png", response_class=Response, responses=png, tags=["exports"],
             summary="The timeline as PNG")
    def timeline_png(story_id: int) -> Response:
        """The same picture as the SVG, as a PNG for documents and mail."""
        picture = render_png(layout_timeline(_history(db, story_id)))
        return Response(picture, media_type="image/png",
                        headers=_disposition(f"story-{story_id}-timeline.png", inline=True))

    @app.get("/stories/{story_id}/history.csv", response_class=Response, responses=csv, tags=["exports"],
             summary="The history as CSV")
    def history_file(story_id: int) -> Response:
        """One row per article, as `spreadwatch story ID --csv`."""
        return Response(history_csv(_history(db, story_id)), media_type="text/csv; charset=utf-8",
                        headers=_disposition(f"story-{story_id}-history.csv"))


def _page_routes(app: FastAPI, db: Database, settings: Settings, suffix: str, token: str | None,
                 desk_of: Callable[[Request], tuple[str, str | None, Csrf]]) -> None:
    choices = {"watches": sorted(w.name for w in settings.watches),
               "languages": sorted({o.language for o in settings.outlets if o.language}),
               "outlets": sorted((o.key, o.name) for o in settings.outlets)}

    @app.get("/", response_class=HTMLResponse, tags=["pages"], summary="The story list",
             response_description="An HTML page.")
    def page_stories(request: Request, watch: str | None = None, language: str | None = None,
                     outlet: str | None = None, since: str | None = None) -> Any:
        """Stories spreading now first, with filters by watch, language, outlet and age."""
        try:
            seen_after, problem = parse_age(since), ""
        except ValueError as e:  # say so on the page rather than answer a form with JSON
            seen_after, problem = None, str(e)
        with db.session(read_only=True) as s:
            rows = find_stories(s, watch=watch, language=language, outlet=outlet, since=seen_after, limit=200)
        q = {"watch": watch, "language": language, "outlet": outlet, "since": since}
        return TEMPLATES.TemplateResponse(request, "stories.html", {
            "stories": rows, "q": q, "problem": problem, "token": token, "suffix": suffix, "choices": choices,
            "window_hours": int(SPREADING_WINDOW.total_seconds() // 3600)})

    @app.get("/stories/{story_id}", response_class=HTMLResponse, responses=PAGE_NOT_FOUND, tags=["pages"],
             summary="A story's page", response_description="An HTML page.")
    def page_story(request: Request, story_id: int) -> Any:
        """The timeline picture above the propagation tree as a table with each link's evidence."""
        here, who, csrf = desk_of(request)
        h = _history(db, story_id)
        if h["story"]["id"] != story_id:  # merged: show it under the id it lives on
            return RedirectResponse(f"/stories/{h['story']['id']}{here}", status_code=307)
        with db.session(read_only=True) as s:
            shown = story_desk(s, story_id)
        return TEMPLATES.TemplateResponse(request, "story.html", {
            "h": h, "tree": tree_rows(h), "svg": render_svg(layout_timeline(h), standalone=False),
            "delay": format_delay,
            "evidence": format_evidence, "colours": KIND_COLOURS, "language_colour": language_colour,
            "is_web_address": is_web_address, "suffix": here, "desk": shown, "who": who,
            "csrf": csrf.issue(who) if who else ""})


def _history(db: Database, story_id: int) -> dict[str, Any]:
    with db.session(read_only=True) as s:
        h = story_history(s, story_id)
    if h is None:
        raise HTTPException(404, f"no story {story_id}")
    return h


def _disposition(filename: str, inline: bool = False) -> dict[str, str]:
    """Shown in the browser or saved, under a name that says which story it is."""
    return {"Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{filename}"'}
