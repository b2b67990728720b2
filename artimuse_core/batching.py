"""Batches of model work over one ``RunState`` (what the engine hands over, not itself): decoded images are
grouped ``batch_size`` at a time (a bad file waits in its place, so results keep input order), and each
batch is one vision-tower pass, one shared system + image prefix, then the score, category and critique
suffixes it needs (``forward.py`` holds the math). Out-of-memory backs off to smaller parts of the batch
(``devices.OomBackoff``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.profiler import record_function

from . import forward, generation
from .categories import CATEGORY_IDS
from .errors import ImageError
from .images import DecodedImage, decode_many
from .resources import torch_threads_for
from .run_state import CATEGORY, RunState, critique_key, score_key
from .scoring import CategoryWish, Source, StepHook
from .spec import default_of


@dataclass
class Answers:
    """What the model said about one image (internal; ``ScoreResult``/``CritiqueResult`` are the API).

    ``distribution``: the primary dimension's 101 probabilities; ``score`` (0-100) and ``std`` (score points)
    from it; ``scores``/``stds``/``distributions``: the same for every dimension, by key;
    ``category_distribution``: 5 probabilities; ``critiques``: attribute -> generated token ids."""

    distribution: list[float] | None = None
    score: float | None = None
    std: float | None = None
    scores: dict[str, float] = field(default_factory=dict)
    stds: dict[str, float] = field(default_factory=dict)
    distributions: dict[str, list[float]] = field(default_factory=dict)
    category: str | None = None
    category_probability: float | None = None
    category_distribution: list[float] | None = None
    critiques: dict[str, list[int]] = field(default_factory=dict)


def stream(
    state: RunState,
    sources: Iterable[Source],
    *,
    want_score: bool,
    predict_category: CategoryWish,
    attributes: list[str],
    max_new_tokens: int | None,
    on_step: StepHook | None,
) -> Iterator[tuple[DecodedImage | ImageError, Answers | None]]:
    """(decoded image or ImageError, its Answers or None) per source, in input order; a batch runs once it
    holds ``batch_size`` good images (bad ones wait in their place, or pass at once if none is waiting)."""
    max_new = max_new_tokens or default_of("max_new_tokens")
    batch_size, processor = state.plan.batch_size, state.processor
    lookahead = max(2 * batch_size, 8)

    def wants(decoded: DecodedImage) -> bool:
        if not processor.family.categories:
            return False
        return bool(predict_category(decoded.source) if callable(predict_category) else predict_category)

    decoded = decode_many(sources, processor.image_options, state.plan.threads.decode_workers, lookahead=lookahead)

    def run(window: list[DecodedImage | ImageError]) -> Iterator[tuple[DecodedImage | ImageError, Answers | None]]:
        good = [d for d in window if not isinstance(d, ImageError)]
        if state.plan.threads.turns:
            with record_function(forward.PHASE_DECODE):
                decoded.settle()  # the lookahead is decoded: the model gets every core (ThreadPlan.turns)
        answers = iter(
            run_batches(
                state,
                [(d.pixel_values, wants(d)) for d in good],
                want_score=want_score,
                attributes=attributes,
                max_new_tokens=max_new,
                on_step=on_step,
            )
        )
        for item in window:
            yield item, (None if isinstance(item, ImageError) else next(answers))

    window: list[DecodedImage | ImageError] = []
    waiting = 0
    for item in _waited(decoded):
        if isinstance(item, ImageError) and not waiting:
            yield item, None
            continue
        window.append(item)
        waiting += not isinstance(item, ImageError)
        if waiting >= batch_size:
            yield from run(window)
            window, waiting = [], 0
    if window:
        yield from run(window)


def _waited(decoded: Iterator[DecodedImage | ImageError]) -> Iterator[DecodedImage | ImageError]:
    """The decoded items, each wait for one in the profiler's host-decode range."""
    while True:
        with record_function(forward.PHASE_DECODE):
            item = next(decoded, None)
        if item is None:
            return
        yield item


#: One image of model work: its pixels (`(3, 448, 448)`, numpy from decoding or a tensor) and whether it
#: also gets the category question.
Item = tuple[np.ndarray | torch.Tensor, bool]


