"""Typed records: what the library's public methods take and return (never dict rows or tuples).

Scores themselves travel as ``results.ScoreResult``; ``EvaluationRecord`` is one stored evaluation as the
queries read it, and ``ScoreResult.from_row(record)`` turns it back into a result. Every record has
``to_dict()``, the JSON the CLI prints with ``--json``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..categories import CategorySource
from ..errors import InvalidValue
from ..families import PRIMARY_DIMENSION
from ..paths import path_key
from ..results import ScoreResult

STAR_SCORES = "score = stars x 20 - 10: 1 star = 10, 2 = 30, 3 = 50, 4 = 70, 5 = 90 (half stars allowed)"


#: Where a rating came from: ``user`` (``artimuse rate``) or what ``ratings import`` read (``xmp.RatingRecord``).
RATING_SOURCES = ("user", "xmp:lightroom", "xmp:darktable", "xmp:embedded", "exif")


def rating_sources(names: Iterable[str]) -> tuple[str, ...]:
    """Names of rating sources (``RATING_SOURCES``, ``xmp`` for every ``xmp:*``; comma-separated lists too)
    -> the sources, in declaration order.

    Raises:
        InvalidValue: an unknown source (the message names the rating_source setting and lists them).
    """
    wanted: set[str] = set()
    for text in names:
        for name in filter(None, (n.strip() for n in text.split(","))):
            if name == "xmp":
                wanted.update(s for s in RATING_SOURCES if s.startswith("xmp:"))
            elif name in RATING_SOURCES:
                wanted.add(name)
            else:
                known = ", ".join((*RATING_SOURCES, "xmp"))
                raise InvalidValue(f"rating_source must be among {known}, not {name!r}")
    return tuple(s for s in RATING_SOURCES if s in wanted)


def stars_to_score(stars: float) -> float:
    """Five equal bins over 0..100, each star at its bin's centre (``STAR_SCORES``).

    Raises:
        InvalidValue: stars outside 0.5-5.
    """
    if not 0.5 <= stars <= 5:
        raise InvalidValue(f"stars must be between 0.5 and 5, not {stars:g}")
    return stars * 20 - 10


class _Record:
    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON-ready data (nested records included)."""
        data: dict[str, Any] = asdict(self)  # type: ignore[call-overload]
        return data


@dataclass(frozen=True)
class FileFacts(_Record):
    """What identifies one file version: absolute path, size in bytes, mtime (seconds since the epoch)
    and the SHA-256 of its content."""

    path: Path
    size: int
    mtime: float
    content_hash: str


def file_facts(path: str | os.PathLike[str]) -> FileFacts:
    """Read a file once (1 MiB blocks) for its ``FileFacts``; the path is the library's spelling of it
    (``paths.path_key``: absolute, ``..`` and inner symlinks resolved, case as on disk).

    Raises:
        OSError: the file cannot be read (FileNotFoundError when it is gone).
    """
    path = Path(path_key(path))
    stat = path.stat()
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return FileFacts(path, stat.st_size, stat.st_mtime, digest.hexdigest())


def facts_or_error(path: Path) -> tuple[Path, FileFacts | OSError]:
    """``(path, file_facts(path))``, or ``(path, the OSError)`` for a file that cannot be read (a pool maps it)."""
    try:
        return path, file_facts(path)
    except OSError as exc:
        return path, exc


def capture_times(paths: Iterable[Path]) -> dict[str, float | None]:
    """When each file was taken (``exif.capture_time``; None: unknown), read from the headers in a small pool."""
    chosen = list(paths)
    if not chosen:
        return {}
    from concurrent.futures import ThreadPoolExecutor

    from ..exif import capture_time

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip((str(p) for p in chosen), pool.map(capture_time, chosen)))


@dataclass
class ScoredFile:
    """One write of the door: a file's facts and its score, the category to store (None: keep the
    image's), and optionally the watcher job completed in the same transaction, the follow-up critique job
    (its ``JobOptions``) to queue in it, when the picture was taken (``captured_at``, seconds since the
    epoch, from its EXIF) and its perceptual hash (``stacks.hashing``), with which it joins its stack."""

    facts: FileFacts
    result: ScoreResult
    category: str | None = None
    category_source: CategorySource | None = None
    category_confidence: float | None = None
    job_id: int | None = None
    follow_up: JobOptions | None = None
    captured_at: float | None = None
    perceptual_hash: int | None = None


@dataclass(frozen=True)
class EvaluationRecord(_Record):
    """One stored evaluation (a score of one image by one model + adapter on one ``dimension``).

    ``score`` is 0-100, ``std`` in score points; ``dimension`` is ``iaa`` (aesthetics), ``iqa`` or ``ista``;
    ``scores``/``stds``/``distributions`` (dimension -> value) are filled by the door's cache lookup with
    every current dimension of the same evaluation (UniPercept's three); ``lower_bound`` (score - k * std)
    is set by ``top`` when ranking by it; ``distribution`` (101 floats) and ``critiques`` (attribute -> text) are filled
    by the queries that read them (``show``, ``export``, the door's cache lookup); ``rating``/``stars``/
    ``picked``/``rejected``: the user's latest decision on the image (``decisions``), filled by ``top`` and
    ``export``.
    """

    evaluation_id: int
    path: str
    score: float
    std: float
    model: str
    fingerprint: str
    adapter: str | None
    category: str | None
    category_source: CategorySource | None
    prompt_hash: str
    engine_version: str
    device: str
    dtype: str
    created_at: str
    current: bool
    width: int | None = None
    height: int | None = None
    lower_bound: float | None = None
    distribution: list[float] | None = None
    critiques: dict[str, str] = field(default_factory=dict)
    dimension: str = PRIMARY_DIMENSION
    scores: dict[str, float] = field(default_factory=dict)
    stds: dict[str, float] = field(default_factory=dict)
    distributions: dict[str, list[float]] = field(default_factory=dict)
    rating: float | None = None
    stars: float | None = None
    picked: bool = False
    rejected: bool = False

    def to_result(self, **changes: Any) -> ScoreResult:
        """This evaluation as a ``ScoreResult`` (status ``cached`` unless changed)."""
        return ScoreResult.from_row(self, **{"status": "cached", **changes})


