"""A stand-in engine for testing front ends (CLI, watcher, ComfyUI, your own): ``FakeEngine`` has the
``Engine``'s public interface and returns canned, seeded results in milliseconds, with no model and no torch.

It decodes images with the real pipeline (``images.decode_many``), so unreadable, corrupt or oversized
files fail exactly as with a real model; each decodable image gets a score derived from its pixels (the
same pixels always score the same, like the real model), a distribution whose mean is that score, a
category and critiques made of seeded words. Inject it where a front end builds its engine:
``Watcher(..., engine_factory=lambda: FakeEngine())``, or the CLI's ``AppContext(engine_factory=FakeEngine)``.

    >>> engine = FakeEngine()
    >>> engine.enqueue(91.5)                  # the next image scores 91.5 (like llm's MockModel.enqueue)
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .categories import CATEGORY_IDS
from .errors import ImageError
from .families import Family, match_family
from .images import DecodedImage, ImageOptions, decode_many
from .results import AskResult, CritiqueResult, Provenance, ScoreResult
from .scoring import BaseEngine, CategoryWish, Progress, Source, StepHook
from .spec import EngineSpec

if TYPE_CHECKING:
    from .lazy_engine import WeightsIdentity

#: The provenance of every fake result (its fingerprint never matches a real checkpoint's).
PROVENANCE = Provenance(
    model="fake",
    repo_id=None,
    fingerprint="fake0fake0fake00",
    layout="chat",
    device="cpu",
    dtype="float32",
    engine_version="0",
    prompt_hash="fakeprompt000000",
)
_WORDS = (
    "balanced",
    "composition",
    "light",
    "lines",
    "leading",
    "texture",
    "colour",
    "harmony",
    "contrast",
    "subject",
    "framing",
    "mood",
    "quiet",
    "vivid",
    "shadow",
    "detail",
    "dummy",
    "horizon",
    "depth",
    "tone",
)


class FakeEngine(BaseEngine):
    """Canned, seeded scores and critiques with ``Engine``'s public interface (``evaluate``, and the wrappers
    ``scoring.BaseEngine`` defines over it: ``score``, ``iter_scores``, ``critique``, ``ask``; ``provenance``,
    ``batch_size``, ``spec``, ``family``, ``image_options``).

    Args:
        spec: the ``EngineSpec`` (or model name) it pretends to run, with setting ``overrides`` on top
            (``FakeEngine(batch_size=2)``); image options and batch size come from it.
        seed: changes every score and text.
        before_score: called with each source just before it is "scored" (tests use it to look at what a
            front end has already printed).
        delay_s: seconds each image takes, to make a run slow enough to interrupt.
    """

    def __init__(
        self,
        spec: EngineSpec | str | None = None,
        *,
        seed: int = 0,
        before_score: Callable[[str], None] | None = None,
        delay_s: float = 0.0,
        **overrides: Any,
    ):
        self.spec: EngineSpec = EngineSpec.coerce(spec, **overrides)
        self.delay_s = delay_s
        self.seed = seed
        self.batch_size = self.spec.batch_size
        self.image_options = ImageOptions.of(self.spec)
        self.family: Family = match_family([self.spec.model], {}, self.spec.family)  # "UniPercept": 3 dimensions
        self.provenance = replace(PROVENANCE, adapter=self.spec.adapter, family=self.family.name)
        self.before_score = before_score
        self.calls: list[tuple[str, list[str]]] = []  # (method, sources) of every call, for assertions
        self._queued: list[float] = []

    @staticmethod
    def identity(spec: EngineSpec | str | None = None) -> WeightsIdentity:
        """The ``WeightsIdentity`` a ``FakeEngine(spec)`` has, without making one (as ``lazy_engine.
        weights_identity`` reads a real checkpoint's): what a front end's lazy engine looks files up by."""
        from .lazy_engine import WeightsIdentity

        chosen = EngineSpec.coerce(spec)
        return WeightsIdentity(PROVENANCE.fingerprint, chosen.adapter, match_family([chosen.model], {}, chosen.family))

    def enqueue(self, *scores: float) -> None:
        """The next images score exactly these (0-100), in order; then seeded scores resume."""
        self._queued.extend(scores)

    # -------------------------------------------------------------------------------------- the one call
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
        """Score, optional category and optional critiques per source from one decode each, in input order
        (the ``Engine.evaluate`` contract: ``progress(1)`` per image; ``on_step(step, max_new_tokens)`` per
        generated word of a critique, an exception from it stops the call; a bad file yields its error
        result in its place)."""
        attributes = self.resolve_attributes(critique)
        limit = self.token_limit(max_new_tokens)
        for item in self._decoded("evaluate", sources):
            if isinstance(item, ImageError):
                result = ScoreResult(path=item.path, error=str(item), error_kind=item.kind, provenance=self.provenance)
            else:
                if self.before_score:
                    self.before_score(item.source)
                if self.delay_s:
                    time.sleep(self.delay_s)
                wanted = predict_category(item.source) if callable(predict_category) else predict_category
                result = self._result(item, bool(wanted))
                for attribute in attributes:
                    result.critiques[attribute] = self._text(item, attribute, limit, on_step)[0]
            if progress:
                progress(1)
            yield result

    # ------------------------------------------------------------------------------------ what the base wraps
    def critique_each(
        self, sources: Iterable[Source], attributes: list[str], max_new_tokens: int, on_step: StepHook | None
    ) -> Iterator[list[CritiqueResult]]:
        """One seeded text per (source, attribute), like ``Engine.critique``."""
        for item in self._decoded("critique", sources):
            if isinstance(item, ImageError):
                yield [CritiqueResult(item.path, a, error=str(item), error_kind=item.kind) for a in attributes]
                continue
            written = [self._text(item, a, max_new_tokens, on_step) for a in attributes]
            yield [CritiqueResult(item.source, a, text=t, token_ids=ids) for a, (t, ids) in zip(attributes, written)]

    def answer_each(
        self, sources: Iterable[Source], question: str, max_new_tokens: int, on_step: StepHook | None
    ) -> Iterator[AskResult]:
        """One seeded answer per source, like ``Engine.ask``."""
        for item in self._decoded("ask", sources):
            if isinstance(item, ImageError):
                yield AskResult(item.path, question, error=str(item), error_kind=item.kind)
            else:
                text, ids = self._text(item, question, max_new_tokens, on_step)
                yield AskResult(item.source, question, text=text, token_ids=ids)

    # ------------------------------------------------------------------------------------------ internals
    def _decoded(self, method: str, sources: Iterable[Source]) -> Iterator[DecodedImage | ImageError]:
        """The real decoding pipeline over ``sources`` (one path given bare is one source), recorded in
        ``calls``."""
        chosen = [sources] if isinstance(sources, (str, bytes, os.PathLike)) else list(sources)
        self.calls.append((method, [str(s) for s in chosen]))
        return decode_many(chosen, self.image_options, self.spec.decode_workers)

    def _result(self, decoded: DecodedImage, predict_category: bool) -> ScoreResult:
        rng = random.Random(f"{self.seed}:{hashlib.sha256(decoded.pixel_values.tobytes()).hexdigest()}")
        centre = self._queued.pop(0) if self._queued else rng.uniform(20, 80)
        spread = rng.uniform(3, 12)
        scores: dict[str, float] = {}
        stds: dict[str, float] = {}
        distributions: dict[str, list[float]] = {}
        for index, key in enumerate(self.family.dimension_keys):  # further dimensions: near the primary one
            moved = centre if index == 0 else min(95.0, max(5.0, centre + rng.uniform(-15, 15)))
            distributions[key], scores[key], stds[key] = _gaussian(moved, spread)
        primary = self.family.primary
        distribution, score, std = distributions[primary], scores[primary], stds[primary]
        result = ScoreResult(
            path=decoded.source,
            score=score,
            std=std,
            distribution=distribution,
            scores=scores,
            stds=stds,
            distributions=distributions,
            width=decoded.width,
            height=decoded.height,
            provenance=self.provenance,
            decoder=decoded.decoder,
            warnings=list(decoded.warnings),
        )
        if predict_category:
            result.category = CATEGORY_IDS[rng.randrange(len(CATEGORY_IDS))]
            result.category_probability = rng.uniform(0.4, 0.95)
        return result

    def _text(self, decoded: DecodedImage, prompt: str, limit: int, on_step: StepHook | None) -> tuple[str, list[int]]:
        """A seeded text of at most 12 words (at most ``limit``), "generated" one step at a time, with one
        "token id" per word."""
        rng = random.Random(f"{self.seed}:{prompt}:{hashlib.sha256(decoded.pixel_values.tobytes()).hexdigest()}")
        words = [rng.choice(_WORDS) for _ in range(min(limit, 12))]
        if on_step is not None:
            for step in range(1, len(words) + 1):
                on_step(step, limit)
        return " ".join(words).capitalize() + ".", list(range(len(words)))


__all__ = ["FakeEngine", "PROVENANCE"]


def _gaussian(centre: float, spread: float) -> tuple[list[float], float, float]:
    """A 101-way distribution around ``centre`` (score points), its expectation and standard deviation."""
    weights = [math.exp(-0.5 * ((i - centre) / spread) ** 2) for i in range(101)]
    total = sum(weights)
    distribution = [w / total for w in weights]
    score = sum(i * p for i, p in enumerate(distribution))
    return distribution, score, math.sqrt(sum((i - score) ** 2 * p for i, p in enumerate(distribution)))
