"""Typed settings: YAML files validated once at start; errors name the file, the line and the key.

Load order: the bundled defaults in ``config/`` (outlets.yaml, watches.yaml), then the user's file
(``--config`` or ``SPREADWATCH_CONFIG``). Outlets and watches from the user file are merged by
``key``/``name`` (same key replaces, new key adds); every other section replaces the default.
Secrets never live in YAML: fields ending in ``_env`` name the environment variable to read.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DEFAULT_DB_URL = "sqlite:///spreadwatch.db"
DEFAULT_USER_AGENT = "spreadwatch/0.1 (+https://github.com/spreadwatch/spreadwatch; media monitoring)"


class ConfigError(Exception):
    """A config file a person must fix: the message names the file, the line and the key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _compiled_pattern(value: str | None) -> str | None:
    """A regex the spiders will use: compiled now, so a typo is a config error, not a crawl failure."""
    if value is not None:
        try:
            re.compile(value)
        except re.error as e:
            raise ValueError(f"not a valid regular expression: {e}") from None
    return value


# The spiders read a selector starting like this as XPath, anything else as CSS (spiders/outlets.py).
XPATH_START = ("/", "(", "./")


def _compiled_selector(value: str | None) -> str | None:
    """A CSS or XPath link selector, compiled the way the spiders will (parsel's CSS, lxml's XPath)."""
    if value is None:
        return value
    from lxml import etree
    from parsel.csstranslator import HTMLTranslator

    try:
        if value.lstrip().startswith(XPATH_START):
            etree.XPath(value)
        else:
            HTMLTranslator().css_to_xpath(value)
    except (SyntaxError, etree.XPathError) as e:  # cssselect's and lxml's errors are SyntaxErrors
        kind = "XPath" if value.lstrip().startswith(XPATH_START) else "CSS"
        raise ValueError(f"not a valid {kind} selector: {e}") from None
    return value


class FeedConfig(_Model):
    url: str
    interval_minutes: float | None = None  # None: the daemon's default


class SitemapConfig(_Model):
    url: str
    max_age_hours: float = 48
    url_pattern: str | None = None  # regex an article URL must match

    _pattern = field_validator("url_pattern")(_compiled_pattern)


class ListingConfig(_Model):
    url: str
    link_selector: str = "a::attr(href)"  # CSS (Scrapy) selecting article links
    url_pattern: str | None = None
    next_selector: str | None = None
    max_pages: int = Field(default=2, ge=1, le=50)
    render: bool | None = None  # through the headless browser; None: as the outlet's `render`
    wait_for: str | None = None  # CSS selector a rendered page must show before it is read

    _pattern = field_validator("url_pattern")(_compiled_pattern)
    _selectors = field_validator("link_selector", "next_selector")(_compiled_selector)


class JsonEndpointConfig(_Model):
    url: str
    items_path: str = "items"  # dotted path to the list of items
    url_field: str = "url"


class OutletConfig(_Model):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str
    kind: Literal["media", "official"] = "media"  # official: a government, military mission or international body
    country: str = ""
    language: str = ""
    homepage: str = ""
    feeds: list[FeedConfig] = []
    sitemaps: list[SitemapConfig] = []
    listings: list[ListingConfig] = []
    json_endpoints: list[JsonEndpointConfig] = []
    enabled: bool = True
    notes: str = ""
    aliases: list[str] = []  # other names the outlet is credited by ("RFE/RL", "Билд"); name and key count too
    # per-outlet politeness overrides
    delay_seconds: float | None = None
    concurrency: int | None = None
    # pages that exist only after their scripts ran: every page (render), or those whose URL matches
    render: bool = False
    render_pattern: str | None = None

    @property
    def site_names(self) -> list[str]:
        """The outlet's name and aliases: what a page's title may carry besides its headline."""
        return [self.name, *self.aliases]

    @field_validator("feeds", mode="before")
    @classmethod
    def _feed_strings(cls, v: Any) -> Any:
        # a bare URL string is the common case
        if isinstance(v, list):
            return [{"url": x} if isinstance(x, str) else x for x in v]
        return v


