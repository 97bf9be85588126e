"""The daemon's metrics text and log lines, read the way Prometheus and a log shipper read them."""

from __future__ import annotations

import json
import logging
import re

import pytest

from spreadwatch.daemon import EventFormatter
from spreadwatch.metrics import FAMILIES, STAGE_BUCKETS, Metrics, Sample

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> tuple[dict[str, str], list[tuple[str, dict[str, str], float]]]:
    """The exposition format's families (name -> type) and samples; fails on any malformed line."""
    types: dict[str, str] = {}
    samples = []
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name not in types, f"family {name} declared twice"
            types[name] = kind
            continue
        if line.startswith("# HELP "):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, _, inner, value = m.groups()
        labels = dict(LABEL.findall(inner or ""))
        assert inner is None or ",".join(f'{k}="{v}"' for k, v in LABEL.findall(inner)) == inner, line
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"sample {name} comes before its # TYPE line"
        samples.append((name, labels, float(value.replace("+Inf", "inf"))))
    return types, samples


def test_every_family_has_one_type_and_counters_start_at_zero() -> None:
    m = Metrics()
    m.inc("spreadwatch_polls_total", 0, status="ok")
    types, samples = parse(m.render([Sample("spreadwatch_articles", 12)]))
    assert types["spreadwatch_polls_total"] == "counter" and types["spreadwatch_articles"] == "gauge"
    assert ("spreadwatch_polls_total", {"status": "ok"}, 0.0) in samples
    assert ("spreadwatch_articles", {}, 12.0) in samples
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= set(types)
    rss = next(v for n, _, v in samples if n == "process_resident_memory_bytes")
    assert rss > 1_000_000  # a Python process is megabytes, not bytes or pages


def test_histogram_buckets_are_cumulative_and_end_in_the_count() -> None:
    m = Metrics()
    m.start_histogram("spreadwatch_stage_seconds", stage="pages")
    for seconds in (0.003, 0.04, 0.04, 0.7, 200.0):
        m.observe("spreadwatch_stage_seconds", seconds, stage="feeds")
    types, samples = parse(m.render())
    assert types["spreadwatch_stage_seconds"] == "histogram"
    feeds = [(lab["le"], v) for n, lab, v in samples if n.endswith("_bucket") and lab["stage"] == "feeds"]
    assert [le for le, _ in feeds] == [*(repr(b) if not b.is_integer() else str(int(b)) for b in STAGE_BUCKETS), "+Inf"]
    counts = [v for _, v in feeds]
    assert counts == sorted(counts)
    assert dict(feeds)["0.005"] == 1 and dict(feeds)["0.05"] == 3 and dict(feeds)["1"] == 4
    assert dict(feeds)["120"] == 4 and dict(feeds)["+Inf"] == 5  # 200 s is above every finite bucket
    total = {n: v for n, lab, v in samples if lab.get("stage") == "feeds" and not n.endswith("_bucket")}
    assert total["spreadwatch_stage_seconds_count"] == 5
    assert total["spreadwatch_stage_seconds_sum"] == pytest.approx(200.783)
    # the empty one is there, at zero, before its first observation
    assert ("spreadwatch_stage_seconds_count", {"stage": "pages"}, 0.0) in samples


def test_label_values_are_escaped() -> None:
    m = Metrics()
    text = m.render([Sample("spreadwatch_alert_deliveries", 1, (("state", 'odd "state"\\\nx'),))])
    assert 'spreadwatch_alert_deliveries{state="odd \\"state\\"\\\\\\nx"} 1' in text
    parse(text)


def test_undeclared_or_mistyped_metrics_are_refused() -> None:
    m = Metrics()
    with pytest.raises(KeyError):
        m.inc("spreadwatch_typo_total")
    with pytest.raises(KeyError):
        m.observe("spreadwatch_polls_total", 1.0)  # a counter, not a histogram
    assert all(f.kind in ("counter", "gauge", "histogram") for f in FAMILIES.values())


def record(msg: str, *, exc: bool = False, **fields: object) -> logging.LogRecord:
    rec = logging.LogRecord("spreadwatch.cycle", logging.WARNING, __file__, 1, msg, (), None)
    if exc:
        try:
            raise RuntimeError("boom\non two lines")
        except RuntimeError:
            import sys

            rec.exc_info = sys.exc_info()
    rec.__dict__.update(fields)
    return rec


def test_json_log_lines_carry_the_event_fields_as_fields() -> None:
    rec = record("feed failed", outlet="bild", feed="http://127.0.0.1/bild/feed.xml", error="HTTP 500", failures=3)
    line = EventFormatter(as_json=True).format(rec)
    assert "\n" not in line
    event = json.loads(line)
    assert event["msg"] == "feed failed" and event["level"] == "warning" and event["logger"] == "spreadwatch.cycle"
    assert (event["outlet"], event["feed"], event["error"], event["failures"]) == (
        "bild", "http://127.0.0.1/bild/feed.xml", "HTTP 500", 3)
    assert "args" not in event and "lineno" not in event  # the record's own plumbing stays out


def test_text_log_lines_are_key_value_and_one_line_even_with_a_traceback() -> None:
    fmt = EventFormatter()
    line = fmt.format(record("feed failed", exc=True, outlet="bild", error='not a feed: "<html>"'))
    assert "\n" not in line
    assert " WARNING spreadwatch.cycle feed failed outlet=bild " in line
    assert 'error="not a feed: \\"<html>\\""' in line
    assert "RuntimeError: boom\\non two lines" in line
    event = json.loads(EventFormatter(as_json=True).format(record("x", exc=True)))
    assert event["exc"].splitlines()[-1] == "on two lines"  # JSON keeps the traceback whole


def test_a_job_cancelled_at_stop_is_not_logged_as_a_job_error(capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from spreadwatch.daemon import configure_logging

    root, executor = logging.getLogger(), logging.getLogger("apscheduler.executors.default")
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        configure_logging(as_json=True)
        for error in (asyncio.CancelledError(), RuntimeError("a real job error")):
            try:
                raise error
            except BaseException:
                executor.exception("Error running job alerts")
        lines = capsys.readouterr().err.splitlines()
    finally:  # the logging set-up is process-wide: give the other tests theirs back
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        executor.filters.clear()
    assert len(lines) == 1 and "a real job error" in json.loads(lines[0])["exc"]
