"""An engine built only when a file needs it: a folder whose every file is already in the library never loads
a model (for a real checkpoint, a 16 GB load for nothing).

The library door looks files up by the weights' identity (``WeightsIdentity``: the fingerprint of
``checkpoints.fingerprint``, the adapter's recorded name, the model family), which ``weights_identity`` reads
from the checkpoint's files alone (config, safetensors headers, a few sampled blocks: milliseconds, no torch),
exactly as loading computes it. ``LazyEngine`` is a ``scoring.ScoringEngine``; anything other than ``spec``,
``family`` and ``identity()`` builds the engine, once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from .errors import CheckpointError
from .families import Family, match_family
from .prompts import ATTRIBUTES
from .results import AskResult, CritiqueResult, Provenance, ScoreResult
from .scoring import CategoryWish, Progress, ScoringEngine, Source, StepHook
from .spec import EngineSpec


@dataclass(frozen=True)
class WeightsIdentity:
    """What the library's cache lookup needs of the weights: ``fingerprint`` (16 hex digits), ``adapter``
    (its recorded name, None for the base model) and the model ``family`` (dimensions it scores)."""

    fingerprint: str
    adapter: str | None
    family: Family | None = None


def weights_identity(spec: EngineSpec) -> WeightsIdentity | None:
    """The identity the engine for ``spec`` will have, read from the checkpoint on disk without loading it;
    None when it cannot be known before loading (the checkpoint is not downloaded yet, a damaged file: loading
    then says why)."""
    from .adapters import adapter_dir, read_metadata
    from .checkpoints import fingerprint, resolve_checkpoint

    try:
        info = resolve_checkpoint(spec.model, local_only=True)
        found = fingerprint(info)
        adapter = None
        if spec.adapter:
            folder = adapter_dir(spec.adapter)
            adapter = str(read_metadata(folder).get("name", folder.name))
    except (CheckpointError, OSError, ValueError):
        return None
    return WeightsIdentity(found, adapter, match_family([info.name, info.repo_id], info.config, spec.family))


class LazyEngine:
    """The engine ``build()`` makes, made on first use (a ``ScoringEngine``).

    Args:
        build: makes the engine (loads the model).
        identity: the engine's ``WeightsIdentity`` without building it (None, or it answering None: the
            engine is built to learn it).
        spec: the settings it is built from (read by ``scoring.spec_value`` without building).
    """

    def __init__(
        self,
        build: Callable[[], ScoringEngine],
        identity: Callable[[], WeightsIdentity | None] | None = None,
        spec: EngineSpec | None = None,
    ):
        self._build, self._identity, self.spec = build, identity, spec
        self._engine: ScoringEngine | None = None
        self._known: WeightsIdentity | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        """Whether the model has been loaded."""
        return self._engine is not None

    def engine(self) -> ScoringEngine:
        """The engine, built now when it was not."""
        with self._lock:
            if self._engine is None:
                self._engine = self._build()
            return self._engine

    def identity(self) -> WeightsIdentity:
        """The weights' identity: read from the files when possible, else from the built engine."""
        if self._known is None and self._engine is None and self._identity is not None:
            self._known = self._identity()
        if self._known is None:
            self._known = _identity_from(self.engine())
        return self._known

    @property
    def family(self) -> Family:
        """The model family (what ``--dimension`` is checked against), without loading when possible."""
        known = None if self._engine is not None else self.identity().family
        return known if known is not None else self.engine().family

    @property
    def provenance(self) -> Provenance:
        return self.engine().provenance

    @property
    def batch_size(self) -> int:
        return self.engine().batch_size

    @property
    def provenance_if_built(self) -> Provenance | None:
        """The engine's provenance once built, else None (results of files that never reached the model)."""
        return self._engine.provenance if self._engine is not None else None

    def evaluate(
        self,
        sources: Iterable[Source],
        *,
        predict_category: CategoryWish = False,
        critique: Sequence[str] = (),
        max_new_tokens: int | None = None,
        progress: Progress | None = None,
        on_step: StepHook | None = None,
    ) -> Iterator[ScoreResult]:
        return self.engine().evaluate(
            sources,
            predict_category=predict_category,
            critique=critique,
            max_new_tokens=max_new_tokens,
            progress=progress,
            on_step=on_step,
        )

    def score(
        self, sources: Iterable[Source], progress: Progress | None = None, predict_category: CategoryWish = False
    ) -> list[ScoreResult]:
        return self.engine().score(sources, progress, predict_category)

    def iter_scores(
        self, sources: Iterable[Source], progress: Progress | None = None, predict_category: CategoryWish = False
    ) -> Iterator[ScoreResult]:
        return self.engine().iter_scores(sources, progress, predict_category)

    def critique(
        self,
        sources: Iterable[Source],
        attributes: Sequence[str] = ATTRIBUTES,
        max_new_tokens: int | None = None,
        progress: Progress | None = None,
        on_step: StepHook | None = None,
    ) -> list[CritiqueResult]:
        return self.engine().critique(sources, attributes, max_new_tokens, progress, on_step)

    def ask(
        self,
        sources: Iterable[Source],
        question: str,
        max_new_tokens: int | None = None,
        progress: Progress | None = None,
        on_step: StepHook | None = None,
    ) -> list[AskResult]:
        return self.engine().ask(sources, question, max_new_tokens, progress, on_step)


def _identity_from(engine: ScoringEngine) -> WeightsIdentity:
    return WeightsIdentity(engine.provenance.fingerprint, engine.provenance.adapter, engine.family)


def identity_of(engine: ScoringEngine) -> WeightsIdentity:
    """The ``WeightsIdentity`` of any engine: a ``LazyEngine``'s own (no load when it can be read), else from
    its provenance and family."""
    return engine.identity() if isinstance(engine, LazyEngine) else _identity_from(engine)


def known_provenance(engine: ScoringEngine | None) -> Provenance | None:
    """An engine's provenance when it is there without loading a model (None for an unbuilt ``LazyEngine``)."""
    if engine is None:
        return None
    return engine.provenance_if_built if isinstance(engine, LazyEngine) else engine.provenance


__all__ = ["LazyEngine", "WeightsIdentity", "identity_of", "known_provenance", "weights_identity"]
