"""Grouping hashes into stacks without comparing every pair: multi-index hashing for near-duplicates and a
sliding time window for bursts, then connected components of the pairs found.

Multi-index hashing (Norouzi, Punjani, Fleet, "Fast Search in Hamming Space with Multi-Index Hashing", CVPR
2012): the 64 bits are cut into ``m`` chunks; two hashes at most ``r`` bits apart have, by the pigeonhole
principle, some chunk at most ``r // m`` bits apart, so each hash only meets the hashes whose chunk lies
within that radius of its own (one table lookup per flipped-bit pattern). The search is exact: it finds
every pair the all-pairs comparison (``all_pairs``) finds, and ``m`` is chosen for the fewest comparisons.
Bursts compare each picture with the ones taken at most ``gap`` seconds after it, in capture-time order.

Shapes: hashes are ``uint64`` arrays (or sequences of ints) of length N; times are float seconds (NaN:
unknown); pairs are ``(P, 2)`` int64 arrays of indices ``i < j``; groups are lists of indices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations

import numpy as np

from .hashing import HASH_BITS
from .settings import StackSettings

#: Candidate comparisons made at once (bounds the working memory of the search at ~100 MB).
_BLOCK_CANDIDATES = 4_000_000


def as_hashes(hashes: Sequence[int] | np.ndarray) -> np.ndarray:
    """Hashes (ints in [0, 2**64)) as a ``uint64`` array."""
    return np.asarray(hashes, dtype=np.uint64) if not isinstance(hashes, np.ndarray) else hashes.astype(np.uint64)


_BYTE_BITS = np.asarray([bin(i).count("1") for i in range(256)], dtype=np.int64)


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances (bits) between two ``uint64`` arrays of one shape."""
    x = np.bitwise_xor(a, b)
    if hasattr(np, "bitwise_count"):  # numpy 2
        counted: np.ndarray = np.bitwise_count(x).astype(np.int64)
        return counted
    bytes_ = np.ascontiguousarray(x).view(np.uint8).reshape(*x.shape, 8)  # numpy 1.26 (ComfyUI's floor)
    summed: np.ndarray = _BYTE_BITS[bytes_].sum(axis=-1)
    return summed


def _chunk_plan(n: int, threshold: int) -> tuple[list[tuple[int, int]], int]:
    """The (shift, width) of each chunk and the per-chunk radius that makes the fewest comparisons for n hashes."""
    best: tuple[float, list[tuple[int, int]], int] | None = None
    for m in range(3, 9):  # chunks of 8-22 bits: each table is a dense array of at most 4M entries
        widths = [HASH_BITS // m + (1 if i < HASH_BITS % m else 0) for i in range(m)]
        radius = threshold // m
        cost = 0.0
        for width in widths:
            patterns = sum(math.comb(width, k) for k in range(radius + 1))
            cost += patterns * (1 + n / 2**width)
        shifts = [sum(widths[:i]) for i in range(m)]
        if best is None or cost < best[0]:
            best = (cost, list(zip(shifts, widths)), radius)
    assert best is not None
    return best[1], best[2]


def _flip_patterns(width: int, radius: int) -> np.ndarray:
    """Every XOR mask of at most ``radius`` set bits within ``width`` bits."""
    masks = [0]
    for k in range(1, radius + 1):
        masks.extend(sum(1 << b for b in bits) for bits in combinations(range(width), k))
    return np.asarray(masks, dtype=np.int64)


def near_pairs(hashes: Sequence[int] | np.ndarray, threshold: int) -> np.ndarray:
    """Every pair (i < j) of hashes at most ``threshold`` bits apart (multi-index hashing), sorted.

    Raises:
        ValueError: a threshold outside 0-32 bits (larger radii gain nothing over all pairs).
    """
    h = as_hashes(hashes)
    n = len(h)
    if not 0 <= threshold <= 32:
        raise ValueError(f"threshold must be 0-32 bits, not {threshold}")
    if n < 2:
        return np.empty((0, 2), dtype=np.int64)
    plan, radius = _chunk_plan(n, threshold)
    found: list[np.ndarray] = []
    for shift, width in plan:
        values = ((h >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.int32)
        order = np.argsort(values, kind="stable").astype(np.int32)
        counts = np.bincount(values, minlength=1 << width).astype(np.int32)
        starts = (np.cumsum(counts) - counts).astype(np.int32)
        occupied = counts > 0  # a small table (one byte a value) read first: most flipped values hold nothing
        masks = _flip_patterns(width, radius).astype(np.int32)
        block = max(1, int(_BLOCK_CANDIDATES / len(masks)))
        for first in range(0, n, block):
            items = np.arange(first, min(n, first + block), dtype=np.int32)
            keys = (values[items, None] ^ masks[None, :]).ravel()
            hits = np.flatnonzero(occupied[keys])
            if len(hits) == 0:
                continue
            keys = keys[hits]
            owners = items[hits // len(masks)]
            sizes = counts[keys]
            total = int(sizes.sum())
            offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes - starts[keys], sizes)
            others = order[offsets]
            mine = np.repeat(owners, sizes)
            keep = others > mine
            mine, others = mine[keep], others[keep]
            close = distances(h[mine], h[others]) <= threshold
            if close.any():
                found.append(np.stack((mine[close], others[close]), axis=1).astype(np.int64))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(found), axis=0)


def burst_pairs(
    hashes: Sequence[int] | np.ndarray, times: Sequence[float | None] | np.ndarray, gap: float, threshold: int
) -> np.ndarray:
    """Every pair (i < j) taken at most ``gap`` seconds apart (both times known) and at most ``threshold`` bits
    apart: a sliding window over capture-time order, never all pairs."""
    h = as_hashes(hashes)
    t = np.asarray([math.nan if x is None else x for x in times], dtype=np.float64)
    known = np.flatnonzero(~np.isnan(t))
    if gap <= 0 or len(known) < 2:
        return np.empty((0, 2), dtype=np.int64)
    order = known[np.argsort(t[known], kind="stable")]
    when = t[order]
    found: list[np.ndarray] = []
    for offset in range(1, len(order)):
        within = when[offset:] - when[:-offset] <= gap
        if not within.any():
            break  # times are sorted: no later offset is closer
        a, b = order[:-offset][within], order[offset:][within]
        close = distances(h[a], h[b]) <= threshold
        if close.any():
            found.append(np.sort(np.stack((a[close], b[close]), axis=1), axis=1))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(found), axis=0)


