"""Quality floors on the labelled replay corpus, in several arrival orders (see bench/stories_eval.py).

Measured: pairwise precision 1.0 in every order, pairwise F1 0.895-0.996, exact source 0.857-0.878,
denials found 1.0 (six orders). The floors sit a little below, so a regression fails CI.
"""

from __future__ import annotations

import pytest

from bench.stories_eval import run


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_clustering_and_sources_meet_the_floor(seed: int) -> None:
    r = run(seed)
    assert r["pairwise"]["precision"] >= 0.95, r["pairwise"]
    assert r["pairwise"]["f1"] >= 0.88, r["pairwise"]
    assert r["bcubed"]["f1"] >= 0.85, r["bcubed"]
    assert r["source_exact"] >= 0.8, r["wrong_sources"]
    assert r["denial"]["f1"] >= 0.9, r["denial"]
