"""The replay corpus: a newsroom reconstructed from the facts of February 2025, with labels.

Written for this project (facts from public reporting, words our own). It feeds the offline demo,
the tests and the evaluation of story clustering and propagation. Each article carries labels:
its story, its true source, and how it was made (origin, copy, edited-copy, translation,
attribution, same-event, denial).

Copies can be written as edits of another article's body, the way portals really copy:
``body_from: <id>`` with ``drop: [paragraph numbers]``, ``prepend``, ``append`` and ``replace``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
KINDS = ("origin", "copy", "edited-copy", "translation", "attribution", "same-event", "denial")


class CorpusError(ValueError):
    """The bundled corpus is inconsistent (a file and article named in the message)."""


@dataclass(frozen=True)
class ReplayOutlet:
    key: str
    name: str
    country: str
    language: str
    domain: str  # the real site's host: canonical URLs point there, as the real pages' do
    feed: str = "rss"  # rss | atom | rss-malformed | none
    spider: str | None = None  # sitemap | listing, for outlets without a feed
    encoding: str = "utf-8"
    aliases: tuple[str, ...] = ()  # other names it is credited by


@dataclass(frozen=True)
class Labels:
    story: str
    source: str | None
    kind: str
    watch: bool


@dataclass(frozen=True)
class ReplayArticle:
    id: str
    outlet: str
    language: str
    published: datetime
    title: str
    body: str
    labels: Labels
    links: tuple[str, ...] = ()
    feed_url_suffix: str = ""

    @property
    def paragraphs(self) -> list[str]:
        return [p.strip() for p in self.body.split("\n\n") if p.strip()]


@dataclass
class Corpus:
    outlets: list[ReplayOutlet]
    articles: list[ReplayArticle]
    stories: dict[str, str] = field(default_factory=dict)

    def article(self, article_id: str) -> ReplayArticle:
        for a in self.articles:
            if a.id == article_id:
                return a
        raise KeyError(article_id)

    def outlet(self, key: str) -> ReplayOutlet:
        for o in self.outlets:
            if o.key == key:
                return o
        raise KeyError(key)


@lru_cache(maxsize=1)
def load_corpus(root: Path = HERE) -> Corpus:
    """Load and validate the bundled corpus."""
    outlets = [ReplayOutlet(**{**o, "aliases": tuple(o.get("aliases", ()))}) for o in yaml.safe_load((root / "outlets.yaml").read_text("utf-8"))["outlets"]]
    corpus = Corpus(outlets=outlets, articles=[])
    raw: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in sorted((root / "stories").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text("utf-8"))
        corpus.stories[doc["key"]] = doc.get("description", "")
        for item in doc["articles"]:
            if item["id"] in raw:
                raise CorpusError(f"{path.name}: article id {item['id']!r} is used twice")
            raw[item["id"]] = (path, {**item, "story": doc["key"]})
    for art_id in raw:
        corpus.articles.append(_article(art_id, raw))
    _validate(corpus)
    corpus.articles.sort(key=lambda a: (a.published, a.id))
    return corpus


def _body(art_id: str, raw: dict[str, tuple[Path, dict[str, Any]]], depth: int = 0) -> str:
    path, item = raw[art_id]
    if "body" in item:
        return item["body"].strip()
    base_id = item.get("body_from")
    if base_id not in raw or depth > 5:
        raise CorpusError(f"{path.name}: {art_id}: needs a body or a valid body_from")
    paras = [p for p in _body(base_id, raw, depth + 1).split("\n\n") if p.strip()]
    drop = set(item.get("drop", []))
    paras = [p for n, p in enumerate(paras, start=1) if n not in drop]
    text = "\n\n".join(([item["prepend"].strip()] if "prepend" in item else []) + paras
                       + ([item["append"].strip()] if "append" in item else []))
    for old, new in (item.get("replace") or {}).items():
        if old not in text:
            raise CorpusError(f"{path.name}: {art_id}: replace target {old!r} not in the copied text")
        text = text.replace(old, new)
    return text


def _article(art_id: str, raw: dict[str, tuple[Path, dict[str, Any]]]) -> ReplayArticle:
    path, item = raw[art_id]
    try:
        published = datetime.fromisoformat(str(item["published"]).replace("Z", "+00:00")).astimezone(timezone.utc)
        labels = item.get("labels", {})
        return ReplayArticle(
            id=art_id, outlet=item["outlet"], language=item["language"], published=published,
            title=item["title"].strip(), body=_body(art_id, raw),
            labels=Labels(story=item["story"], source=labels.get("source"), kind=labels.get("kind", "origin"),
                          watch=bool(labels.get("watch", False))),
            links=tuple(item.get("links", [])), feed_url_suffix=item.get("feed_url_suffix", ""))
    except KeyError as e:
        raise CorpusError(f"{path.name}: {art_id}: missing field {e}") from None


def _validate(corpus: Corpus) -> None:
    keys = {o.key for o in corpus.outlets}
    by_id = {a.id: a for a in corpus.articles}
    for a in corpus.articles:
        if a.outlet not in keys:
            raise CorpusError(f"{a.id}: unknown outlet {a.outlet!r}")
        if a.labels.kind not in KINDS:
            raise CorpusError(f"{a.id}: unknown kind {a.labels.kind!r}")
        src = a.labels.source
        if src is not None:
            if src not in by_id:
                raise CorpusError(f"{a.id}: source {src!r} does not exist")
            if by_id[src].published >= a.published:
                raise CorpusError(f"{a.id}: source {src!r} is not earlier")
            if by_id[src].labels.story != a.labels.story:
                raise CorpusError(f"{a.id}: source {src!r} is in another story")
        for link in a.links:
            if link not in by_id:
                raise CorpusError(f"{a.id}: links to unknown article {link!r}")
