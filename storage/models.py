"""SQLAlchemy 2.0 typed models: the whole state of spreadwatch lives in these tables."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite keeps no zone, PostgreSQL gets the same values."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: spreadwatch stores only aware UTC times")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Outlet(Base):
    __tablename__ = "outlet"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(8), default="")
    language: Mapped[str] = mapped_column(String(8), default="")
    homepage: Mapped[str] = mapped_column(String(500), default="")
    kind: Mapped[str] = mapped_column(String(16), default="media", server_default="media")  # media | official
    # health, written by pollers and spiders
    last_ok_at: Mapped[datetime | None]
    last_error_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0)

    feeds: Mapped[list[Feed]] = relationship(back_populates="outlet")


class Feed(Base):
    __tablename__ = "feed"

    id: Mapped[int] = mapped_column(primary_key=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlet.id"))
    url: Mapped[str] = mapped_column(String(1000), unique=True)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    last_polled_at: Mapped[datetime | None]
    last_ok_at: Mapped[datetime | None]
    next_poll_at: Mapped[datetime | None]
    last_status: Mapped[int | None]
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_warning: Mapped[str | None] = mapped_column(Text)
    entries_seen: Mapped[int] = mapped_column(Integer, default=0)
    # the worker pool (spreadwatch/pool.py): the adapted interval, and the claim a poll job must hold
    poll_interval_minutes: Mapped[float | None] = mapped_column(Float)
    poll_claim: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    outlet: Mapped[Outlet] = relationship(back_populates="feeds")


class Article(Base):
    __tablename__ = "article"

    id: Mapped[int] = mapped_column(primary_key=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlet.id"), index=True)
    canonical_url: Mapped[str] = mapped_column(String(1000), unique=True)
    url: Mapped[str] = mapped_column(String(1000), index=True)  # an article is also found by the address fetched
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8), default="")  # detected from the text (stories/language.py)
    script: Mapped[str] = mapped_column(String(4), default="", server_default="")  # Latn | Cyrl | ""
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    via: Mapped[str] = mapped_column(String(20), default="feed")  # feed | spider | demo
    extraction_note: Mapped[str | None] = mapped_column(Text)  # why the fallback was used, if it was
    minhash: Mapped[bytes | None] = mapped_column(LargeBinary)
    # canonical outbound links in the body; NULL on rows stored before migration 0002 added the column
    links: Mapped[list[Any] | None] = mapped_column(JSON, default=list)
    story_id: Mapped[int | None] = mapped_column(ForeignKey("story.id"), index=True)
    # what the story engine read in the text (stories.features.Features.stored); NULL before 0006
    features: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    outlet: Mapped[Outlet] = relationship()
    matches: Mapped[list[WatchMatch]] = relationship(back_populates="article")


class WatchMatch(Base):
    __tablename__ = "watch_match"
    __table_args__ = (UniqueConstraint("article_id", "watch"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id"), index=True)
    watch: Mapped[str] = mapped_column(String(100), index=True)
    terms: Mapped[list[Any]] = mapped_column(JSON)
    snippet: Mapped[str] = mapped_column(Text, default="")

    article: Mapped[Article] = relationship(back_populates="matches")


class Story(Base):
    __tablename__ = "story"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(Text, default="")
    origin_article_id: Mapped[int | None] = mapped_column(ForeignKey("article.id", use_alter=True))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    outlet_count: Mapped[int] = mapped_column(Integer, default=0)
    languages: Mapped[list[Any]] = mapped_column(JSON, default=list)
    countries: Mapped[list[Any]] = mapped_column(JSON, default=list)
    watches: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | merged
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("story.id"), index=True)
    # what its articles say, summed (stories.cluster.StoryProfile.to_json): what new articles are compared with
    fingerprint: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Link(Base):
    """Why an article belongs where it does: its source within the story, and the evidence."""

    __tablename__ = "link"
    __table_args__ = (UniqueConstraint("article_id", "source_article_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id"), index=True)
    source_article_id: Mapped[int | None] = mapped_column(ForeignKey("article.id"), index=True)
    # attribution | copy | translation | same-event | denial
    kind: Mapped[str] = mapped_column(String(20))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LshBand(Base):
    """MinHash LSH band keys kept in the database, so the index survives restarts and scales past RAM."""

    __tablename__ = "lsh_band"
    # the key is the lookup (band, key) -> article: on SQLite the table is that index (WITHOUT ROWID)
    __table_args__ = ({"sqlite_with_rowid": False},)

    band: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[int] = mapped_column(Integer, primary_key=True)  # hashed band value, 32-bit signed
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id"), primary_key=True)


class StoryTerm(Base):
    """A story's heaviest lemmas, names, skeletons ("~vsngtn"), numbers ("#600") and outlets ("@bild"):
    the inverted index that finds, for a new article, only the stories sharing some of its evidence,
    instead of scoring every live story."""

    __tablename__ = "story_term"
    # term first, then recency: candidates are the stories seen lately that share a term. The key
    # (story, term) is the table itself on SQLite (WITHOUT ROWID): no surrogate id, no second copy.
    __table_args__ = (Index("ix_story_term_term", "term", "last_day", "story_id"), {"sqlite_with_rowid": False})

    story_id: Mapped[int] = mapped_column(ForeignKey("story.id"), primary_key=True)
    term: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_day: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # the story's last day (since 1970)


class Alert(Base):
    __tablename__ = "alert"
    __table_args__ = (UniqueConstraint("story_id", "rule", "level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("story.id"), index=True)
    rule: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # what was true when it fired
    # an analyst said they have seen it (`spreadwatch alerts ack`, the web page): a digest leaves the story out
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))

    deliveries: Mapped[list[Delivery]] = relationship(back_populates="alert")


class Delivery(Base):
    __tablename__ = "delivery"
    __table_args__ = (UniqueConstraint("alert_id", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id"), index=True)
    channel: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20), default="pending", index=True)  # pending|sending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    # set when the channel sends digests: the one message this delivery goes out in
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digest.id"), index=True)

    alert: Mapped[Alert] = relationship(back_populates="deliveries")


class Digest(Base):
    """One message that carries many deliveries of a digest channel: one per channel and interval."""

    __tablename__ = "digest"
    __table_args__ = (UniqueConstraint("channel", "period_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(100))
    period_end: Mapped[datetime]  # the interval boundary: it carries what became due before it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(20), default="pending", index=True)  # pending|sending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]


class Correction(Base):
    """An analyst's correction of a story (the desk): merge, split, move, a link's kind, an article's source.

    Placement keeps them for every later article and every rebuild through the article groups they
    name: the articles of `together` are kept in one story, and when `rest` is not empty those of
    `together` are kept apart from those of `rest` (spreadwatch/corrections.py reads them)."""

    __tablename__ = "correction"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # merge | split | move | link-kind | source
    story_id: Mapped[int | None] = mapped_column(ForeignKey("story.id"), index=True)  # the story corrected
    other_story_id: Mapped[int | None] = mapped_column(ForeignKey("story.id"))  # merged in, split off, moved to
    article_id: Mapped[int | None] = mapped_column(ForeignKey("article.id"), index=True)
    together: Mapped[list[Any]] = mapped_column(JSON, default=list)  # article ids kept in one story
    rest: Mapped[list[Any]] = mapped_column(JSON, default=list)  # article ids kept apart from `together`
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    who: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[datetime | None]
    undone_by: Mapped[str | None] = mapped_column(String(200))


class StoryMute(Base):
    """A story an analyst muted: no alert is sent for it (until `until`, or for levels up to `upto`)."""

    __tablename__ = "story_mute"

    id: Mapped[int] = mapped_column(primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("story.id"), index=True)
    until: Mapped[datetime | None]
    upto: Mapped[int | None] = mapped_column(Integer)  # outlet-count levels up to this stay silent; above alert
    who: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    lifted_at: Mapped[datetime | None]
