"""Publish-to-alert latency: from an item appearing in a feed to its alert reaching the SMTP server.

The replay newsroom on 127.0.0.1, a real `spreadwatch run` process polling it with a short poll
interval, and a real SMTP server (aiosmtpd). The newsroom publishes the corpus one article at a
time, in publication order; when the article just published takes a watched story to one more
outlet (the rule alerts at every outlet count from 2 to 15), an alert is due, and the time from the
publication to the message's arrival is one sample.

Baseline, same run, same steps: no scheduler and no second process; after each publication this
process polls every feed once and sends what is due, right away. The ratio shows what the
schedule (waiting for the next tick and for the feed's next poll) and the daemon's process add to
the work itself; the expected wait from the schedule alone is about half a tick plus half a poll
interval. A feed that was failing (the newsroom's malformed feed fails while it lists nothing)
waits out its backoff first: the slowest samples name their outlet.

    python -m bench.latency_bench [--tick 0.5] [--interval 1.0] [--steps 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import yaml

from alerts.sinks import SMTPSink, free_port
from spreadwatch.newsroom import Newsroom
from spreadwatch.replay import Corpus, ReplayArticle, load_corpus

WAIT_LIMIT = 60.0  # seconds one step may take before the bench gives up on it
RULE = {"name": "spreading", "levels": list(range(2, 16))}


def feed_outlets(nr: Newsroom) -> list[dict[str, Any]]:
    return [o for o in nr.outlets_config() if o.get("feeds")]


def steps(corpus: Corpus, limit: int) -> list[ReplayArticle]:
    """The articles of outlets with feeds, oldest first."""
    keys = {o.key for o in corpus.outlets if o.feed != "none"}
    return sorted((a for a in corpus.articles if a.outlet in keys), key=lambda a: a.published)[:limit]


def write_config(path: Path, nr: Newsroom, smtp_port: int, db_url: str, tick: float, interval: float) -> Path:
    cfg = {"default_outlets": False, "database_url": db_url, "outlets": feed_outlets(nr),
           "http": {"per_host_delay": 0, "per_host_concurrency": 8, "max_concurrency": 16, "retries": 0},
           "poll": {"interval_minutes": interval / 60, "jitter_seconds": 0, "tick_seconds": tick,
                    "send_seconds": tick, "crawl_minutes": 10_000},
           "alerts": {"rules": [RULE], "channels": [{"name": "desk", "type": "email", "host": "127.0.0.1",
                                                     "port": smtp_port, "to": ["desk@example.org"],
                                                     "rate_per_minute": 1000}]}}
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def wait_until(check: Callable[[], bool], limit: float = WAIT_LIMIT, every: float = 0.005) -> float | None:
    """Seconds until `check` holds (polled every few milliseconds), or None after `limit`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if check():
            return time.monotonic() - t0
        time.sleep(every)
    return None


def stored(db: Any) -> int:
    from sqlalchemy import func, select

    from storage import Article

    with db.session() as s:
        return s.scalar(select(func.count(Article.id))) or 0


def due_messages(db: Any) -> int:
    """Deliveries that will become messages (not superseded by a newer one, not failed)."""
    from sqlalchemy import func, select

    from storage import Delivery

    with db.session() as s:
        return s.scalar(select(func.count(Delivery.id)).where(Delivery.state.in_(("pending", "sending", "sent")))) or 0


Sample = tuple[float, str]  # seconds from publication to the alert's arrival, and the outlet


def run_steps(nr: Newsroom, sink: SMTPSink, db: Any, articles: list[ReplayArticle],
              after_publish: Callable[[], None]) -> list[Sample]:
    """Publish each article; the seconds to the alert's arrival for every step that raised one."""
    samples = []
    for n, article in enumerate(articles, start=1):
        before = len(sink.messages)
        t0 = time.monotonic()
        nr.release_until(article.published)
        after_publish()
        if wait_until(lambda: stored(db) >= n) is None:
            raise SystemExit(f"step {n}: {article.id} was not stored within {WAIT_LIMIT:.0f} s")
        if due_messages(db) > before:
            if wait_until(lambda: len(sink.messages) > before) is None:
                raise SystemExit(f"step {n}: the alert for {article.id} did not arrive within {WAIT_LIMIT:.0f} s")
            samples.append((time.monotonic() - t0, article.outlet))
            wait_until(lambda: len(sink.messages) >= due_messages(db), limit=5)  # a second alert of the same step
    return samples


