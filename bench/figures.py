"""What every benchmark reports: a figure of ours next to a floor measured in the same run, and how
both are timed (interleaved on the same items, bounded in count and time).

On a shared machine absolute rates swing with the neighbours' load; a ratio of two rates taken
alternately on the same data swings much less, so the ratio is the figure to read.
"""

from __future__ import annotations

import gc
import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Figure:
    """One measured figure: ours and the floor, in the same unit, on the same data, in the same run."""

    section: str
    name: str
    unit: str  # a rate ("pages/s") unless lower_is_better
    ours: float
    floor_name: str
    floor: float
    count: int = 0  # items each side processed
    lower_is_better: bool = False  # latencies and memory: ratio is floor/ours, so >1 still means better
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """Ours relative to the floor: 1.0 is as good as the floor, above is better."""
        if not self.ours or not self.floor:
            return 0.0
        return self.floor / self.ours if self.lower_is_better else self.ours / self.floor

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": round(self.ratio, 3)}


Runner = Callable[[Sequence[T]], object]  # processes one chunk of items


def interleaved(runners: dict[str, Runner[T]], items: Sequence[T], *, budget: float,
                chunk: int) -> tuple[dict[str, float], int]:
    """Items per second of each runner over the same items, chunk by chunk in rotating order.

    Stops when the items or the time budget run out; every runner has then processed the same
    chunks, so the rates compare like with like even while the machine's load drifts.
    """
    spent = dict.fromkeys(runners, 0.0)
    names = list(runners)
    done, start = 0, time.perf_counter()
    for k, lo in enumerate(range(0, len(items), chunk)):
        part = items[lo:lo + chunk]
        for name in names[k % len(names):] + names[:k % len(names)]:  # no runner always goes first
            spent[name] += _timed_chunk(runners[name], part)
        done += len(part)
        if time.perf_counter() - start > budget:
            break
    return {n: done / s if s else 0.0 for n, s in spent.items()}, done


def _timed_chunk(run: Runner[T], part: Sequence[T]) -> float:
    gc.collect()  # garbage left by the other runner is not this one's cost
    t = time.perf_counter()
    run(part)
    return time.perf_counter() - t


def each(fn: Callable[[T], object]) -> Runner[T]:
    """A chunk runner that calls `fn` on every item in turn."""
    def run(part: Sequence[T]) -> None:
        for item in part:
            fn(item)
    return run


class StageClock:
    """Wall time inside chosen functions, patched in place for this process only.

    Times are exclusive: a clocked call made inside another (a commit inside a lookup) counts for
    its own stage only, so the stages add up to the time spent in all of them. Only synchronous
    functions can be clocked this way: an await inside would count other tasks' time.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._inner: list[float] = []  # time taken by clocked calls nested in each running one

    def wrap(self, owner: Any, attr: str, stage: str, when: Callable[..., bool] | None = None) -> None:
        """Clock every call of owner.attr (only those whose arguments pass `when`, if given)."""
        original = getattr(owner, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            if when is not None and not when(*args, **kwargs):
                return original(*args, **kwargs)
            return self.add(stage, lambda: original(*args, **kwargs))
        setattr(owner, attr, timed)

    def add(self, stage: str, fn: Callable[[], Any]) -> Any:
        """Call fn, counting its time (less that of clocked calls inside it) to `stage`."""
        self._inner.append(0.0)
        t = time.perf_counter()
        try:
            return fn()
        finally:
            took = time.perf_counter() - t
            self.seconds[stage] += took - self._inner.pop()
            if self._inner:
                self._inner[-1] += took


def repeat_to(items: Sequence[T], count: int) -> list[T]:
    """`count` items taken round-robin from `items` (a few feeds measured many times)."""
    return [items[i % len(items)] for i in range(count)]


def load() -> dict[str, float]:
    """The machine's load averages: the figures' context on a shared machine."""
    one, five, fifteen = os.getloadavg()
    return {"load1": round(one, 2), "load5": round(five, 2), "load15": round(fifteen, 2)}


def table(figures: list[Figure]) -> str:
    """The figures as one aligned text table, a rule between sections."""
    head = ("section", "figure", "ours", "floor", "floor value", "ratio", "n")
    rows = [(f.section, f.name, _num(f.ours, f.unit), f.floor_name, _num(f.floor, f.unit),
             f"{f.ratio:.2f}x" if f.ratio else "-", str(f.count or "")) for f in figures]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))

    def line(r: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    lines = [line(head)]
    for k, r in enumerate(rows):
        if k == 0 or r[0] != rows[k - 1][0]:
            lines.append(rule)
        lines.append(line(r))
    return "\n".join(lines)


def _num(value: float, unit: str) -> str:
    if not value:
        return "-"
    shown = f"{value:,.0f}" if value >= 100 else f"{value:,.2f}" if value < 10 else f"{value:,.1f}"
    return f"{shown} {unit}"
