"""Rank and linear correlation, as the ArtiMuse paper reports them (SRCC, PLCC)."""

from __future__ import annotations

import math

from scipy import stats


def correlation_report(predicted: list[float | None], truth: list[float]) -> dict:
    """SRCC/PLCC/MAE over the pairs whose prediction exists; NaN when fewer than two remain."""
    pairs = [(p, t) for p, t in zip(predicted, truth) if p is not None]
    result = {"n": len(pairs), "failed": len(truth) - len(pairs), "srcc": math.nan, "plcc": math.nan, "mae": math.nan}
    if len(pairs) >= 2:
        xs, ys = zip(*pairs)
        result["srcc"] = float(stats.spearmanr(xs, ys).statistic)
        result["plcc"] = float(stats.pearsonr(xs, ys).statistic)
    if pairs:
        result["mae"] = sum(abs(p - t) for p, t in pairs) / len(pairs)
    return result
