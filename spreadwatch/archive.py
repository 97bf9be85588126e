"""Archives a researcher already has (JSON lines, CSV, web archives), read as drafts and stored
through ingest().

Each record becomes an ``ArchivedArticle`` (or a ``BadRecord`` naming its line and what is wrong
with it, or for a web archive a ``Skipped`` page that is no article of a configured outlet), in the
file's order; ``import_archive`` hands each to the same ``ingest()`` the feed poller uses, one
transaction per article, so an import is matched, placed in stories and alerted on like anything
polled, and a second import of the same file stores nothing new.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Literal, Union
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crawler.draft import ArticleDraft
from crawler.errors import ExtractionError
from crawler.urls import canonicalize
from spreadwatch.settings import OutletConfig, Settings

Format = Literal["jsonl", "csv", "warc"]
COLUMNS = ("url", "id", "outlet", "outlet_name", "country", "language", "published_at", "title", "text", "links")


class ArchiveError(Exception):
    """The file as a whole cannot be read (missing, unknown format): nothing was imported."""


@dataclass(frozen=True)
class ArchivedArticle:
    """One record ready for ingest(), with the outlet its fields describe."""

    line: int  # where the record starts in the file (1-based), for messages
    draft: ArticleDraft
    outlet: OutletConfig  # used only when the config does not know the outlet's key
    first_seen_at: datetime | None = None  # a web archive's capture time; None: the time of the import
    unit: Literal["line", "record"] = "line"  # what `line` counts


@dataclass(frozen=True)
class BadRecord:
    """A record that was skipped, and why, in words a person can act on."""

    line: int  # a line of JSON lines or CSV; the record's number in a web archive
    reason: str
    unit: Literal["line", "record"] = "line"

    def where(self, path: Path) -> str:
        return f"{path}:{self.line}" if self.unit == "line" else f"{path}: record {self.line}"


@dataclass(frozen=True)
class Skipped:
    """A web archive's record that is not an article page of a configured outlet (its stylesheet,
    a 404, another site, a section front): expected by the thousand, so counted, not reported."""

    line: int
    reason: str


Record = Union[ArchivedArticle, BadRecord, Skipped]


class _Fields(BaseModel):
    """The columns of one JSON line or CSV row; other fields (labels, ids of a corpus) are ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    url: str = ""
    id: str = ""
    outlet: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=80)
    outlet_name: str = Field(default="", max_length=200)
    country: str = Field(default="", max_length=8)
    language: str = Field(default="", max_length=8)
    published_at: datetime | None = None
    title: str = ""
    text: str = ""
    links: list[str] = []

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v  # a numeric id in JSON is still an id

    @field_validator("published_at", mode="before")
    @classmethod
    def _empty_date(cls, v: Any) -> Any:
        return None if v == "" else v

    @field_validator("links", mode="before")
    @classmethod
    def _split_links(cls, v: Any) -> Any:
        return v.split() if isinstance(v, str) else v  # CSV: addresses separated by spaces

    @field_validator("published_at")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        # a time without a zone is taken as UTC, as the eval streams and most exports write them
        if v is None:
            return None
        return v.replace(tzinfo=timezone.utc) if v.tzinfo is None else v.astimezone(timezone.utc)


def _problem(error: Any) -> str:
    """One validation error as a sentence: the field, what is wrong, what was there."""
    where = ".".join(str(p) for p in error["loc"]) or "record"
    if error["type"] == "missing":
        return f"{where}: missing (every record needs an outlet key)"
    got = str(error.get("input"))[:60]
    if error["type"] == "string_pattern_mismatch":
        return f"{where}: {got!r} is not an outlet key (lower-case letters, digits, '.', '_' and '-')"
    return f"{where}: {error['msg']} (got {got!r})"


def record_url(outlet: str, url: str, ident: str) -> str:
    """The record's address, or for a record that has none (the eval streams) a stable one made from
    its outlet and id, so a re-import finds it again; a URN, so nothing will ever try to fetch it."""
    if url:
        return url
    return f"urn:spreadwatch:{outlet}:{quote(ident, safe=':/@.-_~')}"


