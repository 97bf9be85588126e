"""How the app behaves as a web server, apart from its pages: /docs from files shipped with the
package, HTML error pages for browsers, HEAD on every GET route, and access logs without the token.

- /docs is Swagger UI from the `swagger-ui-bundle-v2` package's own files (served under
  /docs/assets), started by our static script: it works without internet, under a CSP that allows
  only this server's scripts.
- A browser asking for a page gets an HTML error page (a missing story, a bad token); the API,
  the exports and clients that do not ask for HTML keep the JSON `{"detail": ...}`.
- HEAD answers as GET would, without the body (monitors and link checkers use it).
- uvicorn's access log prints each request's path with its query: `?token=` is masked there.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'")
_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s\"]*")


def add_docs(app: FastAPI) -> None:
    """/docs: Swagger UI over /openapi.json, every file served from here."""
    import swagger_ui_bundle

    app.mount("/docs/assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger-ui")
    app.mount("/docs/static", StaticFiles(directory=STATIC), name="docs-static")

    async def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>spreadwatch API</title>"
            "<link rel=\"stylesheet\" href=\"/docs/assets/swagger-ui.css\">"
            "<link rel=\"icon\" href=\"/docs/assets/favicon-32x32.png\"></head>"
            "<body><div id=\"swagger-ui\"></div><script src=\"/docs/assets/swagger-ui-bundle.js\"></script>"
            "<script src=\"/docs/static/docs.js\"></script></body></html>")

    app.add_route("/docs", docs, methods=["GET"], include_in_schema=False)


def add_error_pages(app: FastAPI, templates: Jinja2Templates, suffix: str) -> None:
    """HTML error pages for browsers on the HTML routes; JSON for the API and everyone else."""

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not wants_html(request):
            return await http_exception_handler(request, exc)
        return _page(request, templates, exc.status_code, str(exc.detail), suffix, exc.headers)

    async def on_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not wants_html(request):
            return await request_validation_exception_handler(request, exc)
        problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:])) or e['loc'][0]}: {e['msg']}" for e in exc.errors())
        return _page(request, templates, 422, f"The address is not valid: {problems}.", suffix)

    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_invalid)


def wants_html(request: Request) -> bool:
    """A browser asking for a page: HTML accepted, and not an API, export or schema address."""
    path = request.url.path
    if path.startswith("/api/") or path == "/openapi.json" or path.endswith((".svg", ".png", ".csv")):
        return False
    return "text/html" in request.headers.get("accept", "")


def _page(request: Request, templates: Jinja2Templates, status: int, detail: str, suffix: str,
          headers: dict[str, str] | None = None) -> Response:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    return templates.TemplateResponse(request, "error.html", {"status": status, "reason": reason,
                                                              "detail": _sentence(detail), "suffix": suffix},
                                      status_code=status, headers=headers)


def _sentence(detail: str) -> str:
    text = detail.strip() or "Something went wrong."
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


class HeadAsGet:
    """HEAD on any GET route: the GET response's status and headers, without its body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class TokenRedactor(logging.Filter):
    """Masks `token=` in the request line of uvicorn's access log (its third argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
            args = list(record.args)
            args[2] = _TOKEN_IN_QUERY.sub(r"\1[redacted]", args[2])
            record.args = tuple(args)
        elif isinstance(record.msg, str):
            record.msg = _TOKEN_IN_QUERY.sub(r"\1[redacted]", record.msg)
        return True


_REDACTOR = TokenRedactor()


def redact_access_log() -> None:
    """Install the redactor on uvicorn's access logger (once; a filter survives uvicorn's log config)."""
    logger = logging.getLogger("uvicorn.access")
    if _REDACTOR not in logger.filters:
        logger.addFilter(_REDACTOR)


__all__ = ["HeadAsGet", "add_docs", "add_error_pages", "redact_access_log", "wants_html"]
