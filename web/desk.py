"""The web page's write actions (the analyst's desk): correct a story, undo, mute, acknowledge.

Writes need a named desk token (`spreadwatch serve --desk-token ana=SECRET`, or
$SPREADWATCH_DESK_TOKENS "ana=SECRET,ben=OTHER"): the name is who made the correction. The read
token alone stays read-only, and an app without tokens has no write actions at all. Each form carries
a CSRF value bound to the token's name and signed with a key made when the app starts, good for
CSRF_HOURS; a POST without a valid one is refused (403) before anything is read or written. (The
pages send no Referer, so a browser's Origin on a POST is "null" and cannot be checked instead.)
The forms post `application/x-www-form-urlencoded`, read here without a multipart library.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import parse_qs

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse

from spreadwatch import desk
from spreadwatch.settings import Settings
from storage import Database

CSRF_HOURS = 8


def parse_desk_tokens(text: str | None) -> dict[str, str]:
    """`ana=SECRET,ben=OTHER` -> {"ana": "SECRET", "ben": "OTHER"} (names are who made a correction)."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, secret = part.partition("=")
        if not sep or not name.strip() or not secret:
            raise ValueError(f"a desk token is NAME=SECRET, got {part.strip()[:20]!r}…")
        out[name.strip()] = secret
    return out


class Csrf:
    """Signed, expiring values bound to a desk user's name."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key or os.urandom(32)

    def issue(self, who: str, now: float | None = None) -> str:
        stamp = str(int(now if now is not None else time.time()))
        return f"{stamp}.{self._sign(who, stamp)}"

    def valid(self, who: str, value: str, now: float | None = None) -> bool:
        stamp, _, mac = value.partition(".")
        if not stamp.isdigit():
            return False
        age = (now if now is not None else time.time()) - int(stamp)
        return 0 <= age <= CSRF_HOURS * 3600 and hmac.compare_digest(mac, self._sign(who, stamp))

    def _sign(self, who: str, stamp: str) -> str:
        return hmac.new(self.key, f"{who}\n{stamp}".encode(), hashlib.sha256).hexdigest()


def desk_user(request: Request, tokens: dict[str, str]) -> str | None:
    """The desk token's name the request carries (query `token` or bearer), if any."""
    offered = request.query_params.get("token") or ""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        offered = offered or auth[7:]
    for name, secret in tokens.items():
        if offered and hmac.compare_digest(offered.encode(), secret.encode()):
            return name
    return None


