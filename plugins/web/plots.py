"""Inline SVG plots (no charting dependency: one bar chart is a few rectangles)."""

from __future__ import annotations

from collections.abc import Sequence


def distribution_svg(
    distribution: Sequence[float] | None, score: float, std: float, width: int = 320, height: int = 90
) -> str:
    """The 101-way score distribution (probabilities of 0..100, docs/inference.md "Token As Score") as bars, with the
    mean (``score``) marked and the mean +- std band shaded. Empty string when there is no distribution."""
    if not distribution:
        return ""
    top = max(distribution) or 1.0
    margin = 12  # room for the 0 and 100 tick labels
    step = (width - 2 * margin) / len(distribution)
    plot = height - 16

    def x(value: float) -> float:
        return margin + (value + 0.5) * step

    bars = "".join(
        f'<rect x="{margin + i * step:.2f}" y="{plot - p / top * plot:.2f}" width="{max(step - 0.4, 0.5):.2f}" '
        f'height="{p / top * plot:.2f}"/>'
        for i, p in enumerate(distribution)
        if p > 0
    )
    low, high = max(score - std, 0.0), min(score + std, 100.0)
    ticks = "".join(
        f'<text x="{x(t):.1f}" y="{height - 2}" text-anchor="middle">{t}</text>' for t in (0, 25, 50, 75, 100)
    )
    return (
        f'<svg class="dist" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="score distribution, mean {score:.1f}">'
        f'<rect class="band" x="{x(low):.2f}" y="0" width="{x(high) - x(low):.2f}" height="{plot}"/>'
        f'<g class="bars">{bars}</g>'
        f'<line class="mean" x1="{x(score):.2f}" x2="{x(score):.2f}" y1="0" y2="{plot}"/>'
        f'<g class="ticks">{ticks}</g></svg>'
    )
