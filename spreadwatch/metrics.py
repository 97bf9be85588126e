"""The daemon's metrics, kept in memory and rendered in the Prometheus text format (version 0.0.4).

Every family is declared once with its type and help text, so a scrape always shows it (counters at
zero before the first event). Histograms keep cumulative buckets, a sum and a count per label set.
Gauges that describe the database (articles, stories, deliveries) are read at scrape time by
spreadwatch/health.py and passed to `render`.
"""

from __future__ import annotations

import math
import os
import resource
import threading
import time
from dataclasses import dataclass

Labels = tuple[tuple[str, str], ...]

# seconds: from a 304 answered locally (milliseconds) to a page fetch that hits its timeout
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass(frozen=True)
class Family:
    name: str
    kind: str  # counter | gauge | histogram
    help: str


FAMILIES = {f.name: f for f in (
    Family("spreadwatch_polls_total", "counter", "Feed polls by result (ok, not-modified, error)."),
    Family("spreadwatch_articles_ingested_total", "counter", "New articles stored by the feed poller."),
    Family("spreadwatch_alerts_sent_total", "counter", "Alert deliveries sent by this process."),
    Family("spreadwatch_alert_send_failures_total", "counter",
           "Alert delivery attempts that failed (retried later, or given up after max_attempts)."),
    Family("spreadwatch_cycle_failures_total", "counter", "Scheduler jobs that stopped on an internal error, by job."),
    Family("spreadwatch_crawls_total", "counter", "Spider runs by result (ok, error)."),
    Family("spreadwatch_stage_seconds", "histogram",
           "Seconds per unit of work by stage: feeds (one feed fetched and parsed), pages (one article "
           "page fetched and extracted), ingest (one article's transaction), alerts (one sender run), "
           "crawl (one spider run)."),
    Family("spreadwatch_articles", "gauge", "Articles stored."),
    Family("spreadwatch_stories", "gauge", "Stories stored."),
    Family("spreadwatch_alert_deliveries", "gauge", "Alert deliveries by state; pending ones wait to be sent."),
    Family("spreadwatch_feeds_failing", "gauge", "Feeds whose last poll failed (they back off)."),
    Family("spreadwatch_feeds_in_flight", "gauge", "Feeds being polled right now."),
    Family("spreadwatch_last_cycle_ok_timestamp_seconds", "gauge", "When the last poll cycle finished (Unix time)."),
    Family("spreadwatch_database_up", "gauge", "1 if the database answered this scrape's queries."),
    Family("spreadwatch_database_writes_failing", "gauge",
           "1 while this process's last write was refused by the database and none has succeeded since."),
    Family("spreadwatch_transaction_failures_total", "counter",
           "Write transactions of this process that rolled back, by what they were for: ingest (one "
           "article's transaction) or other."),
    Family("process_cpu_seconds_total", "counter", "User and system CPU time of the daemon process."),
    Family("process_resident_memory_bytes", "gauge", "Resident memory of the daemon process."),
    Family("process_start_time_seconds", "gauge", "When the daemon process started (Unix time)."),
)}


@dataclass(frozen=True)
class Sample:
    """One gauge value read at scrape time."""

    name: str
    value: float
    labels: Labels = ()


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)  # per bucket, not cumulative; summed when rendered
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        for i, upper in enumerate(self.buckets):
            if value <= upper:
                self.counts[i] += 1
                break
        self.sum += value
        self.count += 1


class Metrics:
    """Thread-safe counters and histograms (the health server reads them from its own thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, Labels], float] = {}
        self._histograms: dict[tuple[str, Labels], _Histogram] = {}
        self.started = time.time()

    def inc(self, name: str, value: float = 1, **labels: str) -> None:
        key = (_known(name, "counter"), _labels(labels))
        with self._lock:
            self._counters[key] = self._counters.get(key, 0.0) + value

    def observe(self, name: str, value: float, **labels: str) -> None:
        key = (_known(name, "histogram"), _labels(labels))
        with self._lock:
            self._histograms.setdefault(key, _Histogram(STAGE_BUCKETS)).observe(value)

    def start_histogram(self, name: str, **labels: str) -> None:
        """An empty histogram for this label set, shown at zero before its first observation."""
        key = (_known(name, "histogram"), _labels(labels))
        with self._lock:
            self._histograms.setdefault(key, _Histogram(STAGE_BUCKETS))

    def value(self, name: str, **labels: str) -> float:
        """A counter's current value (0 if never incremented)."""
        with self._lock:
            return self._counters.get((name, _labels(labels)), 0.0)

    def render(self, gauges: list[Sample] | None = None) -> str:
        """Every declared family in the text exposition format, with these gauges added."""
        by_family: dict[str, list[str]] = {name: [] for name in FAMILIES}
        with self._lock:
            for (name, labels), v in sorted(self._counters.items()):
                by_family[name].append(_line(name, labels, v))
            for (name, labels), hist in sorted(self._histograms.items()):
                by_family[name] += _histogram_lines(name, labels, hist)
        for s in [*(gauges or []), *self._process_samples()]:
            by_family[_known(s.name)].append(_line(s.name, s.labels, s.value))
        out = []
        for name, lines in by_family.items():
            if lines:
                fam = FAMILIES[name]
                out += [f"# HELP {name} {_escape_help(fam.help)}", f"# TYPE {name} {fam.kind}", *lines]
        return "\n".join(out) + "\n"

    def _process_samples(self) -> list[Sample]:
        cpu = os.times()
        return [Sample("process_cpu_seconds_total", cpu.user + cpu.system),
                Sample("process_resident_memory_bytes", resident_bytes()),
                Sample("process_start_time_seconds", self.started)]


def resident_bytes() -> float:
    """Current resident memory; the peak (getrusage) where /proc is missing."""
    try:
        with open("/proc/self/statm") as f:
            return float(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
    except OSError:
        return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def _known(name: str, kind: str | None = None) -> str:
    fam = FAMILIES.get(name)
    if fam is None or (kind is not None and fam.kind != kind):
        raise KeyError(f"undeclared metric {name!r} (declare it in FAMILIES as a {kind or 'metric'})")
    return name


def _labels(labels: dict[str, str]) -> Labels:
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


def _histogram_lines(name: str, labels: Labels, hist: _Histogram) -> list[str]:
    lines, running = [], 0
    for upper, n in zip(hist.buckets, hist.counts):
        running += n
        lines.append(_line(f"{name}_bucket", labels + (("le", _number(upper)),), running))
    lines.append(_line(f"{name}_bucket", labels + (("le", "+Inf"),), hist.count))
    lines.append(_line(f"{name}_sum", labels, hist.sum))
    lines.append(_line(f"{name}_count", labels, hist.count))
    return lines


def _line(name: str, labels: Labels, value: float) -> str:
    if not labels:
        return f"{name} {_number(value)}"
    inner = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels)
    return f"{name}{{{inner}}} {_number(value)}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")
