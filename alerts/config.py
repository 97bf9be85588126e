"""The `alerts:` section of the settings: rules (when) and channels (where), validated once."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from spreadwatch.settings import ConfigError, Settings


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Rule(_M):
    name: str = Field(min_length=1)
    kind: Literal["outlets", "languages", "countries", "denial", "rate"] = "outlets"
    watch: str | None = None  # None: any watch; a story must match a watch to alert at all
    levels: list[int] = Field(default=[3, 5, 10], min_length=1)  # for "outlets": distinct outlets reached
    window_hours: float = Field(default=24, gt=0)
    # denial: "any" alerts on a denial (level `denied`) and again, as level `official`, when an official
    # source denies; "official" alerts only on an official source's denial
    sources: Literal["any", "official"] = "any"
    # rate: a level N is reached when N outlets new to the story appear within `window_minutes`; with
    # `factor`, only when that is also `factor` times the story's own rate over the `baseline_hours` before
    window_minutes: float | None = Field(default=None, gt=0)
    factor: float | None = Field(default=None, gt=1)
    baseline_hours: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _positive_levels(self) -> Rule:
        if any(n < 1 for n in self.levels):
            raise ValueError(f"levels must be outlet counts of 1 or more, got {self.levels}")
        if self.sources != "any" and self.kind != "denial":
            raise ValueError("`sources:` narrows a denial rule (kind: denial) only")
        rate_keys = [k for k in ("window_minutes", "factor", "baseline_hours") if getattr(self, k) is not None]
        if rate_keys and self.kind != "rate":
            raise ValueError(f"`{rate_keys[0]}:` belongs to a rate rule (kind: rate) only")
        if self.kind == "rate" and self.window_minutes is None:
            raise ValueError("a rate rule needs `window_minutes:` (new outlets counted within that many minutes)")
        if self.kind == "rate" and self.baseline_hours is not None and self.factor is None:
            raise ValueError("`baseline_hours:` is the period `factor:` compares with: set `factor:` too")
        return self


class Channel(_M):
    name: str = Field(min_length=1)
    type: Literal["email", "slack", "webhook", "apprise", "console"]
    # email
    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password_env: str | None = None
    ca_file: str | None = None  # trust this CA bundle instead of the system's (a server with a private CA)
    sender: str = Field(default="spreadwatch@localhost", alias="from")
    to: list[str] = []
    # slack / webhook
    url: str | None = None
    url_env: str | None = None
    timeout_seconds: float = Field(default=10, gt=0)
    # apprise: what we hand it; apprise turns it into what each service takes (plain, Markdown or HTML)
    format: Literal["markdown", "text", "html"] = "markdown"
    # flow control
    rate_per_minute: int = Field(default=6, ge=1)  # more waits for the next minute, nothing is dropped
    digest_minutes: float | None = Field(default=None, gt=0)  # one message per interval instead of one per alert

    @model_validator(mode="after")
    def _complete(self) -> Channel:
        if self.type == "email" and not self.to:
            raise ValueError("an email channel needs `to:` (a list of addresses)")
        if self.type in ("slack", "webhook") and not (self.url or self.url_env):
            raise ValueError(f"a {self.type} channel needs `url:` or `url_env:` (the variable holding the URL)")
        if self.type == "apprise" and (self.url or not self.url_env):
            # tgram://TOKEN/CHAT, msteams://…: an apprise URL carries the service's secret
            raise ValueError("an apprise channel takes its URL from the environment: `url_env:` names the variable")
        if self.password_env and not self.username:
            raise ValueError("`password_env:` is set but `username:` is not: login needs both")
        return self

    def resolved_url(self) -> str:
        """The webhook URL, from `url` or the environment variable `url_env` names."""
        url = os.environ.get(self.url_env, "") if self.url_env else (self.url or "")
        if not url:
            raise ConfigError(f"alerts channel {self.name!r}: the environment variable {self.url_env} is not set")
        return url

    def password(self) -> str | None:
        """The SMTP password from the environment variable `password_env` names."""
        if not self.password_env:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise ConfigError(f"alerts channel {self.name!r}: the environment variable {self.password_env} "
                              "(the SMTP password) is not set")
        return value


class Delivery(_M):
    max_attempts: int = Field(default=8, ge=1)
    backoff_seconds: float = Field(default=30, ge=0)
    max_backoff_seconds: float = Field(default=3600, ge=0)
    lease_seconds: float = Field(default=120, gt=0)  # a claim older than this belonged to a process that died


class AlertSettings(_M):
    rules: list[Rule] = [Rule(name="spreading"), Rule(name="new-language", kind="languages"),
                         Rule(name="denied", kind="denial")]
    channels: list[Channel] = []
    delivery: Delivery = Delivery()
    base_url: str | None = None  # the web app's address, for links in messages

    @model_validator(mode="after")
    def _unique_names(self) -> AlertSettings:
        for what, names in (("rule", [r.name for r in self.rules]), ("channel", [c.name for c in self.channels])):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {what} name: {', '.join(dupes)}")
        return self


_cache: dict[int, tuple[Settings, AlertSettings]] = {}


def alert_settings(settings: Settings) -> AlertSettings:
    """Validated alert settings (errors name the file and the key, as every config error does)."""
    hit = _cache.get(id(settings))
    if hit is None or hit[0] is not settings:
        parsed = _parse(settings)
        _check_watches(parsed, settings)
        hit = _cache[id(settings)] = (settings, parsed)
    return hit[1]


def _parse(settings: Settings) -> AlertSettings:
    raw = settings.alerts or {}
    try:
        return AlertSettings.model_validate(raw)
    except ValidationError as e:
        lines = [f"{_where(settings, p['loc'])}: alerts.{_path(raw, p['loc'])}: {p['msg']}" for p in e.errors()]
        raise ConfigError("invalid alerts configuration:\n  " + "\n  ".join(lines)) from None


def _where(settings: Settings, loc: tuple[Any, ...]) -> str:
    """`my.yaml:14`: the file and line of a key under `alerts:`."""
    return settings.locate(("alerts", *loc))[0]


def _path(raw: Any, loc: tuple[Any, ...]) -> str:
    """`channels[desk].to` rather than `channels.0.to`: the name the user wrote, where there is one."""
    parts: list[str] = []
    node = raw
    for key in loc:
        if isinstance(key, int) and isinstance(node, list) and key < len(node):
            node = node[key]
            name = node.get("name") if isinstance(node, dict) else None
            parts[-1:] = [f"{parts[-1] if parts else ''}[{name if name else key}]"]
            continue
        parts.append(str(key))
        node = node.get(key) if isinstance(node, dict) else None
    return ".".join(parts)


def _check_watches(parsed: AlertSettings, settings: Settings) -> None:
    known = [w.name for w in settings.watches]
    for i, rule in enumerate(parsed.rules):
        if rule.watch is not None and rule.watch not in known:
            where = _where(settings, ("rules", i, "watch"))
            raise ConfigError(f"{where}: alerts.rules[{rule.name}].watch: no watch named {rule.watch!r} "
                              f"(known: {', '.join(known) or 'none'})")


def channel(settings: Settings, name: str) -> Channel:
    """The configured channel of this name, or a ConfigError that lists the known ones."""
    for c in alert_settings(settings).channels:
        if c.name == name:
            return c
    known = ", ".join(c.name for c in alert_settings(settings).channels) or "none configured"
    raise ConfigError(f"no alerts channel named {name!r} ({known})")