def _article(line: int, raw: Any) -> Record:
    if not isinstance(raw, dict):
        return BadRecord(line, f"expected an object with url, outlet, title, text; got {type(raw).__name__}")
    try:
        f = _Fields.model_validate(raw)
    except ValidationError as e:
        return BadRecord(line, _problem(e.errors()[0]))
    if not (f.url or f.id):
        return BadRecord(line, "no url (and no id to make one from)")
    if not (f.title or f.text):
        return BadRecord(line, "neither title nor text: nothing to store")
    url = record_url(f.outlet, f.url, f.id)
    draft = ArticleDraft(outlet_key=f.outlet, url=url, canonical_url=canonicalize(url), title=f.title, text=f.text,
                         language=f.language, published_at=f.published_at, via="import", links=tuple(f.links))
    outlet = OutletConfig(key=f.outlet, name=f.outlet_name or f.outlet, country=f.country, language=f.language)
    return ArchivedArticle(line, draft, outlet)


@dataclass
class Archive:
    """An archive file: its format, its size and its records, read once, in order."""

    path: Path
    format: Format
    size: int
    outlets: dict[str, str] = field(default_factory=dict)  # host -> outlet key, for web archives
    max_bytes: int = 5_000_000  # a web archive's response larger than this is skipped
    _raw: BinaryIO | None = field(default=None, repr=False)

    def position(self) -> int:
        """Bytes read so far from the file on disk (compressed or not), for a progress bar."""
        try:
            return self._raw.tell() if self._raw else self.size
        except (OSError, ValueError):
            return 0

    def records(self) -> Iterator[Record]:
        """The file's records in its order; a file that breaks off midway raises ArchiveError."""
        try:
            with self.path.open("rb") as raw:
                self._raw = raw
                if self.format == "warc":  # warcio reads gzipped records itself, one member each
                    yield from warc_records(raw, self.outlets, self.max_bytes)
                    return
                gz = self.path.suffix.lower() == ".gz"
                stream: BinaryIO = gzip.open(raw) if gz else raw  # type: ignore[assignment]
                yield from (csv_records if self.format == "csv" else jsonl_records)(stream)
        except ArchiveError as e:
            raise ArchiveError(f"{self.path}: {e}") from None
        except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
            raise ArchiveError(f"{self.path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
        finally:
            self._raw = None


def open_archive(path: Path, fmt: Format | None = None, settings: Settings | None = None) -> Archive:
    """The archive at `path`, its format from `fmt` or the name (.jsonl/.ndjson/.json, .csv, .warc;
    each may end in .gz). A web archive's pages are kept only for the outlets of `settings`."""
    if not path.is_file():
        raise ArchiveError(f"{path}: no such file")
    name = path.name.lower().removesuffix(".gz")
    guessed: Format | None = ("csv" if name.endswith(".csv") else "warc" if name.endswith((".warc", ".arc"))
                              else "jsonl" if name.endswith((".jsonl", ".ndjson", ".json")) else None)
    chosen = fmt or guessed
    if chosen is None:
        raise ArchiveError(f"{path}: unknown format (name it .jsonl, .csv or .warc.gz, or pass --format)")
    archive = Archive(path, chosen, path.stat().st_size)
    if settings is not None:
        archive.outlets, archive.max_bytes = outlet_hosts(settings), settings.http.max_bytes
    return archive


def _lines(stream: BinaryIO, bad: set[int]) -> Iterator[str]:
    """The file's lines as text; a line that is not UTF-8 is noted in `bad` (its record is skipped)."""
    for n, raw in enumerate(stream, start=1):
        try:
            yield raw.decode("utf-8-sig" if n == 1 else "utf-8")
        except UnicodeDecodeError:
            bad.add(n)
            yield raw.decode("utf-8", errors="replace")


def jsonl_records(stream: BinaryIO) -> Iterator[Record]:
    """One JSON object a line; blank lines are skipped, a line that is not JSON is a BadRecord."""
    bad: set[int] = set()
    for n, text in enumerate(_lines(stream, bad), start=1):
        if not text.strip():
            continue
        if n in bad:
            yield BadRecord(n, "not UTF-8 text")
            continue
        if n == 1 and text.lstrip().startswith("["):
            raise ArchiveError("a JSON array, not JSON lines: write one object a line "
                               "(for instance with `jq -c '.[]'`)")
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as e:
            yield BadRecord(n, f"not JSON: {e.msg} (column {e.colno})")
            continue
        yield _article(n, raw)


def csv_records(stream: BinaryIO) -> Iterator[Record]:
    """A header row naming the columns, then one article a row (a quoted cell may span lines)."""
    bad: set[int] = set()
    reader = csv.reader(_lines(stream, bad))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return
    except csv.Error as e:
        raise ArchiveError(f"the header row is not CSV: {e}") from None
    if "outlet" not in header:
        raise ArchiveError(f"the header row has no `outlet` column (columns: {', '.join(COLUMNS)})")
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:  # an unterminated quote, a NUL byte: the rest of the row is lost
            yield BadRecord(start, f"not CSV: {e}")
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        if bad.intersection(range(line, start)):
            yield BadRecord(line, "not UTF-8 text")
        elif len(row) != len(header):
            yield BadRecord(line, f"{len(row)} cells for {len(header)} columns")
        else:
            yield _article(line, {k: v for k, v in zip(header, row) if v.strip()})


# ---------------------------------------------------------------- web archives (WARC)

def _host(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def outlet_hosts(settings: Settings) -> dict[str, str]:
    """Each configured outlet's hosts (homepage, feeds, sitemaps, listings, JSON endpoints; `www.`
    ignored) -> its key: how a page in a web archive is known to be an outlet's."""
    hosts: dict[str, str] = {}
    for o in settings.outlets:
        urls = [o.homepage, *(f.url for f in o.feeds), *(s.url for s in o.sitemaps), *(ls.url for ls in o.listings),
                *(j.url for j in o.json_endpoints)]
        for url in urls:
            if url and _host(url):
                hosts.setdefault(_host(url), o.key)
    return hosts


def warc_records(stream: BinaryIO, hosts: dict[str, str], max_bytes: int) -> Iterator[Record]:
    """Each archived HTML response of a configured outlet, extracted as a fetched page is, with the
    capture time as first seen; requests, metadata and revisits are not pages and are passed over."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    n = 0
    try:
        for n, record in enumerate(ArchiveIterator(stream), start=1):
            if record.rec_type == "response":
                yield _warc_page(n, record, hosts, max_bytes)
    except ArchiveLoadFailed as e:
        raise ArchiveError(f"record {n + 1}: not a readable WARC record ({str(e).strip()[:200]})") from None


def _warc_page(n: int, record: Any, hosts: dict[str, str], max_bytes: int) -> Record:
    from crawler.extract import extract_article

    url = record.rec_headers.get_header("WARC-Target-URI") or ""
    outlet = hosts.get(_host(url))
    if outlet is None:
        return Skipped(n, "not a configured outlet's page")
    status = record.http_headers.get_statuscode() if record.http_headers else None
    if status != "200":
        return Skipped(n, f"HTTP {status or 'response without headers'}")
    ctype = record.http_headers.get_header("Content-Type") or ""
    if "html" not in ctype.lower():
        return Skipped(n, "not HTML")
    body = record.content_stream().read(max_bytes + 1)
    if len(body) > max_bytes:
        return Skipped(n, f"larger than {max_bytes} bytes (http.max_bytes)")
    try:
        ex = extract_article(body, url, encoding=_charset(ctype))
    except ExtractionError:
        return Skipped(n, "no article text (a section front, a gallery, a page that needs JavaScript)")
    captured = _warc_date(record.rec_headers.get_header("WARC-Date"))
    if captured is None:
        return BadRecord(n, f"{url}: WARC-Date missing or unreadable", unit="record")
    draft = ArticleDraft(outlet_key=outlet, url=url, canonical_url=ex.canonical_url or canonicalize(url),
                         title=ex.title, text=ex.text, language=ex.language, published_at=ex.published_at,
                         via="import", links=ex.links)
    return ArchivedArticle(n, draft, OutletConfig(key=outlet, name=outlet), first_seen_at=captured, unit="record")


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip("\"' ")
    return None


def _warc_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


# ---------------------------------------------------------------- storing

@dataclass
class ImportReport:
    """What an import did: counts, the skipped records and the outlets it created."""

    stored: int = 0
    known: int = 0
    bad: list[BadRecord] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # web archives: pages that are no articles
    new_outlets: list[str] = field(default_factory=list)
    matched: int = 0
    alerts: int = 0
    stopped: str | None = None  # why the import ended early (the database went away)

    @property
    def records(self) -> int:
        return self.stored + self.known + len(self.bad) + sum(self.skipped.values())

    def counts(self) -> str:
        skipped = f", {sum(self.skipped.values())} skipped" if self.skipped else ""
        return f"{self.stored} stored, {self.known} already known, {len(self.bad)} bad lines{skipped}"

    def summary(self) -> str:
        text = f"{self.counts()} ({self.matched} matching a watch, {self.alerts} alerts)"
        if self.new_outlets:
            shown = ", ".join(self.new_outlets[:10]) + (" ..." if len(self.new_outlets) > 10 else "")
            text += f"; {len(self.new_outlets)} outlets not in the config, taken from the records: {shown}"
        if self.skipped:
            text += "; skipped: " + ", ".join(f"{n} {why}" for why, n in self.skipped.most_common())
        return text


MAX_FAILURES_IN_A_ROW = 5  # more than this and the database, not the records, is the problem


def import_archive(database: Any, settings: Settings, records: Iterable[Record], *,
                   on_record: Callable[[ImportReport, Record], None] | None = None) -> ImportReport:
    """Store each record through ingest(), one transaction each, in the given order.

    An outlet the config does not know is added to the settings from the record's own fields
    (name, country, language), so its articles are credited and shown like a configured one's.
    A record that ingest() fails on is rolled back whole and reported as a bad line; several
    failures in a row stop the import (what was committed stays, and the same import run again
    stores only what is missing)."""
    report = ImportReport()
    failures = 0
    try:
        for rec in records:
            if isinstance(rec, BadRecord):
                report.bad.append(rec)
            elif isinstance(rec, Skipped):
                report.skipped[rec.reason] += 1
            else:
                settings = _with_outlet(settings, rec.outlet, report)
                failures = 0 if _store(database, settings, rec, report) else failures + 1
            if on_record:
                on_record(report, rec)
            if failures >= MAX_FAILURES_IN_A_ROW:
                report.stopped = (f"stopped after {failures} records in a row could not be stored "
                                  f"({report.bad[-1].reason})")
                break
    except ArchiveError as e:  # the file broke off: what came before it is stored
        if not report.records:
            raise
        report.stopped = f"stopped: {e}"
    return report


def _store(database: Any, settings: Settings, rec: ArchivedArticle, report: ImportReport) -> bool:
    from spreadwatch.housekeeping import planner_statistics
    from spreadwatch.ingest import ingest, prepare

    try:
        if _known(database, rec.draft):  # a re-import: no text work, no write lock
            report.known += 1
            return True
        prepared = prepare(rec.draft, settings)  # the text's work, before the transaction, as the poller does
        with database.session() as s:  # commits this article alone, or rolls it back alone
            result = ingest(s, rec.draft, settings, now=rec.first_seen_at, prepared=prepared)
    except Exception as e:  # noqa: BLE001 - reported with the line, like any bad record
        report.bad.append(BadRecord(rec.line, f"could not be stored: {e.__class__.__name__}: {e}"[:300], rec.unit))
        return False
    if result.created:
        planner_statistics(database).placed(1)
        report.stored += 1
        report.matched += bool(result.watches)
        report.alerts += result.alerts
    else:
        report.known += 1
    return True


def _known(database: Any, draft: ArticleDraft) -> bool:
    from sqlalchemy import select

    from storage.models import Article

    with database.session(read_only=True) as s:
        canon = canonicalize(draft.canonical_url)
        return s.scalar(select(Article.id).where(Article.canonical_url == canon)) is not None


def _with_outlet(settings: Settings, outlet: OutletConfig, report: ImportReport) -> Settings:
    """The settings, plus the record's outlet if the config does not know its key."""
    try:
        settings.outlet(outlet.key)
        return settings
    except KeyError:
        report.new_outlets.append(outlet.key)
        return settings.with_overrides(outlets=[*settings.outlets, outlet])
