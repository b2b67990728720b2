"""Where a score stands among the library's other current scores of its dimension by the same model
(``top --percentile``, ``show``), for many scores in one query.

Counting, per score asked, the current scores below it and equal to it read every score of the model once
per asked score: 50 asked scores of a 1 M-evaluation library took seconds. A window function (``rank()``
over the model's scores) reads them once but sorts them all (~300 ms for 200 k scores on SQLite). Here the
asked scores of one (model fingerprint, dimension) are sorted and cut the score axis into consecutive
ranges; one query counts each range, and the scores equal to each asked score, on the (current, dimension,
model fingerprint, score) index (``ix_evaluations_current_dimension_fingerprint_score``), read about
once in all, without sorting or reading scores out. The counts below an asked score are the running sums
of the ranges before it, and the model's count of scores is the sum of all of them (scores are finite:
the ranges run from -inf to +inf).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate
from typing import Any

from sqlalchemy import Connection, Float, Select, String, and_, column, func, select, values

from .tables import evaluations

#: Asked scores per query: each is four bound parameters (SQLite allows 32766 in one statement).
PROBES_PER_QUERY = 2000

Triple = tuple[str, str, float]  # (model fingerprint, dimension, score)


def percentile_ranks(conn: Connection, scored: Sequence[Triple]) -> list[float | None]:
    """For each (model fingerprint, dimension, score): 100 x (the current scores of that dimension by that
    model below it, + half of those equal to it but itself) / (those scores but itself); None when there is
    no other. One query for up to ``PROBES_PER_QUERY`` distinct triples (one more per as many again)."""
    asked: dict[tuple[str, str], list[float]] = {}
    for fingerprint, dimension, value in dict.fromkeys(scored):
        asked.setdefault((fingerprint, dimension), []).append(value)
    probes = []  # (fingerprint, dimension, lower edge, asked score): the range [lower edge, asked score)
    for (fingerprint, dimension), asked_values in asked.items():
        edges = [float("-inf"), *sorted(asked_values), float("inf")]
        probes += [(fingerprint, dimension, low, high) for low, high in zip(edges, edges[1:])]
    counted: dict[Triple, tuple[int, int]] = {}  # -> (scores in the range up to it, scores equal to it)
    for start in range(0, len(probes), PROBES_PER_QUERY):
        chunk = probes[start : start + PROBES_PER_QUERY]
        for fingerprint, dimension, high, in_range, equal in conn.execute(_counts(chunk)):
            counted[(fingerprint, dimension, float(high))] = (in_range or 0, equal or 0)
    ranks: dict[Triple, float | None] = {}
    for (fingerprint, dimension), asked_values in asked.items():
        edges = [*sorted(asked_values), float("inf")]
        ranges = [counted[(fingerprint, dimension, high)] for high in edges]
        others = sum(in_range for in_range, _ in ranges) - 1  # not itself
        for value, below, (_, equal) in zip(edges, accumulate(in_range for in_range, _ in ranges), ranges):
            tied = max(0, equal - 1)
            ranks[(fingerprint, dimension, value)] = 100.0 * (below + 0.5 * tied) / others if others > 0 else None
    return [ranks[triple] for triple in scored]


def _counts(probes: list[tuple[str, str, float, float]]) -> Select[Any]:
    """Per probe: its fingerprint, dimension and asked score, the current scores in its range, and those
    equal to the asked score (two correlated counts, each a range of the index)."""
    E = evaluations.c
    probe = (
        values(column("fingerprint", String), column("dimension", String), column("low", Float), column("high", Float))
        .data(probes)
        .cte("probe")
    )
    P = probe.c
    same = and_(E.current.is_(True), E.dimension == P.dimension, E.model_fingerprint == P.fingerprint)
    in_range = select(func.count()).where(same, E.score >= P.low, E.score < P.high).scalar_subquery()
    equal = select(func.count()).where(same, E.score == P.high).scalar_subquery()
    return select(P.fingerprint, P.dimension, P.high, in_range, equal)