class WatchRule(_Model):
    """Every group in ``all`` must have a term present; no term of ``none`` may be."""

    all: list[list[str]] = Field(min_length=1)
    none: list[str] = []


class WatchConfig(_Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    description: str = ""
    terms: dict[str, list[str]] = {}  # named lists, used in rules as @name (stories/match.py)
    rules: list[WatchRule] = Field(min_length=1)  # a text matches if any rule matches
    fields: list[Literal["title", "text"]] = ["title", "text"]


class HttpSettings(_Model):
    user_agent: str = DEFAULT_USER_AGENT
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0  # one request's deadline: all its attempts and the waits between them
    max_bytes: int = 5_000_000
    per_host_concurrency: int = Field(default=2, ge=1)
    per_host_delay: float = Field(default=1.0, ge=0)
    max_concurrency: int = Field(default=8, ge=1)
    retries: int = Field(default=2, ge=0, le=10)
    backoff_base: float = 1.0
    max_retry_after: float = 120.0
    obey_robots: bool = True


class PollSettings(_Model):
    interval_minutes: float = Field(default=10, gt=0)
    jitter_seconds: float = 30
    max_backoff_minutes: float = 360
    max_entries_per_feed: int = 50  # new entries stored per poll, the newest first; the rest wait for the next
    # a cycle's new articles are stored in publication order across its feeds: one waits at most this
    # long for the other feeds' (README "Stories": what a late arrival costs); 0 = each feed's at once
    order_window_seconds: float = Field(default=60, ge=0)
    cycle_deadline_seconds: float = Field(default=600, gt=0)  # a poll cycle stops what is still running then
    # entries older than this are not fetched (history is not news); 0 = no limit
    max_entry_age_hours: float = 0
    tick_seconds: float = Field(default=30, gt=0)  # how often the daemon looks for due feeds
    send_seconds: float = Field(default=30, gt=0)  # how often the alert sender runs
    crawl_minutes: float = Field(default=30, gt=0)  # how often the spiders run
    retention_days: float = Field(default=0, ge=0)  # drop article text (not the article) after this; 0 = keep


class PoolSettings(_Model):
    """The worker pool (`spreadwatch worker`, PostgreSQL only): see README "Scaling out"."""
    redis_url: str | None = "redis://127.0.0.1:6379/0"  # politeness shared by the pool; None: per worker only
    redis_prefix: str = "spreadwatch"  # keys are PREFIX:...; two pools on one Redis need two prefixes
    tick_seconds: int = Field(default=10, ge=1, le=60)  # how often one worker of the pool claims due feeds
    lease_seconds: float = Field(default=0, ge=0)  # a claimed feed's hold; 0: cycle_deadline_seconds + 60
    heartbeat_seconds: float = Field(default=5, gt=0)  # workers' heartbeat in the jobs database
    stalled_seconds: float = Field(default=20, gt=0)  # a worker silent this long is gone: its jobs run again
    claim_batch: int = Field(default=2000, ge=1)  # feeds claimed per tick at most
    # feeds per poll job: `schedule` defers one poll_batch job per this many claimed feeds, which takes
    # their claims in one UPDATE and polls them concurrently (a job per feed cost more than its poll);
    # smaller when few feeds are due, so that there are at least two jobs per job slot of each live worker
    poll_batch: int = Field(default=50, ge=1, le=1000)
    # articles placed per transaction of the `place` job, under one grant of the placement lock (the
    # lock, the waiting articles' reads and the commit are paid once per batch, not per article)
    place_batch: int = Field(default=25, ge=1, le=500)
    # a spider crawl is split over this many crawl_part jobs, which share its queue in Redis
    # (spiders/shared.py); without redis_url one job crawls alone
    crawl_parts: int = Field(default=2, ge=1, le=64)
    # adaptive intervals: a feed with new items is polled sooner, a quiet one later, within the bounds
    adaptive: bool = False
    min_interval_minutes: float = Field(default=2, gt=0)
    max_interval_minutes: float = Field(default=240, gt=0)


class StorySettings(_Model):
    window_hours: float = 72
    copy_threshold: float = 0.5
    same_story_threshold: float = 0.35


class Settings(_Model):
    database_url: str = DEFAULT_DB_URL
    http: HttpSettings = HttpSettings()
    poll: PollSettings = PollSettings()
    pool: PoolSettings = PoolSettings()
    stories: StorySettings = StorySettings()
    outlets: list[OutletConfig] = []
    watches: list[WatchConfig] = []
    alerts: dict[str, Any] = {}  # validated by alerts.config
    sources: list[str] = []  # files this was loaded from, for messages
    _locator: _Locator | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _unique_keys(self) -> Settings:
        for what, keys in (("outlet key", [o.key for o in self.outlets]),
                           ("watch name", [w.name for w in self.watches])):
            dupes = sorted({k for k in keys if keys.count(k) > 1})
            if dupes:
                raise ValueError(f"duplicate {what}: {', '.join(dupes)}")
        return self

    def outlet(self, key: str) -> OutletConfig:
        for o in self.outlets:
            if o.key == key:
                return o
        raise KeyError(key)

    def with_overrides(self, **changes: Any) -> Settings:
        return self.model_copy(update=changes)

    def locate(self, loc: tuple[Any, ...]) -> tuple[str, str]:
        """(`my.yaml:12`, `watches.0.rules.1.all`) for a key of these settings: the file and line that
        set it, and the key as that file numbers it; for errors found after loading."""
        if self._locator is None:
            return ", ".join(self.sources[-1:]) or "config", _dotted(loc)
        return self._locator.locate(loc)


# ---------------------------------------------------------------- loading, with line numbers

class _Doc:
    """A parsed YAML file with the line of every key, so pydantic errors can point at them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            self.data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f":{mark.line + 1}" if mark else ""
            raise ConfigError(f"{path}{where}: not valid YAML: {getattr(e, 'problem', e)}") from e
        if not isinstance(self.data, dict):
            raise ConfigError(f"{path}:1: expected a mapping of sections (outlets:, watches:, ...)")
        self.lines: dict[tuple[Any, ...], int] = {}
        self._index(node, ())

    def _index(self, node: Any, loc: tuple[Any, ...]) -> None:
        if node is None:
            return
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                self.lines[loc + (k.value,)] = k.start_mark.line + 1
                self._index(v, loc + (k.value,))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                self._index(v, loc + (i,))

    def line_of(self, loc: tuple[Any, ...]) -> int:
        while loc and loc not in self.lines:
            loc = loc[:-1]
        return self.lines.get(loc, 1)


class _Locator:
    """Maps a key of the merged settings back to the file, line and index that set it."""

    def __init__(self, origin: dict[tuple[Any, ...], tuple[_Doc, tuple[Any, ...]]], docs: list[_Doc]) -> None:
        self.origin, self.docs = origin, docs

    def find(self, loc: tuple[Any, ...]) -> tuple[_Doc | None, tuple[Any, ...]]:
        for n in range(len(loc), 0, -1):
            if loc[:n] in self.origin:
                doc, base = self.origin[loc[:n]]
                return doc, base + loc[n:]
        return (self.docs[-1] if self.docs else None), loc

    def locate(self, loc: tuple[Any, ...]) -> tuple[str, str]:
        doc, doc_loc = self.find(loc)
        return (f"{doc.path}:{doc.line_of(doc_loc)}" if doc else "config"), _dotted(doc_loc)


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _merge_named(base: list[dict[str, Any]], extra: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    merged = {item.get(key): item for item in base}
    for item in extra:
        merged[item.get(key)] = item
    return list(merged.values())


def load_settings(path: str | os.PathLike[str] | None = None, *, config_dir: Path | None = None,
                  defaults: bool = True) -> Settings:
    """Load the bundled defaults plus the user's file (or ``$SPREADWATCH_CONFIG``) into Settings."""
    config_dir = Path(os.environ.get("SPREADWATCH_CONFIG_DIR") or config_dir or DEFAULT_CONFIG_DIR)
    if path is None and os.environ.get("SPREADWATCH_CONFIG"):
        path = os.environ["SPREADWATCH_CONFIG"]
    user = _Doc(Path(path)) if path is not None else None
    wanted = ["outlets.yaml", "watches.yaml"]
    if user is not None:
        _not_empty(user)
        if not _default_outlets(user):
            wanted.remove("outlets.yaml")
    docs: list[_Doc] = []
    if defaults:
        for name in wanted:
            f = config_dir / name
            if not f.exists():
                raise ConfigError(f"{f}: bundled default config is missing (set SPREADWATCH_CONFIG_DIR)")
            docs.append(_Doc(f))
    if user is not None:
        docs.append(user)

    for doc in docs:
        _no_duplicates(doc)
    raw: dict[str, Any] = {}
    origin: dict[tuple[Any, ...], tuple[_Doc, tuple[Any, ...]]] = {}  # merged loc -> (doc, doc loc)
    for doc in docs:
        for section, value in doc.data.items():
            if section in ("outlets", "watches") and isinstance(value, list) and isinstance(raw.get(section), list):
                key = "key" if section == "outlets" else "name"
                raw[section] = _merge_named(raw[section], value, key)
            else:
                raw[section] = value
        for section, value in doc.data.items():
            if isinstance(value, list) and isinstance(raw.get(section), list):
                for i, item in enumerate(value):
                    j = next((n for n, x in enumerate(raw[section]) if x is item), None)
                    if j is not None:
                        origin[(section, j)] = (doc, (section, i))
            origin[(section,)] = (doc, (section,))
    raw["sources"] = [str(d.path) for d in docs]
    raw.setdefault("database_url", os.environ.get("SPREADWATCH_DB") or DEFAULT_DB_URL)
    if os.environ.get("SPREADWATCH_DB"):
        raw["database_url"] = os.environ["SPREADWATCH_DB"]
    locator = _Locator(origin, docs)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_describe(e, locator)) from None
    settings._locator = locator
    return settings


