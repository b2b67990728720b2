"""What the engine and the library door return: one ``ScoreResult`` per image, which is also the row
contract (``to_dict`` writes the JSON every front end prints; ``from_row`` reads it, or a library record,
back), like llm's ``Response.to_dict`` / ``from_row``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, get_args

from . import errors
from .categories import CategorySource

#: What happened to one input. ``scored``: the model scored it now; ``cached``: the library already held
#: a score of this exact content by this model; ``failed``: it could not be scored (``error`` says why);
#: ``passed_over``: deliberately not scored (``error`` says why); ``gone``: the file vanished first.
Status = Literal["scored", "cached", "failed", "passed_over", "gone"]
STATUSES: tuple[Status, ...] = get_args(Status)


def status_for(error_kind: str | None) -> Status:
    """The status of a result that carries an error of this ``kind`` (``ImageError.kind``)."""
    if error_kind == errors.FileGone.kind:
        return "gone"
    if error_kind in errors.PASSED_OVER_KINDS:
        return "passed_over"
    return "failed"


@dataclass(frozen=True)
class Provenance:
    """Which model, weights and prompt produced a result, so a score can always be traced and compared.

    ``fingerprint`` identifies the weights (``checkpoints.fingerprint``), ``prompt_hash`` the exact score
    prompt (first 16 hex digits of its SHA-256). ``repo_id`` and ``layout`` are not stored in the library,
    so results read back from it have them as None.
    """

    model: str
    repo_id: str | None
    fingerprint: str
    layout: str | None
    device: str
    dtype: str
    engine_version: str
    prompt_hash: str
    adapter: str | None = None
    family: str | None = None  # the model family (``families.py``); None when read back from the library

    @classmethod
    def from_flat(cls, row: Mapping[str, Any]) -> Provenance:
        """The provenance a flat row holds (a library record, a batch Parquet row): model, fingerprint,
        device, dtype, engine_version, prompt_hash, adapter; ``repo_id`` and ``layout`` are not kept there."""
        return cls(
            model=row.get("model") or "",
            repo_id=None,
            fingerprint=row["fingerprint"],
            layout=None,
            device=row.get("device") or "",
            dtype=row.get("dtype") or "",
            engine_version=row.get("engine_version") or "",
            prompt_hash=row.get("prompt_hash") or "",
            adapter=row.get("adapter"),
        )


@dataclass
class ScoreResult:
    """One image's aesthetic score, and what happened to it.

    Attributes:
        path: the input as given (a file path, or ``<memory>`` for an in-memory image).
        score: the expected score, sum of i * p_i over i = 0..100 (0-100, higher is better), of the model
            family's primary dimension (``iaa``, aesthetics); None unless ok.
        std: the spread of the distribution, in score points.
        distribution: 101 probabilities, ``distribution[i]`` = P(score = i) (docs/inference.md "Token As Score").
        width, height: the image's size in pixels, before the 448x448 resize.
        category, category_source, category_probability: one of the five ArtiMuse-10K categories, where it
            came from (option, config, library, user or predicted) and, when predicted, its probability.
        critiques: attribute -> critique text, when critiques were asked for.
        scores, stds: dimension (``iaa``, ``iqa``, ``ista``...) -> score (0-100) and spread (score points),
            every dimension the family scores, the primary one included (``score == scores[family.primary]``).
        distributions: dimension -> its 101 probabilities (printed only with ``to_dict(distribution=True)``).
        status: one of ``STATUSES``; derived from ``error_kind`` when not given.
        evaluation_id: the library row holding this score, when it was recorded or read from the library.
        error, error_kind: why it failed or was passed over (one line), and a machine-readable tag.
    """

    path: str
    score: float | None = None
    std: float | None = None
    distribution: list[float] | None = None
    width: int | None = None
    height: int | None = None
    error: str | None = None
    error_kind: str | None = None
    provenance: Provenance | None = field(default=None, repr=False)
    category: str | None = None
    category_probability: float | None = None
    category_source: CategorySource | None = None
    critiques: dict[str, str] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    stds: dict[str, float] = field(default_factory=dict)
    distributions: dict[str, list[float]] = field(default_factory=dict, repr=False)
    decoder: str | None = None  # what read the file: pillow, pillow-heif, pillow-jxl, raw-preview, memory
    warnings: list[str] = field(default_factory=list)  # one-line notes a person should see (16-bit clipping)
    status: Status | Literal[""] = ""  # "": derived from ``error_kind``
    evaluation_id: int | None = None

    def __post_init__(self) -> None:
        if not self.status:
            self.status = status_for(self.error_kind) if self.error else "scored"
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {self.status!r}")

    @property
    def ok(self) -> bool:
        """True when the result holds a score (scored now, or cached)."""
        return self.status in ("scored", "cached")

    @property
    def model(self) -> str | None:
        """The model's name (from the provenance)."""
        return self.provenance.model if self.provenance else None

    def to_dict(self, distribution: bool = False) -> dict[str, Any]:
        """The JSON row every front end prints: the same keys for every status (None when unknown);
        ``distribution`` (101 floats) only when asked for."""
        hidden = ("provenance", "distribution", "distributions")
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in hidden}
        data["critiques"] = dict(self.critiques)
        data["scores"], data["stds"] = dict(self.scores), dict(self.stds)
        data["model"] = self.model
        data["provenance"] = asdict(self.provenance) if self.provenance else None
        if distribution:
            data["distribution"] = self.distribution
            data["distributions"] = {k: list(v) for k, v in self.distributions.items()}
        return data

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | Any, **changes: Any) -> ScoreResult:
        """A result from a ``to_dict`` row, or from a library evaluation record (or its ``to_dict``).

        ``changes`` override fields (``status="cached"``). Unknown keys are ignored.
        """
        if not isinstance(row, Mapping):
            row = row.to_dict()
        names = {f.name for f in fields(cls)}
        data = {k: v for k, v in row.items() if k in names and k != "provenance"}
        provenance = row.get("provenance")
        if isinstance(provenance, Mapping):
            data["provenance"] = Provenance(**{k: provenance.get(k) for k in _PROVENANCE})  # type: ignore[arg-type]
        elif isinstance(provenance, Provenance):
            data["provenance"] = provenance
        elif row.get("fingerprint"):  # a library record: provenance stored flat
            data["provenance"] = Provenance.from_flat(row)
        data["critiques"] = dict(data.get("critiques") or {})
        for key in ("scores", "stds", "distributions"):
            data[key] = dict(data.get(key) or {})
        data.update(changes)
        return cls(**data)


