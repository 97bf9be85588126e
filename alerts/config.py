"""The `alerts:` section of the settings: rules (when) and channels (where), validated once."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from spreadwatch.settings import ConfigError, Settings


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_M):
    name: str
    kind: Literal["outlets", "languages", "countries", "denial"] = "outlets"
    watch: str | None = None  # None: any watch; a story must match a watch to alert at all
    levels: list[int] = [3, 5, 10]  # for "outlets": distinct outlets reached
    window_hours: float = 24


class Channel(_M):
    name: str
    type: Literal["email", "slack", "webhook", "console"]
    # email
    host: str = "localhost"
    port: int = 25
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password_env: str | None = None
    sender: str = Field(default="spreadwatch@localhost", alias="from")
    to: list[str] = []
    # slack / webhook
    url: str | None = None
    url_env: str | None = None
    timeout_seconds: float = 10
    # flow control
    rate_per_minute: int = Field(default=6, ge=1)  # more waits for the next minute, nothing is dropped

    def resolved_url(self) -> str:
        url = os.environ.get(self.url_env, "") if self.url_env else (self.url or "")
        if not url:
            raise ConfigError(f"alerts channel {self.name!r}: no URL (set url or the environment variable {self.url_env})")
        return url

    def password(self) -> str | None:
        return os.environ.get(self.password_env) if self.password_env else None


class Delivery(_M):
    max_attempts: int = 8
    backoff_seconds: float = 30
    max_backoff_seconds: float = 3600
    lease_seconds: float = 120  # a claim older than this belonged to a process that died


class AlertSettings(_M):
    rules: list[Rule] = [Rule(name="spreading"), Rule(name="new-language", kind="languages"),
                         Rule(name="denied", kind="denial")]
    channels: list[Channel] = []
    delivery: Delivery = Delivery()
    base_url: str | None = None  # the web app's address, for links in messages


_cache: dict[int, tuple[Settings, AlertSettings]] = {}


def alert_settings(settings: Settings) -> AlertSettings:
    """Validated alert settings (errors name the key, as every config error does)."""
    hit = _cache.get(id(settings))
    if hit is None or hit[0] is not settings:
        try:
            parsed = AlertSettings.model_validate(settings.alerts or {})
        except ValidationError as e:
            where = ", ".join(settings.sources[-1:]) or "config"
            lines = [f"{where}: alerts.{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in e.errors()]
            raise ConfigError("invalid alerts configuration:\n  " + "\n  ".join(lines)) from None
        hit = _cache[id(settings)] = (settings, parsed)
    return hit[1]


def channel(settings: Settings, name: str) -> Channel:
    for c in alert_settings(settings).channels:
        if c.name == name:
            return c
    known = ", ".join(c.name for c in alert_settings(settings).channels) or "none configured"
    raise ConfigError(f"no alerts channel named {name!r} ({known})")


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(by_alias=True)
