"""``stats`` in SQL: counts, means and exact percentiles of current scores without reading the scores out.

A library of 1 M evaluations holds ~400 k current scores; pulling them into Python took seconds. Instead:
one grouped pass over the (current, category, score) index counts the scores of each category in
one-point bins (and sums them, for the mean); each percentile is then the linear interpolation between
two order statistics (``numpy.quantile``'s default method), and each order statistic is found inside its
bin with a short ``ORDER BY score LIMIT 1 OFFSET k`` range scan on that same index.
"""

from __future__ import annotations

import math

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session

from .models import Critique, ErrorRecord, Evaluation, Image, Rating
from .records import CategoryStats, LibraryStats

QUANTILES = (0.10, 0.25, 0.50, 0.75, 0.90)
UNCATEGORISED = "uncategorised"


def library_stats(session: Session) -> LibraryStats:
    """Counts of every table (and of missing images), then ``CategoryStats`` per category of the current
    evaluations (their copy of the image's category; ``uncategorised`` for none)."""
    counts = {
        name: session.scalar(select(func.count()).select_from(model)) or 0
        for name, model in (
            ("images", Image),
            ("evaluations", Evaluation),
            ("critiques", Critique),
            ("ratings", Rating),
            ("errors", ErrorRecord),
        )
    }
    counts["missing_images"] = session.scalar(select(func.count()).where(Image.missing.is_(True))) or 0
    # SQLite's CAST truncates (scores are >= 0, so it is the floor); elsewhere CAST may round.
    floor = (
        cast(Evaluation.score, Integer) if session.get_bind().dialect.name == "sqlite" else func.floor(Evaluation.score)
    )
    bins: dict[str | None, list[tuple[int, int]]] = {}
    sums: dict[str | None, float] = {}
    grouped = (
        select(Evaluation.category, floor.label("bin"), func.count(), func.sum(Evaluation.score))
        .where(Evaluation.current.is_(True))
        .group_by(Evaluation.category, "bin")
    )
    for category, bin_, count, total in session.execute(grouped):
        bins.setdefault(category, []).append((int(bin_), count))
        sums[category] = sums.get(category, 0.0) + total
    categories = {}
    for category, histogram in bins.items():
        histogram.sort()
        n = sum(count for _, count in histogram)
        values = {f"p{round(q * 100)}": _quantile(session, category, histogram, n, q) for q in QUANTILES}
        categories[category or UNCATEGORISED] = CategoryStats(count=n, mean=sums[category] / n, **values)
    return LibraryStats(counts=counts, categories=dict(sorted(categories.items())))


def _quantile(session: Session, category: str | None, histogram: list[tuple[int, int]], n: int, q: float) -> float:
    position = q * (n - 1)
    low = math.floor(position)
    below = _order_statistic(session, category, histogram, low)
    if position == low:
        return below
    above = _order_statistic(session, category, histogram, low + 1)
    return below + (above - below) * (position - low)


def _order_statistic(session: Session, category: str | None, histogram: list[tuple[int, int]], rank: int) -> float:
    """The ``rank``-th smallest current score (0-based) of ``category``, read inside its one-point bin."""
    before = 0
    for bin_, count in histogram:
        if rank < before + count:
            same = Evaluation.category.is_(None) if category is None else Evaluation.category == category
            value = session.scalar(
                select(Evaluation.score)
                .where(Evaluation.current.is_(True), same, Evaluation.score >= bin_)
                .order_by(Evaluation.score)
                .limit(1)
                .offset(rank - before)
            )
            return float(value)  # type: ignore[arg-type]
        before += count
    raise AssertionError("rank beyond the histogram")  # pragma: no cover
