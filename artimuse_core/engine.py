"""The engine: one loaded model; each image decoded once, its vision tower run once, and every answer it
needs (score, category, critiques) read from one shared prompt prefix.

Speed choices, against the reference's one prompt per forward with full-vocabulary logits everywhere:
images decode in a thread pool while the model runs; a batch is one forward pass per prompt kind; the
system + image prefix that every prompt shares runs once per image (``forward.PromptSet``); only the last
position meets only the ``lm_head`` rows it needs; critiques of all attributes decode as one batch, finished
rows leaving it; torch threads and decode workers split the cores (``resources.plan_threads``); the model
loads once per process (``engine_cache.get_engine``). The model math itself lives in ``forward.py``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from . import __version__, asking, batching, forward, prompts
from .batching import CATEGORY, critique_key, score_key
from .categories import CATEGORY_IDS, OPTION_LETTERS, category_question
from .checkpoints import DEFAULT_MODEL
from .devices import OomBackoff
from .errors import ImageError, InvalidValue
from .families import Family, match_family
from .images import ImageOptions
from .loading import LoadedModel
from .resources import MemoryEstimate, ThreadPlan, plan_threads
from .results import AskResult, CritiqueResult, Provenance, ScoreResult
from .spec import EngineSpec, default_of
from .weights import Weights, load_weights

log = logging.getLogger("artimuse")

Progress = Callable[[int], None]
StepHook = forward.StepHook
DEFAULT_MAX_NEW_TOKENS: int = default_of("max_new_tokens")  # declared once, in spec.py


@dataclass(frozen=True)
class EngineOptions:
    model: str = DEFAULT_MODEL
    device: str = "auto"
    dtype: str = "auto"
    quantize: str = "none"
    attn: str = "auto"
    batch_size: int = 8
    decode_workers: int | None = None


class Engine:
    """Scores and critiques images with one checkpoint of a model family (ArtiMuse, UniPercept:
    ``families.py``). Build it with ``create_engine``.

    Public attributes: ``family`` (the ``Family``: dimensions, abilities), ``device`` (where the model is
    now), ``score_prompt_ids`` (the primary dimension's score prompt, `(L,)` ids; 510 tokens for ArtiMuse),
    ``dimension_prompt_ids`` (dimension -> its score prompt ids), ``system_message``, ``score_token_ids``
    (`(101,)` ids of ``aa``..``ey``), ``category_token_ids`` (`(5,)` ids of the option letters), ``prompts``
    (the shared-prefix ``PromptSet``), ``batch_size`` (the configured images per forward; out-of-memory
    back-off retries smaller but never lowers it), ``backoff`` (its record), ``threads`` (the ``ThreadPlan``),
    ``memory`` (the load's ``MemoryEstimate``, when checked), ``notes`` (one-line remarks on choices made at
    load, e.g. a dtype fallback), ``provenance``.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        options: EngineOptions = EngineOptions(),
        image_options: ImageOptions = ImageOptions(),
        *,
        memory: MemoryEstimate | None = None,
        notes: Sequence[str] = (),
        spec: EngineSpec | None = None,
    ):
        self.loaded = loaded
        self.options = options
        self.image_options = image_options
        self.batch_size = max(1, options.batch_size)
        self.backoff = OomBackoff()
        self.threads: ThreadPlan = plan_threads(loaded.placement.device.type, options.decode_workers)
        self.memory = memory
        self.notes = list(notes)
        self.spec = spec  # the settings it was built from (create_engine / get_engine)
        # One forward at a time: the watcher and ComfyUI share an engine (engine_cache shares it between
        # engines over the same weights).
        self.forward_lock = threading.Lock()
        tokenizer = loaded.tokenizer
        info = loaded.info
        self.family: Family = match_family([info.name, info.repo_id], info.config, spec.family if spec else None)
        family, system, n = self.family, self.family.system_message(info.config), loaded.num_image_tokens

        def ids(text: str) -> list[int]:
            return tokenizer.encode(text, add_special_tokens=False)

        def chat(question: str) -> list[int]:
            return ids(prompts.render_prompt(system, question, n))

        score_texts = {d: family.score_prompt(system, d, n) for d in family.dimension_keys}
        self.prompts = forward.PromptSet.from_prompts(
            {
                **{score_key(d): ids(text) for d, text in score_texts.items()},
                **({CATEGORY: chat(category_question())} if family.categories else {}),
                **{critique_key(a): chat(prompts.critique_question(a)) for a in family.attributes},
            },
            loaded.image_token_id,
        )
        self.system_message = system
        self.score_prompt = score_texts[family.primary]
        self.score_prompt_ids = self.prompts.full(score_key(family.primary))
        self.dimension_prompt_ids = {d: self.prompts.full(score_key(d)) for d in family.dimension_keys}
        self.score_token_ids = torch.tensor(loaded.score_token_ids)
        letters = [tokenizer.encode(letter, add_special_tokens=False) for letter in OPTION_LETTERS]
        self.category_token_ids = torch.tensor([ids_[0] for ids_ in letters])
        placement = loaded.placement
        self.provenance = Provenance(
            model=loaded.info.name,
            repo_id=loaded.info.repo_id,
            fingerprint=loaded.fingerprint,
            layout=loaded.info.layout,
            device=str(placement.device),
            dtype=str(placement.dtype).removeprefix("torch.")
            + ("" if placement.quantize == "none" else f"+{placement.quantize}"),
            engine_version=__version__,
            prompt_hash=prompts.sha256_text("\x00".join(score_texts.values()))[:16],
            family=family.name,
        )

    @property
    def device(self) -> torch.device:
        """Where the model is now (a host such as ComfyUI may move it between GPU and CPU)."""
        return forward.device_of(self.loaded.model)

    # -------------------------------------------------------------------------------------- the one call
    def evaluate(
        self,
        sources: Iterable,
        *,
        predict_category: bool | Callable[[str], bool] = False,
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
        attributes = self._attributes(critique)
        for item, answers in batching.stream(
            self,
            sources,
            want_score=True,
            predict_category=predict_category,
            attributes=attributes,
            max_new_tokens=max_new_tokens,
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

    # ------------------------------------------------------------------------------------ thin wrappers
    def score(
        self,
        sources: Sequence,
        progress: Progress | None = None,
        predict_category: bool | Callable[[str], bool] = False,
    ) -> list[ScoreResult]:
        """Score files (paths) or in-memory PIL images; a bad one gets an error result, the rest score.
        ``evaluate`` without critiques, as a list."""
        return list(self.evaluate(sources, predict_category=predict_category, progress=progress))

    def iter_scores(
        self,
        sources: Iterable,
        progress: Progress | None = None,
        predict_category: bool | Callable[[str], bool] = False,
    ) -> Iterator[ScoreResult]:
        """Like ``score`` but yields results in input order as each batch finishes."""
        return self.evaluate(sources, predict_category=predict_category, progress=progress)

    def critique(
        self,
        sources: Sequence,
        attributes: Sequence[str] = prompts.ATTRIBUTES,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        progress: Progress | None = None,
        on_step: StepHook | None = None,
    ) -> list[CritiqueResult]:
        """Greedy critiques for every (image, attribute) pair, in that order, with their token ids.

        The attributes of an image share its system + image prefix and decode as one batch; each text is
        token-identical to running its prompt alone (docs/inference.md "Critique"). ``progress`` is called with the
        number of (image, attribute) pairs finished; ``on_step`` as in ``evaluate``.

        Raises:
            ValueError: an unknown or ambiguous attribute.
        """
        attributes = self._attributes(attributes)
        if not attributes:
            return []
        results: list[CritiqueResult] = []
        for item, answers in batching.stream(
            self,
            sources,
            want_score=False,
            predict_category=False,
            attributes=attributes,
            max_new_tokens=max_new_tokens,
            on_step=on_step,
        ):
            if isinstance(item, ImageError):
                results.extend(CritiqueResult(item.path, a, error=str(item), error_kind=item.kind) for a in attributes)
            else:
                assert answers is not None  # every decoded image has its answers
                texts = answers.critiques
                results.extend(
                    CritiqueResult(item.source, a, text=self.decode_response(texts[a]), token_ids=texts[a])
                    for a in attributes
                )
            if progress:
                progress(len(attributes))
        return results

    def ask(
        self,
        sources: Sequence,
        question: str,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        progress: Progress | None = None,
        on_step: StepHook | None = None,
    ) -> list[AskResult]:
        """Greedy free-form answers to ``question`` about each image, as InternVL's ``chat()`` gives them
        (UniPercept's VQA, ArtiMuse's chat): token-identical to the reference (asking.py). ``progress`` is
        called with 1 per image, ``on_step`` as in ``evaluate``; a bad image gets its error in its place.

        Raises:
            InvalidValue: an empty question, or ``<image>`` other than at its start.
        """
        results: list[AskResult] = []
        for item, ids in asking.ask_stream(self, sources, question, max_new_tokens=max_new_tokens, on_step=on_step):
            if isinstance(item, ImageError):
                results.append(AskResult(item.path, question, error=str(item), error_kind=item.kind))
            else:
                assert ids is not None
                results.append(AskResult(item.source, question, text=self.decode_response(ids), token_ids=ids))
            if progress:
                progress(1)
        return results

    def _attributes(self, names: Sequence[str]) -> list[str]:
        """Attribute names resolved; InvalidValue when the family writes no attribute critiques."""
        if names and not self.family.attributes:
            raise InvalidValue(f"{self.family.name} writes no attribute critiques; ask it a question instead (ask)")
        return [prompts.resolve_attribute(a) for a in names]

    def score_pixels(self, pixel_values: np.ndarray | torch.Tensor, categories: Sequence[bool] | None = None):
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
            self,
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
        """The reference's post-processing: drop only eos, pad and the tokenizer's additional specials
        (InternVL's <img>, <ref>... stay as text), cut at <|im_end|>, strip (docs/inference.md "Critique")."""
        kept = [i for i in ids if i not in self.loaded.skip_token_ids]
        text = self.loaded.tokenizer.decode(kept, skip_special_tokens=False)
        assert isinstance(text, str)  # one id list decodes to one string (the stub also allows batches)
        return text.split(prompts.IM_END)[0].strip()


def engine_for(weights: Weights, spec: EngineSpec) -> Engine:
    """An engine with ``spec``'s batch, decode and image settings over weights already loaded."""
    options = EngineOptions(
        model=spec.model,
        device=spec.device,
        dtype=spec.dtype,
        quantize=spec.quantize,
        attn=spec.attn,
        batch_size=spec.batch_size,
        decode_workers=spec.decode_workers,
    )
    engine = Engine(
        weights.loaded, options, spec.image_options(), memory=weights.memory, notes=weights.notes, spec=spec
    )
    if weights.adapter:
        engine.provenance = replace(engine.provenance, adapter=weights.adapter)
    return engine


def create_engine(spec_or_model: EngineSpec | str | os.PathLike | None = None, **overrides) -> Engine:
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
    "DEFAULT_MAX_NEW_TOKENS",
    "Engine",
    "EngineOptions",
    "Weights",
    "create_engine",
    "engine_for",
    "load_weights",
]