_PROVENANCE = [f.name for f in fields(Provenance)]


class _GeneratedText:
    """What critiques and answers share: ``ok``, and a JSON row without the token ids."""

    error: str | None

    @property
    def ok(self) -> bool:
        """True when the text was written."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """The JSON row: every field but the token ids."""
        data: dict[str, Any] = asdict(self)  # type: ignore[call-overload]
        data.pop("token_ids")
        return data


@dataclass
class CritiqueResult(_GeneratedText):
    """One (image, attribute) critique: greedy-decoded text, or the error that stopped it."""

    path: str
    attribute: str
    text: str | None = None
    token_ids: list[int] | None = field(default=None, repr=False)
    error: str | None = None
    error_kind: str | None = None


@dataclass
class AskResult(_GeneratedText):
    """One free-form answer about one image (``Engine.ask``): greedy-decoded text, or the error that stopped it."""

    path: str
    question: str
    text: str | None = None
    token_ids: list[int] | None = field(default=None, repr=False)
    error: str | None = None
    error_kind: str | None = None


def utc_timestamp() -> str:
    """Now, in UTC, as an ISO 8601 string to the second."""
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


__all__ = [
    "AskResult",
    "CritiqueResult",
    "Provenance",
    "STATUSES",
    "ScoreResult",
    "Status",
    "status_for",
    "utc_timestamp",
]
