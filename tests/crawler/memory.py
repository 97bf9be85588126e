"""How much a block of code makes this process grow, measured inside the test.

Two views, since each misses something: tracemalloc sees every Python allocation (a bytes object
of an inflated layer) but not C buffers; the resident set's high-water mark (Linux VmHWM, reset
through /proc/self/clear_refs) sees everything the process touched, threads included.
"""

from __future__ import annotations

import gc
import re
import tracemalloc
from pathlib import Path
from types import TracebackType

MB = 1_000_000
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(field: str) -> int | None:
    try:
        m = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


def _reset_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")  # resets VmHWM to the current resident size (Linux 4.0+)
        return True
    except OSError:
        return False


class PeakMemory:
    """``with PeakMemory() as peak: ...``; then ``peak.traced`` and ``peak.resident`` in bytes
    (``resident`` is None where the kernel cannot reset the mark). `trace=False` skips
    tracemalloc, which slows allocation-heavy code (feedparser) several times over."""

    def __init__(self, trace: bool = True) -> None:
        self.trace = trace
        self.traced: int | None = None
        self.resident: int | None = None
        self._rss0: int | None = None

    def __enter__(self) -> PeakMemory:
        gc.collect()
        self._rss0 = _status_kb("VmRSS") if _reset_peak() else None
        if self.trace:
            tracemalloc.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.trace:
            self.traced = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        peak = _status_kb("VmHWM")
        if self._rss0 is not None and peak is not None:
            self.resident = (peak - self._rss0) * 1024

    def __str__(self) -> str:
        parts = [f"{name} {value / MB:.1f} MB" for name, value in (("traced", self.traced), ("resident", self.resident))
                 if value is not None]
        return "peak growth: " + ", ".join(parts)

    def assert_below(self, limit: int) -> None:
        """Every measure this machine could take stays under `limit` bytes (and one was taken)."""
        taken = [v for v in (self.traced, self.resident) if v is not None]
        assert taken, "no memory measure available on this machine"
        assert all(v < limit for v in taken), str(self)