def daemon_latency(articles: list[ReplayArticle], tick: float, interval: float) -> list[Sample]:
    from storage import Database

    first = min(a.published for a in articles) - timedelta(minutes=1)
    with tempfile.TemporaryDirectory() as tmp, Newsroom(now=first) as nr, SMTPSink() as sink:
        db_url = f"sqlite:///{Path(tmp) / 'l.db'}"
        cfg = write_config(Path(tmp) / "c.yaml", nr, sink.port, db_url, tick, interval)
        with (Path(tmp) / "daemon.log").open("wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "spreadwatch", "run", "--config", str(cfg)],
                                    cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
        try:
            db = Database(db_url)
            if wait_until(lambda: _has_polled(db), every=0.1) is None:
                raise SystemExit("the daemon did not start polling")
            return run_steps(nr, sink, db, articles, lambda: None)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


def _has_polled(db: Any) -> bool:
    from sqlalchemy import func, select

    from storage import Feed

    with db.session() as s:
        return bool(s.scalar(select(func.count(Feed.id)).where(Feed.last_polled_at.is_not(None))))


def inline_latency(articles: list[ReplayArticle], tick: float, interval: float) -> list[Sample]:
    """The baseline: poll every feed and send, in this process, right after each publication."""
    from alerts.outbox import send_due
    from spreadwatch.cycle import poll_due, sync_outlets
    from spreadwatch.settings import load_settings
    from storage import Database

    first = min(a.published for a in articles) - timedelta(minutes=1)
    with tempfile.TemporaryDirectory() as tmp, Newsroom(now=first) as nr, SMTPSink() as sink:
        db_url = f"sqlite:///{Path(tmp) / 'b.db'}"
        settings = load_settings(write_config(Path(tmp) / "c.yaml", nr, sink.port, db_url, tick, interval))
        db = Database(db_url)
        sync_outlets(db, settings)

        def poll_and_send() -> None:
            asyncio.run(poll_due(db, settings, force=True))
            send_due(db, settings)

        return run_steps(nr, sink, db, articles, poll_and_send)


def summary(samples: list[Sample]) -> dict[str, Any]:
    ordered = sorted(seconds for seconds, _ in samples)
    slowest = sorted(samples, reverse=True)[:3]
    return {"alerts": len(ordered), "median_s": round(statistics.median(ordered), 3),
            "p90_s": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))], 3),
            "max_s": round(ordered[-1], 3), "slowest": [[round(t, 3), outlet] for t, outlet in slowest]}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--tick", type=float, default=0.5, help="the daemon's poll.tick_seconds and send_seconds")
    ap.add_argument("--interval", type=float, default=1.0, help="each feed's poll interval, seconds")
    ap.add_argument("--steps", type=int, default=60, help="articles to publish, oldest first")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the baseline's feed warnings belong to the daemon's log
    articles = steps(load_corpus(), args.steps)
    load_before = os.getloadavg()
    daemon = summary(daemon_latency(articles, args.tick, args.interval))
    inline = summary(inline_latency(articles, args.tick, args.interval))
    print(json.dumps({
        "cpus": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "tick_s": args.tick, "poll_interval_s": args.interval, "published": len(articles),
        "schedule_wait_expected_s": round(args.tick / 2 + args.interval / 2, 3),
        "daemon": daemon, "baseline_inline": inline,
        "ratio_median_daemon_vs_inline": round(daemon["median_s"] / inline["median_s"], 2),
        "daemon_median_minus_inline_median_s": round(daemon["median_s"] - inline["median_s"], 3)}, indent=2))


if __name__ == "__main__":
    main()