@dataclass(frozen=True)
class RatingRecord(_Record):
    """The user's own decision on an image (``decisions``): ``score`` 0-100 (None: no stars, as after a pick
    of an unrated image or a clear), ``stars`` 0.5-5 when given as stars; ``source`` ``user`` or where
    ``ratings import`` read it (``xmp:lightroom``...); ``rejected``: a reject (score 0, never trained on);
    ``picked``: the pick flag."""

    path: str
    score: float | None
    stars: float | None
    created_at: str
    category: str | None = None
    source: str = "user"
    rejected: bool = False
    picked: bool = False


@dataclass(frozen=True)
class ImageRecord(_Record):
    """Everything known about one image file: its facts, category, evaluations (latest first) and
    ratings (latest first)."""

    path: str
    content_hash: str
    size: int
    width: int | None
    height: int | None
    category: str | None
    category_source: CategorySource | None
    category_confidence: float | None
    first_seen: str
    missing: bool
    evaluations: list[EvaluationRecord] = field(default_factory=list)
    ratings: list[RatingRecord] = field(default_factory=list)


@dataclass(frozen=True)
class ErrorEntry(_Record):
    """A file that could not be scored: its path, the error kind tag, the one-line message and when (the
    latest, for an open error shown once per file); ``count`` how many times it failed (open errors), and
    ``resolved_at`` when the same file later succeeded (None while open)."""

    path: str
    kind: str
    message: str
    created_at: str
    count: int = 1
    resolved_at: str | None = None


@dataclass(frozen=True)
class SearchHit(_Record):
    """A critique matching a search, with the score of the evaluation it belongs to."""

    path: str
    attribute: str
    text: str
    score: float
    model: str
    evaluation_id: int


@dataclass(frozen=True)
class JobOptions(_Record):
    """What a queued job asks for beyond its file, the jobs table's ``options`` column: ``attributes`` to
    critique (full names, ``prompts.ATTRIBUTES``; a score job writes them with the score, a critique job for
    a stored evaluation writes only them) and ``max_new_tokens``, the longest critique in tokens (None: the
    engine's spec)."""

    attributes: tuple[str, ...] = ()
    max_new_tokens: int | None = None

    @classmethod
    def of(cls, attributes: Sequence[str] = (), max_new_tokens: int | None = None) -> JobOptions:
        return cls(tuple(attributes), max_new_tokens)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> JobOptions:
        """The options a row's JSON holds (None: a job that asks for nothing more)."""
        data = data or {}
        return cls(tuple(data.get("attributes") or ()), data.get("max_new_tokens"))

    def to_json(self) -> dict[str, Any] | None:
        """The JSON the ``options`` column stores; None when the job asks for nothing more."""
        if not self.attributes and self.max_new_tokens is None:
            return None
        return {"attributes": list(self.attributes), "max_new_tokens": self.max_new_tokens}


@dataclass(frozen=True)
class JobRecord(_Record):
    """One unit of watcher work (``kind`` score or critique), pending until its results commit."""

    id: int
    kind: str
    path: str
    status: str
    options: JobOptions
    evaluation_id: int | None
    attempts: int
    updated_at: str
    error: str | None = None


@dataclass(frozen=True)
class KnownFile(_Record):
    """What the library last saw of a file: size in bytes, mtime, and whether it was missing."""

    size: int
    mtime: float
    missing: bool


@dataclass(frozen=True)
class AdapterRecord(_Record):
    """A fine-tuned LoRA adapter: where it is, its base model, data sizes, metrics and hyper-parameters."""

    name: str
    path: str
    base_model: str
    base_fingerprint: str
    train_size: int
    val_size: int
    metrics: dict[str, Any]
    hyperparameters: dict[str, Any]
    created_at: str


@dataclass(frozen=True)
class CategoryStats(_Record):
    """Current scores of one category: how many, their mean and percentiles (0-100 scale, linear
    interpolation between order statistics, as ``numpy.quantile``'s default)."""

    count: int
    mean: float
    p10: float
    p25: float
    p50: float
    p75: float
    p90: float


@dataclass(frozen=True)
class LibraryStats(_Record):
    """Row counts (images, evaluations, critiques, ratings, errors, missing_images) and per-category stats."""

    counts: dict[str, int]
    categories: dict[str, CategoryStats]


__all__ = [
    "AdapterRecord",
    "CategoryStats",
    "ErrorEntry",
    "facts_or_error",
    "EvaluationRecord",
    "FileFacts",
    "ImageRecord",
    "JobRecord",
    "KnownFile",
    "LibraryStats",
    "RatingRecord",
    "RATING_SOURCES",
    "STAR_SCORES",
    "ScoredFile",
    "SearchHit",
    "capture_times",
    "file_facts",
    "rating_sources",
    "stars_to_score",
]
