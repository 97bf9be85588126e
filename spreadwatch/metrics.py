"""Counters and summaries in the Prometheus text format, kept in memory by the daemon."""

from __future__ import annotations

import threading
from collections import defaultdict


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        self._sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])  # count, sum

    def inc(self, name: str, value: float = 1, **labels: str) -> None:
        with self._lock:
            self._counters[(name, tuple(sorted(labels.items())))] += value

    def observe(self, name: str, seconds: float) -> None:
        with self._lock:
            s = self._sums[name]
            s[0] += 1
            s[1] += seconds

    def render(self, gauges: dict[str, float] | None = None) -> str:
        lines = []
        with self._lock:
            for (name, labels), v in sorted(self._counters.items()):
                lab = ",".join(f'{k}="{val}"' for k, val in labels)
                lines.append(f"{name}{{{lab}}} {v:g}" if lab else f"{name} {v:g}")
            for name, (count, total) in sorted(self._sums.items()):
                lines += [f"{name}_count {count:g}", f"{name}_sum {total:.6f}"]
        for name, v in sorted((gauges or {}).items()):
            lines.append(f"{name} {v:g}")
        return "\n".join(lines) + "\n"
