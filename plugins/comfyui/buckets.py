"""What Select Best keeps, and where every other image goes: the best of each run of near-duplicates competes
(a video's adjacent near-identical frames, a batch's near-identical seeds count once), the threshold splits
the batch into a "pass" and a "rest" bucket, and top-k takes the best of those that pass.

Pure bookkeeping on batch positions and scores: the runs come from the core's grouping of adjacent
near-duplicates (``artimuse_core.stacks``), so the pack holds no hashing of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Buckets:
    """Positions in the input batch (from 0). ``kept``: best first, at most top-k, each at or above the
    threshold and the best of its run; ``passed``: every run's best at or above the threshold, in batch
    order; ``rest``: every other image, in batch order (``passed`` and ``rest`` partition the batch);
    ``best_of``: for each position, the position of its run's best (itself when it is one)."""

    kept: list[int]
    passed: list[int]
    rest: list[int]
    best_of: list[int]


def sort_out(scores: Sequence[float], runs: Sequence[Sequence[int]], top_k: int, threshold: float) -> Buckets:
    """The buckets of a batch with these ``scores`` (0-100, one per image) and ``runs`` (lists of adjacent
    positions that are near-duplicates of each other, covering every position once; one run per image
    when suppression is off). A run's best is its highest score, the earliest frame on a tie.

    Raises:
        ValueError: runs that do not cover every position exactly once.
    """
    covered = sorted(i for run in runs for i in run)
    if covered != list(range(len(scores))):
        raise ValueError(f"runs {list(map(list, runs))} do not cover the {len(scores)} images once each")
    best_of = [0] * len(scores)
    for run in runs:
        best = min(run, key=lambda i: (-scores[i], i))
        for i in run:
            best_of[i] = best
    passed = [i for i in range(len(scores)) if best_of[i] == i and scores[i] >= threshold]
    rest = [i for i in range(len(scores)) if i not in set(passed)]
    kept = sorted(passed, key=lambda i: (-scores[i], i))[:top_k]
    return Buckets(kept=kept, passed=passed, rest=rest, best_of=best_of)


def lines(scores: Sequence[float], buckets: Buckets) -> list[str]:
    """One line per image for the node: its score and where it went (kept, pass, rest, or which frame it
    duplicates)."""
    shown = []
    for i, score in enumerate(scores):
        if i in buckets.kept:
            where = "kept"
        elif i in buckets.passed:
            where = "pass"
        elif buckets.best_of[i] != i:
            where = f"rest: near-duplicate of #{buckets.best_of[i]}"
        else:
            where = "rest"
        shown.append(f"#{i}: {score:.2f} ({where})")
    return shown


__all__ = ["Buckets", "lines", "sort_out"]
