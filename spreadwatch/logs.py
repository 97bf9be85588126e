"""Log lines: one line per event on stderr, its details as fields (`key=value`, or JSON).

Every command logs this way (the CLI sets it up at WARNING, the daemon at INFO), so a warning names
its outlet and address wherever it comes from: `feed failed outlet=… feed=https://… error="…"`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import datetime
from typing import Any

_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class EventFormatter(logging.Formatter):
    """One line per event: time, level, logger, message, then the event's own fields (outlet, feed,
    error, ...) as fields: `key=value` pairs, or one JSON object per line with `as_json`."""

    def __init__(self, as_json: bool = False) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        event.update({k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS and v is not None})
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        if self.as_json:
            return json.dumps(event, ensure_ascii=False, default=str)
        head = f"{event.pop('ts')} {event.pop('level').upper()} {event.pop('logger')} {event.pop('msg')}"
        return " ".join([head, *(f"{k}={_logfmt(v)}" for k, v in event.items())])


def _logfmt(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if text and not any(c in text for c in ' "=\n\r\t'):
        return text
    return json.dumps(text, ensure_ascii=False)  # quoted, newlines escaped: the event stays one line


class _CancelledAtStop(logging.Filter):
    """Drops APScheduler's report of a job cancelled by stop(): a job submitted just before it is
    cancelled before its first line runs, and the scheduler logs that as a job error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


def configure_logging(*, as_json: bool = False, level: int = logging.INFO) -> None:
    """Send every log record to stderr as one line (text or JSON)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EventFormatter(as_json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run is noise
    logging.getLogger("apscheduler.executors.default").addFilter(_CancelledAtStop())
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migrations at start, line by line
