"""The engine: one loaded model; each image decoded once, its vision tower run once, and every answer it
needs (score, category, critiques) read from one shared prompt prefix.

Speed choices, against the reference's one prompt per forward with full-vocabulary logits everywhere:
images decode in a thread pool while the model runs; a batch is one forward pass per prompt kind; the
system + image prefix that every prompt shares runs once per image (``forward.PromptSet``); only the last
position meets only the ``lm_head`` rows it needs; critiques of all attributes decode as one batch, finished
rows leaving it; torch threads and decode workers split the cores (``resources.plan_threads``); the model
loads once per process (``engine_cache.get_engine``). The model math itself lives in ``forward.py``; the
batching in ``batching.py`` and ``asking.py``, which read the engine's frozen ``RunState``, not the engine.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

import numpy as np
import torch

from . import __version__, asking, batching, forward, prompts
from .categories import CATEGORY_IDS
from .devices import OomBackoff
from .errors import ImageError
from .families import Family, match_family
from .images import ImageOptions
from .loading import LoadedModel
from .resources import MemoryEstimate, ThreadPlan, plan_threads
from .results import AskResult, CritiqueResult, Provenance, ScoreResult
from .run_state import Plan, RunState, build_processor, score_key
from .scoring import BaseEngine, CategoryWish, Progress, Source, StepHook
from .spec import EngineSpec
from .weights import Weights, load_weights

log = logging.getLogger("artimuse")


class Engine(BaseEngine):
    """Scores and critiques images with one checkpoint of a model family (ArtiMuse, UniPercept:
    ``families.py``). Build it with ``create_engine``; ``score``, ``iter_scores``, ``critique`` and ``ask``
    come from ``scoring.BaseEngine``.

    Public attributes: ``spec`` (the settings it was built with), ``family`` (the ``Family``: dimensions,
    abilities), ``device`` (where the model is now), ``run_state`` (the frozen ``RunState`` model work reads:
    model, processor, placement, plan), ``score_prompt_ids`` (the primary dimension's score prompt, `(L,)`
    ids; 510 tokens for ArtiMuse), ``dimension_prompt_ids`` (dimension -> its score prompt ids),
    ``system_message``, ``score_token_ids`` (`(101,)` ids of ``aa``..``ey``), ``category_token_ids`` (`(5,)`
    ids of the option letters), ``prompts`` (the shared-prefix ``PromptSet``), ``batch_size`` (the configured
    images per forward; out-of-memory back-off retries smaller but never lowers it; setting it gives the
    engine a new run state), ``backoff`` (its record), ``threads`` (the ``ThreadPlan``), ``memory`` (the
    load's ``MemoryEstimate``, when checked), ``notes`` (one-line remarks on choices made at load, e.g. a dtype
    fallback), ``provenance``.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        spec: EngineSpec = EngineSpec(),
        *,
        memory: MemoryEstimate | None = None,
        notes: Sequence[str] = (),
        forward_lock: threading.Lock | None = None,
    ):
        """``forward_lock``: one forward at a time on these weights (``engine_cache`` shares one between
        engines over the same weights: the watcher and ComfyUI share an engine)."""
        self.loaded = loaded
        self.spec: EngineSpec = spec
        self.memory = memory
        self.notes = list(notes)
        info, placement = loaded.info, loaded.placement
        self.family: Family = match_family([info.name, info.repo_id], info.config, spec.family)
        processor = build_processor(loaded, self.family, ImageOptions.of(spec))
        self.run_state = RunState(
            model=loaded.model,
            processor=processor,
            placement=placement,
            plan=Plan(max(1, spec.batch_size), plan_threads(placement.device.type, spec.decode_workers), OomBackoff()),
            lock=forward_lock or threading.Lock(),
        )
        self.provenance = Provenance(
            model=info.name,
            repo_id=info.repo_id,
            fingerprint=loaded.fingerprint,
            layout=info.layout,
            device=str(placement.device),
            dtype=str(placement.dtype).removeprefix("torch.")
            + ("" if placement.quantize == "none" else f"+{placement.quantize}"),
            engine_version=__version__,
            prompt_hash=prompts.sha256_text("\x00".join(processor.score_texts.values()))[:16],
            family=self.family.name,
        )

    # ------------------------------------------------------------------------------------ the run state's parts
    @property
    def device(self) -> torch.device:
        """Where the model is now (a host such as ComfyUI may move it between GPU and CPU)."""
        return self.run_state.device

    @property
    def batch_size(self) -> int:
        return self.run_state.plan.batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        self.run_state = self.run_state.with_batch_size(value)

    @property
    def backoff(self) -> OomBackoff:
        return self.run_state.plan.backoff

    @property
    def threads(self) -> ThreadPlan:
        return self.run_state.plan.threads

    @property
    def forward_lock(self) -> threading.Lock:
        return self.run_state.lock

    @property
    def image_options(self) -> ImageOptions:
        return self.run_state.processor.image_options

    @property
    def prompts(self) -> forward.PromptSet:
        return self.run_state.processor.prompts

    @property
    def system_message(self) -> str:
        return self.run_state.processor.system_message

    @property
    def num_image_tokens(self) -> int:
        return self.run_state.processor.num_image_tokens

    def encode(self, text: str) -> list[int]:
        """The ids of ``text`` in this model's tokenizer, without special tokens added."""
        return self.run_state.processor.encode(text)

    @property
    def score_prompt_ids(self) -> torch.Tensor:
        return self.run_state.processor.score_prompt_ids

    @property
    def dimension_prompt_ids(self) -> dict[str, torch.Tensor]:
        return {d: self.prompts.full(score_key(d)) for d in self.family.dimension_keys}

    @property
    def score_token_ids(self) -> torch.Tensor:
        return self.run_state.processor.score_token_ids

    @property
    def category_token_ids(self) -> torch.Tensor:
        return self.run_state.processor.category_token_ids

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
        """Everything one image needs, from one decode and one vision-tower pass per image.

        Args:
            sources: file paths or in-memory PIL images, in any number (streamed; decoded in a thread pool).
            predict_category: also ask which of the five ArtiMuse-10K categories the image belongs to:
                True, or a test called with each source's name (str) -> bool.
            critique: attribute names (``prompts.ATTRIBUTES``, or unambiguous prefixes) to write critiques
                for, greedy and token-identical to the reference (docs/inference.md "Critique").
            max_new_tokens: the most tokens per critique (default 512).
            progress: called with 1 after each image's result.
            on_step: ``on_step(step, max_new_tokens)`` after every generated token step of a critique batch;
                an exception it raises stops the work and propagates (interrupts, Ctrl-C).

        Yields:
            One ``ScoreResult`` per source, in input order: ``score`` (0-100, the primary dimension), ``std``
            (score points), ``distribution`` (101 values, ``distribution[i]`` = P(score = i)), ``scores``/
            ``stds``/``distributions`` per dimension (every one the family scores, from one shared prefix),
            ``width``/``height`` (pixels), ``category``/``category_probability`` when asked, ``critiques``
            (attribute -> text) when asked.
            A bad image yields its error result in its place; the others go on.

        Raises:
            InvalidValue: an unknown or ambiguous attribute, or critiques from a family without them.
        """
        attributes = self.resolve_attributes(critique)
        for item, answers in batching.stream(
            self.run_state,
            sources,
            want_score=True,
            predict_category=predict_category,
            attributes=attributes,
            max_new_tokens=self.token_limit(max_new_tokens),
            on_step=on_step,
        ):
            if isinstance(item, ImageError):
                result = ScoreResult(path=item.path, error=str(item), error_kind=item.kind, provenance=self.provenance)
            else:
                assert answers is not None  # every decoded image has its answers
                result = ScoreResult(
                    path=item.source,
                    score=answers.score,
                    std=answers.std,
                    distribution=answers.distribution,
                    scores=answers.scores,
                    stds=answers.stds,
                    distributions=answers.distributions,
                    width=item.width,
                    height=item.height,
                    provenance=self.provenance,
                    category=answers.category,
                    category_probability=answers.category_probability,
                    decoder=item.decoder,
                    warnings=list(item.warnings),
                )
                if attributes:
                    result.critiques = {a: self.decode_response(answers.critiques[a]) for a in attributes}
            if progress:
                progress(1)
            yield result

    # ------------------------------------------------------------------------------------ what the base wraps
    def critique_each(
        self, sources: Iterable[Source], attributes: list[str], max_new_tokens: int, on_step: StepHook | None
    ) -> Iterator[list[CritiqueResult]]:
        """The attributes of an image share its system + image prefix and decode as one batch; each text is
        token-identical to running its prompt alone (docs/inference.md "Critique"), with its token ids."""
        for item, answers in batching.stream(
            self.run_state,
            sources,
            want_score=False,
            predict_category=False,
            attributes=attributes,
            max_new_tokens=max_new_tokens,
            on_step=on_step,
        ):
            if isinstance(item, ImageError):
                yield [CritiqueResult(item.path, a, error=str(item), error_kind=item.kind) for a in attributes]
            else:
                assert answers is not None  # every decoded image has its answers
                texts = answers.critiques
                yield [
                    CritiqueResult(item.source, a, text=self.decode_response(texts[a]), token_ids=texts[a])
                    for a in attributes
                ]

    def answer_each(
        self, sources: Iterable[Source], question: str, max_new_tokens: int, on_step: StepHook | None
    ) -> Iterator[AskResult]:
        """Token-identical to InternVL's ``chat()`` (``asking.py``)."""
        stream = asking.ask_stream(self.run_state, sources, question, max_new_tokens=max_new_tokens, on_step=on_step)
        for item, ids in stream:
            if isinstance(item, ImageError):
                yield AskResult(item.path, question, error=str(item), error_kind=item.kind)
            else:
                assert ids is not None
                yield AskResult(item.source, question, text=self.decode_response(ids), token_ids=ids)

    def score_pixels(
        self, pixel_values: np.ndarray | torch.Tensor, categories: Sequence[bool] | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Score already preprocessed pixels.

        Args:
            pixel_values (`(N, 3, 448, 448)` normalised pixels, numpy or torch).
            categories: N flags; the flagged images also get category probabilities.

        Returns:
            `(N, 101)` float32 probabilities on the CPU; with ``categories`` also `(N, 5)` category
            probabilities (NaN rows where not flagged).
        """
        pixels = torch.as_tensor(pixel_values)
        flags = list(categories) if categories is not None else [False] * len(pixels)
        answers = batching.run_batches(
            self.run_state,
            [(pixels[i], flags[i]) for i in range(len(pixels))],
            want_score=True,
            attributes=[],
            max_new_tokens=0,
            on_step=None,
        )
        probs = torch.tensor([a.distribution for a in answers]) if answers else torch.empty(0, 101)
        if categories is None:
            return probs
        cats = torch.full((len(pixels), len(CATEGORY_IDS)), float("nan"))
        for i, a in enumerate(answers):
            if a.category is not None:
                cats[i] = torch.tensor(a.category_distribution)
        return probs, cats

    def decode_response(self, ids: Sequence[int]) -> str:
        """The reference's post-processing (``Processor.decode_response``, docs/inference.md "Critique")."""
        return self.run_state.processor.decode_response(ids)


def engine_for(weights: Weights, spec: EngineSpec, forward_lock: threading.Lock | None = None) -> Engine:
    """An engine with ``spec``'s batch, decode and image settings over weights already loaded (``forward_lock``:
    the one its weights' other engines hold, if any)."""
    engine = Engine(weights.loaded, spec, memory=weights.memory, notes=weights.notes, forward_lock=forward_lock)
    if weights.adapter:
        engine.provenance = replace(engine.provenance, adapter=weights.adapter)
    return engine


def create_engine(spec_or_model: EngineSpec | str | os.PathLike[str] | None = None, **overrides: object) -> Engine:
    """The one way in: an ``EngineSpec`` (or a model name, Hugging Face id or folder; None for the default
    model) plus setting ``overrides`` (``batch_size=16``...) -> a ready engine with the model loaded.
    Long-running hosts use ``engine_cache.get_engine`` (same arguments), which keeps one copy of each
    checkpoint's weights per process.

    The load is checked against the device's memory first (``resources.estimate_memory``): under
    ``dtype="auto"`` on the CPU, bf16 is used when fp32 does not fit (``engine.notes`` says so, with the
    speed cost); when nothing fits, nothing is loaded.

    Raises:
        InvalidValue: an unknown setting or a bad value (the message names the setting).
        CheckpointNotFound, CheckpointError: the model cannot be found or loaded.
        DeviceError: an impossible device/dtype/quantisation choice, or the model does not fit in memory.
    """
    spec = EngineSpec.coerce(spec_or_model, **overrides)
    return engine_for(load_weights(spec), spec)


__all__ = [
    "Engine",
    "Weights",
    "create_engine",
    "engine_for",
    "load_weights",
]
