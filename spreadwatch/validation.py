"""The whole configuration, validated the same way for every command before anything runs.

`load_settings()` checks the files' shape (pydantic, with file and line). What needs other rooms is
checked here: the database URL names a backend and a driver we have, every watch term compiles, and
the alerts section is valid and names known watches. An error is a `ConfigError` naming the file,
the line and the key; the CLI prints it and exits 2, before any database is opened or created.
`check` and the daemon also need each channel's secrets: `require_secrets()`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from spreadwatch.settings import ConfigError, Settings, load_settings


def load_config(path: str | os.PathLike[str] | None = None, db_url: str | None = None) -> Settings:
    """The user's settings (and `--db`), fully validated."""
    settings = load_settings(Path(path) if path is not None else None)
    if db_url:
        settings = settings.with_overrides(database_url=db_url)
    check_database_url(settings.database_url, _url_source(settings, db_url))
    check_watch_terms(settings)
    from alerts.config import alert_settings

    alert_settings(settings)  # raises ConfigError, naming file, line and key
    return settings


def _url_source(settings: Settings, db_url: str | None) -> str:
    if db_url:
        return "--db"
    if os.environ.get("SPREADWATCH_DB"):
        return "$SPREADWATCH_DB"
    where, key = settings.locate(("database_url",))
    return f"{where}: {key}"


def check_database_url(url: str, where: str) -> None:
    """A URL SQLAlchemy can make an engine of, with its driver installed; nothing is connected to."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from storage.db import engine_url, masked

    example = "(such as sqlite:///spreadwatch.db or postgresql://user@host/dbname)"
    try:
        parsed = engine_url(url)
        dialect = parsed.get_dialect()
    except NoSuchModuleError:  # (an ArgumentError too, so first)
        raise ConfigError(f"{where}: {masked(url)}: no database backend is called "
                          f"{url.split(':', 1)[0]!r} {example}") from None
    except ArgumentError:
        raise ConfigError(f"{where}: {masked(url)!r} is not a database URL {example}") from None
    try:
        dialect.import_dbapi()
    except ImportError as e:
        raise ConfigError(f"{where}: {masked(url)}: its driver ({e.name or e}) is not installed") from None


def check_watch_terms(settings: Settings) -> None:
    """Every term of every watch, compiled as the matcher will; each bad one named where it is written."""
    from stories.match import compile_term

    problems = []
    for loc, term in _watch_terms(settings):
        try:
            compile_term(term, dict(settings.watches[loc[1]].terms))  # the watch's own @lists
        except ValueError as e:
            where, key = settings.locate(loc)
            problems.append(f"{where}: {key}: {e}")
    if problems:
        raise ConfigError("invalid watches:\n  " + "\n  ".join(problems))


def _watch_terms(settings: Settings) -> list[tuple[tuple[Any, ...], str]]:
    terms: list[tuple[tuple[Any, ...], str]] = []
    for w, watch in enumerate(settings.watches):
        for r, rule in enumerate(watch.rules):
            base = ("watches", w, "rules", r)
            terms += [((*base, "all", g, t), term) for g, group in enumerate(rule.all) for t, term in enumerate(group)]
            terms += [((*base, "none", t), term) for t, term in enumerate(rule.none)]
    return terms


def missing_secrets(settings: Settings) -> list[str]:
    """One line per `*_env` variable a configured channel names and the environment lacks."""
    from alerts.config import alert_settings

    missing = []
    for i, chan in enumerate(alert_settings(settings).channels):
        for key in ("url_env", "password_env"):
            name = getattr(chan, key)
            if name and name not in os.environ:
                where, _ = settings.locate(("alerts", "channels", i, key))
                missing.append(f"{where}: alerts.channels[{chan.name}].{key}: the environment variable {name} "
                               f"is not set (channel {chan.name} cannot send without it)")
    return missing


def require_secrets(settings: Settings) -> None:
    """A ConfigError naming every missing channel secret: for the commands that send (and `check`)."""
    missing = missing_secrets(settings)
    if missing:
        raise ConfigError("alerts channels without their secrets:\n  " + "\n  ".join(missing))