def add_desk_routes(app: FastAPI, db: Database, settings: Settings, tokens: dict[str, str], csrf: Csrf,
                    suffix_of: Callable[[Request], str]) -> None:
    """POST routes for every desk action; each answers with a redirect to the story's page."""

    async def act(request: Request, do: Callable[[Any, str, dict[str, str]], int]) -> RedirectResponse:
        who = desk_user(request, tokens)
        if who is None:
            raise HTTPException(403, "corrections need a desk token (spreadwatch serve --desk-token NAME=SECRET)")
        parsed = parse_qs((await request.body()).decode("utf-8", "replace"))
        form = {k: v[-1] for k, v in parsed.items()}
        if not csrf.valid(who, form.get("csrf", "")):
            raise HTTPException(403, "the form has expired or did not come from this page: reload it and try again")
        values = {k: v for k, v in form.items() if k != "csrf"}
        values["articles"] = ",".join(parsed.get("article", []))
        try:
            with db.session(purpose="desk") as s:
                story = do(s, who, values)
        except desk.DeskError as e:
            raise HTTPException(400, str(e)) from None
        except ValueError as e:
            raise HTTPException(400, f"not a valid value: {e}") from None
        return RedirectResponse(f"/stories/{story}{suffix_of(request)}", status_code=303)

    def _int(values: dict[str, str], key: str) -> int:
        text = values.get(key, "").strip()
        if not text.isdigit():
            raise desk.DeskError(f"{key}: a number is needed, got {text[:20]!r}")
        return int(text)

    def live(s: Any, story_id: int | None) -> int:
        from storage.stories_repo import story_history

        h = story_history(s, story_id) if story_id is not None else None
        return int(h["story"]["id"]) if h else int(story_id or 0)

    @app.post("/stories/{story_id}/merge", include_in_schema=False)
    async def merge(request: Request, story_id: int) -> RedirectResponse:
        return await act(request, lambda s, who, v: desk.merge(s, story_id, _int(v, "other"), who, settings).story_id)

    @app.post("/stories/{story_id}/split", include_in_schema=False)
    async def split(request: Request, story_id: int) -> RedirectResponse:
        def do(s: Any, who: str, v: dict[str, str]) -> int:
            chosen = [int(x) for x in v["articles"].split(",") if x.strip().isdigit()]
            return desk.split(s, story_id, chosen, who, settings).other_story_id  # type: ignore[return-value]
        return await act(request, do)

    @app.post("/articles/{article_id}/move", include_in_schema=False)
    async def move(request: Request, article_id: int) -> RedirectResponse:
        return await act(request, lambda s, who, v: desk.move(s, article_id, _int(v, "to"), who, settings).other_story_id)

    @app.post("/articles/{article_id}/link", include_in_schema=False)
    async def link(request: Request, article_id: int) -> RedirectResponse:
        return await act(request, lambda s, who, v: desk.mark_link(s, article_id, v.get("not", ""), who, settings).story_id)

    @app.post("/articles/{article_id}/source", include_in_schema=False)
    async def source(request: Request, article_id: int) -> RedirectResponse:
        return await act(request, lambda s, who, v: desk.set_source(s, article_id, _int(v, "from"), who,
                                                                    settings).story_id)

    @app.post("/corrections/{correction_id}/undo", include_in_schema=False)
    async def undo(request: Request, correction_id: int) -> RedirectResponse:
        def do(s: Any, who: str, v: dict[str, str]) -> int:
            c = desk.undo(s, correction_id, who, settings)
            return live(s, c.story_id)
        return await act(request, do)

    @app.post("/stories/{story_id}/mute", include_in_schema=False)
    async def mute(request: Request, story_id: int) -> RedirectResponse:
        def do(s: Any, who: str, v: dict[str, str]) -> int:
            until = _when(v.get("until", ""))
            upto = _int(v, "upto") if v.get("upto", "").strip() else None
            return desk.mute(s, story_id, who, until, upto).story_id
        return await act(request, do)

    @app.post("/stories/{story_id}/unmute", include_in_schema=False)
    async def unmute(request: Request, story_id: int) -> RedirectResponse:
        def do(s: Any, who: str, v: dict[str, str]) -> int:
            desk.unmute(s, story_id)
            return story_id
        return await act(request, do)

    @app.post("/alerts/{alert_id}/ack", include_in_schema=False)
    async def ack(request: Request, alert_id: int) -> RedirectResponse:
        return await act(request, lambda s, who, v: live(s, desk.acknowledge(s, alert_id, who).story_id))


def _when(text: str) -> datetime | None:
    if not text.strip():
        return None
    when = datetime.fromisoformat(text.strip())
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def story_desk(session: Any, story_id: int) -> dict[str, Any]:
    """What the story page shows of the desk: its corrections, alerts and mutes."""
    from sqlalchemy import select

    from alerts.rules import active_mutes, merged_family
    from storage.models import Alert
    from storage.queries import iso

    family = merged_family(session, story_id)
    alerts = [{"id": a.id, "rule": a.rule, "level": a.level, "at": iso(a.created_at),
               "sent": bool(a.deliveries), "muted": bool((a.summary or {}).get("muted")),
               "acknowledged_by": a.acknowledged_by}
              for a in session.scalars(select(Alert).where(Alert.story_id.in_(family)).order_by(Alert.id))]
    mutes = [{"until": iso(m.until) if m.until else None, "upto": m.upto, "who": m.who}
             for m in active_mutes(session, family, datetime.now(timezone.utc))]
    return {"corrections": desk.story_corrections(session, story_id), "alerts": alerts, "mutes": mutes}
