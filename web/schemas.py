"""The JSON API's response models: the shapes of `spreadwatch stories --json` and `spreadwatch story
ID --json` (storage/stories_repo.py builds them), described for OpenAPI at /docs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

KINDS = "origin, copy, attribution, translation, same-event or denial"


class StorySummary(BaseModel):
    """A story: the copies of one article and its relays, across outlets and languages."""

    id: int = Field(description="Story id, as in /stories/{id} and `spreadwatch story ID`.")
    title: str = Field(description="The origin article's title (scraped: untrusted text).")
    status: str = Field(description="'active', or 'merged' into another story.")
    outlet_count: int = Field(description="Distinct outlets that carried the story.")
    article_count: int = Field(description="Articles in the story.")
    languages: list[str] = Field(description="ISO 639-1 codes of the articles' languages, sorted.")
    countries: list[str] = Field(description="Country codes of the outlets, sorted.")
    watches: list[str] = Field(description="Watches that at least one article matched.")
    first_seen: str | None = Field(description="When the first article appeared, ISO 8601 UTC ('Z').")
    last_seen: str | None = Field(description="When the latest article appeared, ISO 8601 UTC ('Z').")
    origin_article_id: int | None = Field(description="The article the story started from.")


class ArticleEntry(BaseModel):
    """One article of a story and how it got there."""

    id: int = Field(description="Article id.")
    outlet: str = Field(description="Outlet key from the configuration.")
    outlet_name: str = Field(description="Outlet's display name.")
    country: str = Field(description="Outlet's country code.")
    language: str | None = Field(description="Article language (ISO 639-1).")
    url: str = Field(description="Article address as published (scraped: untrusted).")
    title: str = Field(description="Article title (scraped: untrusted text).")
    published_at: str | None = Field(description="Publication time, ISO 8601 UTC, when the outlet gave one.")
    first_seen_at: str | None = Field(description="When spreadwatch first stored the article, ISO 8601 UTC.")
    delay_seconds: float = Field(description="Seconds after the origin appeared (negative: before it).")
    source: int | None = Field(description="Article id this one was taken from; null for the origin.")
    source_outlet: str | None = Field(description="Outlet key of the source.")
    kind: str = Field(description=f"How it was taken up: {KINDS}.")
    score: float = Field(description="Strength of the link, 0 to 1 (1.0 for the origin).")
    evidence: dict[str, Any] = Field(description="Why: e.g. jaccard, credits, links_to, outlet, denial_terms.")
    watches: list[str] = Field(description="Watches this article matched.")
    placement: dict[str, Any] | None = Field(
        description="Why the article is in this story: reason (hash, copy, link, credit, evidence, new), score, "
                    "and evidence (probability, lexical and anchor cosines, hours apart, shared terms and names); "
                    "null for articles stored before spreadwatch kept it.")


class StoryHistory(BaseModel):
    """A story's propagation history: the origin, then every article in time order with its source."""

    story: StorySummary
    origin: ArticleEntry = Field(description="The origin article (also in `articles`).")
    articles: list[ArticleEntry] = Field(description="All articles, earliest first.")
    denials: list[int] = Field(description="Ids of the articles that deny or debunk the story.")


class Problem(BaseModel):
    """An error."""

    detail: str = Field(description="What went wrong, for a person.")
