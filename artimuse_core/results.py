"""What the engine returns: plain dataclasses that serialise to JSON for the CLI, the library and nodes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Provenance:
    """Which model, weights and prompt produced a result, so a score can always be traced and compared."""

    model: str
    repo_id: str | None
    fingerprint: str
    layout: str
    device: str
    dtype: str
    engine_version: str
    prompt_hash: str
    adapter: str | None = None


@dataclass
class ScoreResult:
    """One image's aesthetic score. ``error`` is set (and the numbers are None) when the image failed."""

    path: str
    score: float | None = None
    std: float | None = None
    probs: list[float] | None = None
    width: int | None = None
    height: int | None = None
    error: str | None = None
    error_kind: str | None = None
    provenance: Provenance | None = field(default=None, repr=False)
    category: str | None = None  # set when the model was asked to predict one
    category_probability: float | None = None
    decoder: str | None = None  # what read the file: pillow, pillow-heif, pillow-jxl, raw-preview, memory
    warnings: list[str] = field(default_factory=list)  # one-line notes a person should see (16-bit clipping)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self, with_probs: bool = False) -> dict:
        data = asdict(self)
        if data["category"] is None:
            data.pop("category")
            data.pop("category_probability")
        provenance = data.pop("provenance") or {}
        if not with_probs:
            data.pop("probs")
        data["model"] = provenance.get("model")
        data["provenance"] = provenance or None
        return data


@dataclass
class CritiqueResult:
    path: str
    attribute: str
    text: str | None = None
    token_ids: list[int] | None = field(default=None, repr=False)
    error: str | None = None
    error_kind: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("token_ids")
        return data


def utc_timestamp() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")