def all_pairs(hashes: Sequence[int] | np.ndarray, threshold: int) -> np.ndarray:
    """Every pair at most ``threshold`` bits apart, by comparing all of them (the baseline the index beats;
    O(N^2): for tests and the benchmark)."""
    h = as_hashes(hashes)
    found: list[tuple[int, int]] = []
    for i in range(len(h) - 1):
        close = np.flatnonzero(distances(h[i + 1 :], np.full(len(h) - i - 1, h[i])) <= threshold) + i + 1
        found.extend((i, int(j)) for j in close)
    return np.asarray(found, dtype=np.int64).reshape(-1, 2)


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """The connected component of each of n items given linking pairs: labels (N,), the smallest index of
    each component."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if n == 0:
        return np.empty(0, dtype=np.int64)
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    smallest = np.full(labels.max() + 1, n, dtype=np.int64)
    np.minimum.at(smallest, labels, np.arange(n))
    labelled: np.ndarray = smallest[labels]
    return labelled


def group_labels(
    hashes: Sequence[int] | np.ndarray,
    times: Sequence[float | None] | np.ndarray | None = None,
    settings: StackSettings = StackSettings(),
) -> np.ndarray:
    """The stack of each picture as labels (N,): the smallest index among its stack's members (a picture
    alone is its own label). Near-duplicates (``settings.threshold``) and bursts (``settings.gap`` and
    ``settings.burst_threshold``) link pictures; links chain (a burst is one stack end to end)."""
    h = as_hashes(hashes)
    pairs = [near_pairs(h, settings.threshold)]
    if times is not None:
        pairs.append(burst_pairs(h, times, settings.gap, settings.burst_threshold))
    return components(len(h), np.concatenate(pairs))


def group_stacks(
    hashes: Sequence[int] | np.ndarray,
    times: Sequence[float | None] | np.ndarray | None = None,
    settings: StackSettings = StackSettings(),
) -> list[list[int]]:
    """The stacks of two or more pictures as lists of indices, each ascending, ordered by their first index."""
    labels = group_labels(hashes, times, settings)
    if len(labels) == 0:
        return []
    order = np.argsort(labels, kind="stable")
    cuts = np.flatnonzero(np.diff(labels[order])) + 1
    return [[int(i) for i in part] for part in np.split(order, cuts) if len(part) > 1]


def near_duplicate_runs(hashes: Sequence[int] | np.ndarray, threshold: int) -> list[list[int]]:
    """An ordered sequence (a batch, video frames) cut into runs of adjacent near-identical items: each item
    at most ``threshold`` bits from the one before it joins that one's run. Every index is in one run."""
    h = as_hashes(hashes)
    if len(h) == 0:
        return []
    breaks = np.flatnonzero(distances(h[1:], h[:-1]) > threshold) + 1
    return [[int(i) for i in part] for part in np.split(np.arange(len(h)), breaks)]


__all__ = [
    "all_pairs",
    "burst_pairs",
    "components",
    "distances",
    "group_labels",
    "group_stacks",
    "near_duplicate_runs",
    "near_pairs",
]
