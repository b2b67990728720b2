"""``stats`` in SQL: counts, means and exact percentiles of current scores without reading the scores out.

A library of 1 M evaluations holds ~400 k current scores; pulling them into Python took seconds, and even
one SQL pass over them takes a few hundred milliseconds. So on SQLite, triggers keep counters (migration
0007): the row count of each table, and per category and one-point score bin the number and the sum of
the current scores. ``stats`` reads those few hundred rows; the mean is sum / count; each percentile is the
linear interpolation between two order statistics (``numpy.quantile``'s default method), and each order
statistic is found inside its bin with a short ``ORDER BY score LIMIT 1 OFFSET k`` range scan on the
(current, category, score) index. Other databases compute the same bins with one grouped pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Integer, cast, column, func, select, table

from ..families import PRIMARY_DIMENSION
from .records import CategoryStats, LibraryStats
from .tables import critiques, errors, evaluations, images, ratings

QUANTILES = (0.10, 0.25, 0.50, 0.75, 0.90)
UNCATEGORISED = "uncategorised"
COUNTED = {"images": images, "evaluations": evaluations, "critiques": critiques, "ratings": ratings, "errors": errors}
Bins = dict[str | None, list[tuple[int, int, float]]]  # category -> sorted (bin, count, sum of scores)
#: The counters SQLite's triggers keep (migration 0007; no other database has them).
row_counts = table("row_counts", column("name"), column("count"))
score_bins = table(
    "score_bins", column("category"), column("dimension"), column("bin"), column("count"), column("total")
)


def library_stats(
    conn: Connection, *, scan: bool = False, only: Sequence[Any] = (), dimension: str = PRIMARY_DIMENSION
) -> LibraryStats:
    """Counts of every table (and of missing images), then ``CategoryStats`` per category of the current
    evaluations of ``dimension`` (their copy of the image's category; ``uncategorised`` for none).

    ``scan`` ignores the counters and counts everything afresh (what other databases do; tests compare).
    ``only``: conditions on evaluations (one model's, one adapter's scores): the category stats are then
    computed from those scores alone (read out in one ordered pass; the counts stay the library's).
    """
    if only:
        counts, _ = _from_counters(conn, dimension) if conn.dialect.name == "sqlite" else _from_scan(conn, dimension)
        counts["errors"] = _open_errors(conn)
        return LibraryStats(counts=counts, categories=_filtered(conn, (*only, evaluations.c.dimension == dimension)))
    if conn.dialect.name == "sqlite" and not scan:
        counts, bins = _from_counters(conn, dimension)
    else:
        counts, bins = _from_scan(conn, dimension)
    counts["errors"] = _open_errors(conn)
    categories = {}
    for category, histogram in bins.items():
        n = sum(count for _, count, _ in histogram)
        total = sum(value for _, _, value in histogram)
        values = {f"p{round(q * 100)}": _quantile(conn, dimension, category, histogram, n, q) for q in QUANTILES}
        categories[category or UNCATEGORISED] = CategoryStats(count=n, mean=total / n, **values)
    return LibraryStats(counts=counts, categories=dict(sorted(categories.items())))


def _open_errors(conn: Connection) -> int:
    """Files with an open error (an error is resolved when the same file later succeeds)."""
    return conn.scalar(select(func.count(func.distinct(errors.c.path))).where(errors.c.resolved_at.is_(None))) or 0


def _filtered(conn: Connection, only: Sequence[Any]) -> dict[str, CategoryStats]:
    """``CategoryStats`` of the current scores matching ``only``, percentiles as ``numpy.quantile``."""
    E = evaluations.c
    query = select(E.category, E.score).where(E.current.is_(True), *only).order_by(E.category, E.score)
    scores: dict[str, list[float]] = {}
    for category, score in conn.execute(query):
        scores.setdefault(category or UNCATEGORISED, []).append(float(score))
    found = {}
    for category, values in sorted(scores.items()):
        n = len(values)

        def at(q: float, values: list[float] = values, n: int = n) -> float:
            position = q * (n - 1)
            low = math.floor(position)
            return values[low] + (values[min(low + 1, n - 1)] - values[low]) * (position - low)

        found[category] = CategoryStats(
            count=n, mean=sum(values) / n, **{f"p{round(q * 100)}": at(q) for q in QUANTILES}
        )
    return found


def _from_counters(conn: Connection, dimension: str) -> tuple[dict[str, int], Bins]:
    kept = {name: count for name, count in conn.execute(select(row_counts.c.name, row_counts.c.count))}
    counts = {name: kept.get(name, 0) for name in (*COUNTED, "missing_images")}
    bins: Bins = {}
    B = score_bins.c
    rows = conn.execute(
        select(B.category, B.bin, B.count, B.total)
        .where(B.count > 0, B.dimension == dimension)
        .order_by(B.category, B.bin)
    )
    for category, bin_, count, total in rows:
        bins.setdefault(category or None, []).append((bin_, count, total))
    return counts, bins


def _from_scan(conn: Connection, dimension: str) -> tuple[dict[str, int], Bins]:
    counts = {name: conn.scalar(select(func.count()).select_from(model)) or 0 for name, model in COUNTED.items()}
    counts["missing_images"] = conn.scalar(select(func.count()).where(images.c.missing.is_(True))) or 0
    # SQLite's CAST truncates (scores are >= 0, so it is the floor); elsewhere CAST may round.
    sqlite = conn.dialect.name == "sqlite"
    E = evaluations.c
    floor: Any = cast(E.score, Integer) if sqlite else func.floor(E.score)
    bins: Bins = {}
    grouped = (
        select(E.category, floor.label("bin"), func.count(), func.sum(E.score))
        .where(E.current.is_(True), E.dimension == dimension)
        .group_by(E.category, "bin")
    )
    for category, bin_, count, total in conn.execute(grouped):
        bins.setdefault(category, []).append((int(bin_), count, total))
    for histogram in bins.values():
        histogram.sort()
    return counts, bins


def _quantile(
    conn: Connection,
    dimension: str,
    category: str | None,
    histogram: list[tuple[int, int, float]],
    n: int,
    q: float,
) -> float:
    """Linear interpolation between the order statistics around q * (n - 1), both read in one query."""
    position = q * (n - 1)
    low = math.floor(position)
    below, above = _order_statistics(conn, dimension, category, histogram, low)
    return below + (above - below) * (position - low)


def _order_statistics(
    conn: Connection, dimension: str, category: str | None, histogram: list[tuple[int, int, float]], rank: int
) -> tuple[float, float]:
    """The ``rank``-th smallest current score (0-based) of ``category`` and the next one (the same one for
    the largest), read from the start of the rank's one-point bin on the (current, category, score) index."""
    before = 0
    for edge, count, _ in histogram:
        if rank < before + count:
            E = evaluations.c
            same = E.category.is_(None) if category is None else E.category == category
            nth = (  # the rank-th current score of the category from the bin's lower edge on, and the next
                select(E.score)
                .where(E.current.is_(True), E.dimension == dimension, same, E.score >= edge)
                .order_by(E.score)
                .limit(2)
                .offset(rank - before)
            )
            values = conn.execute(nth).scalars().all()
            return float(values[0]), float(values[-1])
        before += count
    raise AssertionError("rank beyond the histogram")  # pragma: no cover
