"""From an aesthetic score (0-100) to what photo managers show: stars, a colour label, a keyword.

Stars (``xmp:Rating``, 1-5, ``-1`` = reject) come from four ascending cut points: a score at or above the
N-th cut gets N+1 stars. The cut points are either fixed scores (``mode="thresholds"``) or percentiles of a
folder's or collection's own scores (``mode="percentiles"``), because checkpoints trained on AVA squeeze
their scores into a narrow band: percentiles give the best 10 % five stars whatever the model's scale.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..errors import InvalidValue

#: The documented default. Fixed thresholds are the inverse of the library's ``STAR_SCORES`` (score =
#: stars x 20 - 10): each star owns a 20-point bin, so a rating written here and read back by ``ratings
#: import`` lands on its bin's centre.
RATING_MAPPING = (
    "stars from four cut points c2 < c3 < c4 < c5: score >= c5 -> 5, >= c4 -> 4, >= c3 -> 3, >= c2 -> 2, "
    "else 1; -1 (reject) below reject_below. thresholds (default): cuts are scores, 20/40/60/80, the inverse "
    "of score = stars x 20 - 10. percentiles: cuts are percentiles of the folder's or collection's scores, "
    "10/30/70/90 by default (bottom 10 % get 1 star, best 10 % get 5); reject_below and pick_at are then "
    "percentiles too."
)
DEFAULT_THRESHOLDS = (20.0, 40.0, 60.0, 80.0)
DEFAULT_PERCENTILES = (10.0, 30.0, 70.0, 90.0)
#: Lightroom's default label set; photo managers match ``xmp:Label`` by these names.
LABELS = ("Red", "Yellow", "Green", "Blue", "Purple")
DEFAULT_CATEGORY_LABELS: Mapping[str, str] = {
    "photography": "Blue",
    "painting": "Purple",
    "aigc": "Yellow",
    "3d": "Green",
    "graphic": "Red",
}


@dataclass(frozen=True)
class StarScale:
    """Absolute score cut points (0-100 score points), ready to turn any score into stars."""

    cuts: tuple[float, float, float, float]
    reject_below: float | None = None
    pick_at: float | None = None
    description: str = ""

    def stars(self, score: float) -> int:
        """-1 (reject) or 1..5."""
        if self.reject_below is not None and score < self.reject_below:
            return -1
        return 1 + sum(score >= cut for cut in self.cuts)

    def is_pick(self, score: float) -> bool:
        return self.pick_at is not None and score >= self.pick_at


@dataclass(frozen=True)
class RatingMapping:
    """How scores become stars. ``cuts``, ``reject_below`` and ``pick_at`` are in the mode's units:
    score points for ``thresholds``, percentiles (0-100, exclusive) for ``percentiles``.

    Raises ``InvalidValue`` (a ``ValueError``, naming the setting) for cut points that are not strictly
    ascending or out of range.
    """

    mode: Literal["thresholds", "percentiles"] = "thresholds"
    cuts: tuple[float, float, float, float] | None = None
    reject_below: float | None = None
    pick_at: float | None = None

    def __post_init__(self):
        if self.mode not in ("thresholds", "percentiles"):
            raise InvalidValue(f"rating_mode must be 'thresholds' or 'percentiles', not {self.mode!r}")
        cuts = self.resolved_cuts
        if len(cuts) != 4 or any(math.isnan(c) for c in cuts):
            raise InvalidValue(f"rating_cuts must be four numbers, got {self.cuts!r}")
        inside = (lambda c: 0 < c < 100) if self.mode == "percentiles" else (lambda c: 0 <= c <= 100)
        if list(cuts) != sorted(set(cuts)) or not all(inside(c) for c in cuts):
            raise InvalidValue(f"rating_cuts must rise strictly within 0-100, got {self.cuts!r}")
        for name in ("reject_below", "pick_at"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and inside(value)):
                raise InvalidValue(f"{name} must be within 0-100, got {value!r}")

    @property
    def resolved_cuts(self) -> tuple[float, float, float, float]:
        if self.cuts is not None:
            values = tuple(float(c) for c in self.cuts)
            if len(values) != 4:
                raise InvalidValue(f"rating_cuts must be four numbers, got {self.cuts!r}")
            return values[0], values[1], values[2], values[3]
        return DEFAULT_THRESHOLDS if self.mode == "thresholds" else DEFAULT_PERCENTILES

    def scale(self, scores: Iterable[float] = ()) -> StarScale:
        """The absolute cut points. ``thresholds`` ignores ``scores``; ``percentiles`` needs at least one.

        Percentile p cuts at the sorted scores' element floor(p / 100 x n) (nearest rank from below), so with
        p = 90 exactly the best ceil(n / 10) images reach it when scores are distinct; ties share the stars.
        """
        cuts = self.resolved_cuts
        if self.mode == "thresholds":
            return StarScale(cuts, self.reject_below, self.pick_at, "thresholds " + "/".join(f"{c:g}" for c in cuts))
        ordered = sorted(float(s) for s in scores)
        if not ordered:
            raise InvalidValue("percentile ratings need the folder's or collection's scores; none were given")

        def at(percentile: float) -> float:
            return ordered[min(len(ordered) - 1, math.floor(percentile / 100 * len(ordered)))]

        def maybe(percentile: float | None) -> float | None:
            return None if percentile is None else at(percentile)

        absolute = (at(cuts[0]), at(cuts[1]), at(cuts[2]), at(cuts[3]))
        text = f"percentiles {'/'.join(f'{c:g}' for c in cuts)} of {len(ordered)} scores = " + "/".join(
            f"{c:.2f}" for c in absolute
        )
        return StarScale(absolute, maybe(self.reject_below), maybe(self.pick_at), text)


def scales_by_folder(mapping: RatingMapping, scores: Mapping[str | Path, float]) -> dict[Path, StarScale]:
    """One ``StarScale`` per folder, from the scores of the images in it (paths -> 0-100 scores)."""
    folders: dict[Path, list[float]] = {}
    for path, score in scores.items():
        folders.setdefault(Path(path).parent, []).append(score)
    return {folder: mapping.scale(values) for folder, values in folders.items()}


def score_keyword(score: float, separator: str = "/") -> str:
    """``artimuse/score/80-89``: ten-point buckets, the top one 90-100. ``separator='|'`` gives the form of
    Lightroom's hierarchical keywords (``lr:hierarchicalSubject``)."""
    low = min(90, int(max(0.0, score) // 10) * 10)
    high = 100 if low == 90 else low + 9
    return separator.join(("artimuse", "score", f"{low}-{high}"))


@dataclass(frozen=True)
class XmpSettings:
    """Everything that decides what ``write_xmp`` puts into a sidecar. Plain values, defaults documented.

    - ``naming``: new sidecars as ``IMG_0001.xmp`` (``"lightroom"``: Lightroom, Capture One) or
      ``IMG_0001.CR2.xmp`` (``"darktable"``: darktable, digiKam; the default, one sidecar per file, so a RAW
      and its JPEG never share one). An existing sidecar in either style is updated where it is.
    - ``target``: ``"sidecar"`` (default) or ``"embedded"``: into the JPEG/TIFF/DNG itself, on request only.
    - ``rating``: the ``RatingMapping``; ``overwrite_ratings``: replace a rating or label the user set.
    - ``label``: the model's label where the user picked nothing: ``None``, ``"category"``
      (``category_labels``) or ``"pick"`` (``pick_label`` at or above ``rating.pick_at``); the user's own
      picks always get ``pick_label``.
    - ``model_stars``: write the model's stars into ``xmp:Rating`` where the user gave none (else only the
      user's own stars and rejects go there).
    - ``description`` / ``keywords``: also write ``dc:description`` / the ``artimuse/score/80-89`` keyword.
    - ``stack_rest``: the rest of a stack (``ScoreFacts.stack_rest``) where the user decided nothing:
      ``None`` (as any picture), ``"reject"`` (``xmp:Rating -1``) or ``"label"`` (``stack_label``).
    - ``lower_bound_k``: the lower bound written is score - k x std (as ``artimuse top --rank lower``).
    - ``retries``: how often to re-merge when another program changes the file while we write it.
    """

    naming: Literal["lightroom", "darktable"] = "darktable"
    target: Literal["sidecar", "embedded"] = "sidecar"
    rating: RatingMapping = field(default_factory=RatingMapping)
    overwrite_ratings: bool = False
    label: Literal["category", "pick"] | None = None
    category_labels: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CATEGORY_LABELS))
    pick_label: str = "Green"
    model_stars: bool = True
    description: bool = False
    keywords: bool = False
    stack_rest: Literal["reject", "label"] | None = None
    stack_label: str = "Purple"
    lower_bound_k: float = 1.0
    retries: int = 5

    def __post_init__(self):
        if self.naming not in ("lightroom", "darktable"):
            raise InvalidValue(f"xmp_naming must be 'lightroom' or 'darktable', not {self.naming!r}")
        if self.target not in ("sidecar", "embedded"):
            raise InvalidValue(f"xmp_target must be 'sidecar' or 'embedded', not {self.target!r}")
        if self.label not in (None, "category", "pick"):
            raise InvalidValue(f"xmp_label must be None, 'category' or 'pick', not {self.label!r}")
        if self.stack_rest not in (None, "reject", "label"):
            raise InvalidValue(f"xmp_stack_rest must be none, reject or label, not {self.stack_rest!r}")
        if self.label == "pick" and self.rating.pick_at is None:
            raise InvalidValue("xmp_label 'pick' needs the pick_at setting (the score or percentile that makes a pick)")
        if self.retries < 0 or self.lower_bound_k < 0:
            raise InvalidValue("xmp retries and lower_bound_k must not be negative")