def _not_empty(doc: _Doc) -> None:
    """An empty file is more likely a mistake (a wrong path, a file cut short) than a wish for the defaults."""
    if not doc.data:
        raise ConfigError(f"{doc.path}:1: the file is empty (no sections such as outlets:, watches:, alerts:); "
                          "leave out --config (and $SPREADWATCH_CONFIG) to run on the bundled defaults")


def _default_outlets(doc: _Doc) -> bool:
    """`default_outlets: false` in the user's file: watch only the outlets it lists, not the bundled 30."""
    value = doc.data.pop("default_outlets", True)
    if not isinstance(value, bool):
        raise ConfigError(f"{doc.path}:{doc.line_of(('default_outlets',))}: default_outlets: "
                          f"expected true or false, got {value!r}")
    return value


def _no_duplicates(doc: _Doc) -> None:
    for section, key, what in (("outlets", "key", "outlet"), ("watches", "name", "watch")):
        seen: set[Any] = set()
        for i, item in enumerate(doc.data.get(section) or []):
            name = item.get(key) if isinstance(item, dict) else None
            if name is not None and name in seen:
                raise ConfigError(f"{doc.path}:{doc.line_of((section, i, key))}: {section}.{i}.{key}: "
                                  f"duplicate {what} {key}: {name}")
            seen.add(name)


def _describe(err: ValidationError, locator: _Locator) -> str:
    """Each problem as `file:line: key: what`, the key numbered as in the file that holds it (the
    user's first outlet is outlets.0, however many bundled outlets come before it)."""
    lines = []
    for problem in err.errors():
        msg = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            msg = "unknown key (a typo?)"
        where, key = locator.locate(tuple(problem["loc"]))
        lines.append(f"{where}: {key}: {msg}")
    return "invalid configuration:\n  " + "\n  ".join(lines)
