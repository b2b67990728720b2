"""Grouping hashes into stacks at 10 k, 100 k and 1 M pictures: time and peak memory of the index
(``stacks.grouping.group_stacks``: multi-index hashing for near-duplicates, a sorted time window for bursts),
against comparing all pairs at a size where that still finishes, in the same run.

The hashes are synthetic: uniform random 64-bit hashes (unrelated pictures differ in ~32 bits), with planted
clusters of 2-6 near-duplicates (each within the threshold of its first) and bursts of 3-8 frames taken
0.3 s apart (within the burst threshold of each other) in a shoot whose pictures are otherwise 5-60 s apart.
Every planted stack must come back whole: the figures are of a correct grouping. Peak memory is
``tracemalloc``'s (numpy's arrays are traced). Figures move with the machine's load: compare the ratio of one
run, not figures across runs.

    python bench/stack_grouping.py                       # 10k, 100k, 1M; all pairs at 5k
    python bench/stack_grouping.py --sizes 10000 100000 --baseline 3000
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from artimuse_core.stacks.grouping import all_pairs, group_labels, near_pairs
from artimuse_core.stacks.settings import StackSettings


def synthetic(n: int, settings: StackSettings, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """(hashes, capture times, the planted stacks) for n pictures."""
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, n, dtype=np.uint64)
    times = np.cumsum(rng.uniform(5, 60, n))
    planted: list[list[int]] = []
    i = 0
    while i < n - 10:
        size = int(rng.integers(2, 9))
        burst = rng.random() < 0.5
        radius = settings.burst_threshold // 2 if burst else settings.threshold
        for k in range(1, size):
            flips = rng.choice(64, int(rng.integers(0, radius + 1)), replace=False)
            hashes[i + k] = hashes[i] ^ np.uint64(sum(1 << int(b) for b in flips))
            if burst:
                times[i + k] = times[i] + 0.3 * k
        planted.append(list(range(i, i + size)))
        i += size + int(rng.integers(5, 40))
    return hashes, times, planted


def measure(func, *args):
    tracemalloc.start()
    start = time.perf_counter()
    result = func(*args)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, seconds, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--baseline", type=int, default=5_000, help="size of the all-pairs comparison")
    args = parser.parse_args()
    settings = StackSettings()
    print(
        f"settings: threshold {settings.threshold} bits, "
        f"burst gap {settings.gap:g} s within {settings.burst_threshold} bits"
    )
    hashes, times, _ = synthetic(args.baseline, settings)
    group_labels(hashes[:100], times[:100], settings)  # imports (scipy's graph module) out of the timings
    index, t_index, _ = measure(near_pairs, hashes, settings.threshold)
    brute, t_brute, m_brute = measure(all_pairs, hashes, settings.threshold)
    assert np.array_equal(index, brute), "the index must find exactly what all pairs find"
    print(
        f"{args.baseline:>9,} hashes: near-duplicate pairs by the index {t_index:.3f} s, all pairs {t_brute:.3f} s "
        f"({t_brute / t_index:.0f}x); same {len(index)} pairs"
    )
    for n in args.sizes:
        hashes, times, planted = synthetic(n, settings)
        labels, seconds, peak = measure(group_labels, hashes, times, settings)
        whole = sum(1 for s in planted if len(set(labels[s].tolist())) == 1)
        stacks = len(np.unique(labels[np.bincount(labels, minlength=n)[labels] > 1]))
        quadratic = t_brute * (n / args.baseline) ** 2  # all pairs grow as N^2 from the measured baseline
        print(
            f"{n:>9,} hashes: grouped in {seconds:.2f} s, peak {peak:.0f} MiB; {stacks:,} stacks, "
            f"{whole:,}/{len(planted):,} planted stacks whole; all pairs ~{quadratic:,.0f} s "
            f"({quadratic / seconds:,.0f}x, extrapolated)"
        )


if __name__ == "__main__":
    main()