def run_batches(
    state: RunState,
    items: Sequence[Item],
    *,
    want_score: bool,
    attributes: list[str],
    max_new_tokens: int,
    on_step: StepHook | None,
) -> list[Answers]:
    """Model work for (pixels, wants_category) items, ``batch_size`` at a time, with OOM back-off."""
    answers: list[Answers] = []
    size = state.plan.batch_size
    for start in range(0, len(items), size):
        chunk = items[start : start + size]
        answers += state.plan.backoff.run(
            lambda part: model_work(state, part, want_score, attributes, max_new_tokens, on_step),
            chunk,
            state.device,
        )
    return answers


def model_work(
    state: RunState,
    items: Sequence[Item],
    want_score: bool,
    attributes: list[str],
    max_new_tokens: int,
    on_step: StepHook | None,
) -> list[Answers]:
    """One vision pass and one shared prefix for these images; then the score suffix of every dimension,
    the category and critique suffixes. Only the last position meets only the lm_head rows it needs
    (forward.py)."""
    model, processor = state.model, state.processor
    pixels = torch.stack([torch.as_tensor(p) for p, _ in items])  # numpy (decoded) or tensors (score_pixels)
    category_rows = [i for i, (_, flag) in enumerate(items) if flag]
    answers = [Answers() for _ in items]
    family, prompt_set = processor.family, processor.prompts
    with state.lock, torch_threads_for(state.plan.threads), torch.inference_mode():
        features = forward.image_features(model, pixels)
        if want_score and len(family.dimensions) == 1 and not category_rows and not attributes:  # one prompt
            logits = forward.prompt_logits(model, features, processor.score_prompt_ids, processor.score_token_ids)
            _fill_scores(answers, family.primary, logits, primary=True)
            return answers
        prefix = forward.encode_prefix(model, features, prompt_set.prefix)
        del features
        if want_score:
            rows = torch.arange(len(items))
            for dimension in family.dimension_keys:
                suffix = prompt_set.suffixes[score_key(dimension)]
                logits = forward.suffix_logits(model, prefix, rows, suffix, processor.score_token_ids)
                _fill_scores(answers, dimension, logits, primary=dimension == family.primary)
        if category_rows:
            suffix = prompt_set.suffixes[CATEGORY]
            logits = forward.suffix_logits(
                model, prefix, torch.tensor(category_rows), suffix, processor.category_token_ids
            )
            for row, p in zip(category_rows, logits.softmax(-1).cpu()):
                best = int(p.argmax())
                answers[row].category, answers[row].category_probability = CATEGORY_IDS[best], float(p[best])
                answers[row].category_distribution = p.tolist()
        if attributes:
            _fill_critiques(state, answers, prefix, attributes, max_new_tokens, on_step)
    return answers


def _fill_scores(answers: list[Answers], dimension: str, logits: torch.Tensor, *, primary: bool) -> None:
    with record_function(forward.PHASE_COPY_OUT):
        distribution, score, std = (t.cpu() for t in forward.token_as_score(logits))
    for i, a in enumerate(answers):
        a.distributions[dimension] = distribution[i].tolist()
        a.scores[dimension], a.stds[dimension] = float(score[i]), float(std[i])
        if primary:
            a.distribution, a.score, a.std = a.distributions[dimension], a.scores[dimension], a.stds[dimension]


def _fill_critiques(
    state: RunState,
    answers: list[Answers],
    prefix: forward.PrefixCache,
    attributes: list[str],
    max_new_tokens: int,
    on_step: StepHook | None,
) -> None:
    """All (image, attribute) prompts, whole images per decoding batch of up to ``2 x batch_size`` rows
    (at least one image's attributes). Every step reads the whole lm_head, so more rows per step
    amortise it (16 rows cost 1.2x of 8 on the CPU); a row's KV cache at 512 new tokens is about a
    quarter of a scoring image's activations, so twice the rows stay inside what ``batch_size`` allows."""
    processor = state.processor
    images_per_call = max(1, 2 * state.plan.batch_size // len(attributes))
    for first in range(0, len(answers), images_per_call):
        jobs = [(i, a) for i in range(first, min(first + images_per_call, len(answers))) for a in attributes]
        generated = generation.greedy_generate(
            state.model,
            prefix,
            torch.tensor([i for i, _ in jobs]),
            [processor.prompts.suffixes[critique_key(a)] for _, a in jobs],
            max_new_tokens=max_new_tokens,
            eos_token_id=processor.eos_token_id,
            pad_token_id=processor.pad_token_id,
            on_step=on_step,
        )
        for (i, attribute), ids in zip(jobs, generated):
            answers[i].critiques[attribute] = ids


__all__ = ["Answers", "Item", "model_work", "run_batches", "stream"]
