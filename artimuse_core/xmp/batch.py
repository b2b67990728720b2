"""XMP for many images at once: star scales per folder or per collection, one outcome per image, counts.

``write_many`` never stops on one file: an ``XmpError`` (invalid sidecar, read-only folder, a sidecar that
another program keeps changing) becomes that file's ``failed`` outcome with the error's kind, an image
without a score is ``passed_over`` with the reason. ``library_facts`` reads what the library knows (current
evaluation + critiques) so ``artimuse xmp write`` runs no model.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidValue, LibraryError, XmpError
from ..paths import display_path
from .mapping import StarScale, XmpSettings
from .writing import ScoreFacts, UserDecision, write_xmp

#: ``rating_scope`` values: percentiles of each folder's scores in the library, or of the images named.
SCOPES = ("folder", "collection")
#: How many of a folder's scores ``library_facts`` reads for its percentiles (more than any real folder).
FOLDER_LIMIT = 10_000_000


@dataclass(frozen=True)
class XmpOutcome:
    """What happened to one image. ``status``: created, updated, unchanged (``write_xmp``'s), failed
    (``reason``, ``error_kind`` as ``XmpError.kind``) or passed_over (``reason``: not in the library, no
    score). ``rating`` is the ``xmp:Rating`` now in the file, ``suggested_rating`` what the mapping gives."""

    image: str
    status: str
    sidecar: str | None = None
    style: str | None = None
    rating: int | None = None
    suggested_rating: int | None = None
    kept_user_rating: bool = False
    label: str | None = None
    retries: int = 0
    reason: str | None = None
    error_kind: str | None = None
    rating_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for ``--json`` output."""
        return asdict(self)


@dataclass
class XmpCounts:
    """Tallies of ``XmpOutcome``s: ``failed`` by error kind, ``passed_over`` by reason."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_user_rating: int = 0
    failed: Counter = field(default_factory=Counter)
    passed_over: Counter = field(default_factory=Counter)

    def add(self, outcome: XmpOutcome) -> None:
        if outcome.status in ("created", "updated", "unchanged"):
            setattr(self, outcome.status, getattr(self, outcome.status) + 1)
            self.kept_user_rating += outcome.kept_user_rating
        elif outcome.status == "failed":
            self.failed[outcome.error_kind or "xmp"] += 1
        else:
            self.passed_over[outcome.reason or "passed over"] += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "kept_user_rating": self.kept_user_rating,
            "failed": dict(self.failed),
            "passed_over": dict(self.passed_over),
        }

    def summary(self) -> str:
        """'3 created, 1 updated, 0 unchanged, 1 kept the user's rating, 1 failed (invalid_sidecar: 1), ...'"""
        text = f"xmp: {self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        text += f", {self.kept_user_rating} kept the user's rating"
        if self.failed:
            kinds = ", ".join(f"{k}: {n}" for k, n in sorted(self.failed.items()))
            text += f", {sum(self.failed.values())} failed ({kinds})"
        if self.passed_over:
            reasons = ", ".join(f"{n} {r}" for r, n in sorted(self.passed_over.items()))
            text += f", {sum(self.passed_over.values())} passed over ({reasons})"
        return text


def star_scales(
    settings: XmpSettings,
    facts: Mapping[str, ScoreFacts],
    *,
    scope: str = "folder",
    folder_scores: Callable[[Path], list[float]] | None = None,
) -> Callable[[str], StarScale]:
    """The star scale for each image: the fixed thresholds, or percentiles of its folder's scores
    (``folder_scores(folder)``, default: the scores in ``facts``) or of every score in ``facts`` (``collection``).

    Raises:
        InvalidValue: an unknown scope.
    """
    if scope not in SCOPES:
        raise InvalidValue(f"rating_scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    mapping = settings.rating
    if mapping.mode == "thresholds":
        fixed = mapping.scale()
        return lambda _image: fixed
    if scope == "collection":
        whole = mapping.scale([f.score for f in facts.values()]) if facts else None
        return lambda _image: whole  # type: ignore[return-value]
    local: dict[Path, list[float]] = {}
    for image, fact in facts.items():
        local.setdefault(Path(image).parent, []).append(fact.score)
    cache: dict[Path, StarScale] = {}

    def for_image(image: str) -> StarScale:
        folder = Path(image).parent
        if folder not in cache:
            scores = (folder_scores(folder) if folder_scores else None) or local.get(folder, [])
            cache[folder] = mapping.scale(scores)
        return cache[folder]

    return for_image


def write_many(
    facts: Mapping[str, ScoreFacts],
    settings: XmpSettings,
    *,
    scope: str = "folder",
    folder_scores: Callable[[Path], list[float]] | None = None,
    progress: Callable[[int], Any] | None = None,
) -> Iterator[XmpOutcome]:
    """``write_xmp`` for every image in ``facts`` (path -> ``ScoreFacts``), one ``XmpOutcome`` each, in order.
    An ``XmpError`` becomes that image's ``failed`` outcome; the run goes on."""
    scale_of = star_scales(settings, facts, scope=scope, folder_scores=folder_scores)
    for image, fact in facts.items():
        try:
            done = write_xmp(image, fact, settings, scale=scale_of(image))
            yield XmpOutcome(
                image,
                done.status,
                done.path,
                done.style,
                done.rating,
                done.suggested_rating,
                done.kept_user_rating,
                done.label,
                done.retries,
                rating_from=done.rating_from,
            )
        except XmpError as exc:
            yield XmpOutcome(image, "failed", reason=exc.reason, error_kind=exc.kind)
        if progress:
            progress(1)


def library_facts(
    library: Any, paths: Iterable[str | os.PathLike], *, stack_rest: bool = False
) -> tuple[dict[str, ScoreFacts], list[XmpOutcome]]:
    """What the library knows about each image, as ``ScoreFacts``: its latest current evaluation with its
    critiques, and the user's latest decision (stars, pick, reject); with ``stack_rest``, whether it is one
    of the rest of a stack (not its best: ``Library.stacks``). Images the library does not hold, or holds
    without a score, come back as ``passed_over`` outcomes (with the reason) instead."""
    facts: dict[str, ScoreFacts] = {}
    passed: list[XmpOutcome] = []
    rest = {m.path for s in library.stacks() for m in s.rest} if stack_rest else set()
    for path in paths:
        try:
            record = library.show(path)
        except LibraryError:
            passed.append(XmpOutcome(os.fsdecode(path), "passed_over", reason="not in the library"))
            continue
        current = next((e for e in record.evaluations if e.current), None)
        if current is None:
            passed.append(XmpOutcome(record.path, "passed_over", reason="no score in the library"))
            continue
        facts[record.path] = ScoreFacts(
            score=current.score,
            std=current.std,
            category=current.category or record.category,
            model=current.model,
            fingerprint=current.fingerprint,
            adapter=current.adapter,
            engine_version=current.engine_version,
            scored_at=current.created_at,
            critiques=dict(current.critiques),
            decision=UserDecision.from_rating(record.ratings[0]) if record.ratings else None,
            stack_rest=record.path in rest,
        )
    return facts, passed


def library_folder_scores(library: Any) -> Callable[[Path], list[float]]:
    """``folder -> scores`` of the images directly in that folder (their latest current evaluation), read
    from the library: what percentile ratings per folder are computed from."""

    def scores(folder: Path) -> list[float]:
        latest: dict[str, tuple[int, float]] = {}
        for record in library.top(folder=folder, limit=FOLDER_LIMIT):
            if Path(record.path).parent != folder:
                continue
            seen = latest.get(record.path)
            if seen is None or record.evaluation_id > seen[0]:
                latest[record.path] = (record.evaluation_id, record.score)
        return [score for _, score in latest.values()]

    return scores


__all__ = [
    "SCOPES",
    "XmpCounts",
    "XmpOutcome",
    "library_facts",
    "library_folder_scores",
    "star_scales",
    "write_many",
]


def write_after_scoring(
    library: Any, results: Iterable[Any], config: Any, on_failure: Callable[[str], Any] | None = None
) -> XmpCounts:
    """XMP for scoring ``results`` the library door has just recorded (``score --xmp``, ``watch --xmp``): the
    facts come from ``library`` (or, without one, from the results themselves). ``config``: the resolved
    ``Config`` (its XMP settings and rating scope). Each failure is that file's error, recorded in the
    library's errors with its kind and passed to ``on_failure`` as one line; it never stops the run.

    Raises:
        InvalidValue: the XMP settings do not fit together (checked before any file is written).
    """
    settings = config.xmp_settings()
    scored = [r for r in results if r.score is not None]
    counts = XmpCounts()
    facts: dict[str, ScoreFacts] = {}
    folder_scores: Callable[[Path], list[float]] | None = None
    if library is not None:
        facts, _passed = library_facts(library, [r.path for r in scored], stack_rest=settings.stack_rest is not None)
        folder_scores = library_folder_scores(library)
    else:
        for result in scored:
            try:
                facts[result.path] = ScoreFacts.from_result(result)
            except InvalidValue:
                continue
    for outcome in write_many(facts, settings, scope=config.xmp["rating_scope"], folder_scores=folder_scores):
        counts.add(outcome)
        if outcome.status == "failed":
            message = f"{display_path(outcome.image)}: XMP not written: {outcome.reason}"
            if library is not None:
                library.record_error(outcome.image, outcome.error_kind or "xmp", message)
            if on_failure is not None:
                on_failure(message)
    return counts
