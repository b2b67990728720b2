"""Free-form questions about images (``Engine.ask``): InternVL's ``chat()`` with one image, greedy.

The prompt is what ``chat()`` builds: the question gets ``<image>\\n`` in front unless it starts with
``<image>`` (docs/inference.md "Critique" and "UniPercept"), in the ``internvl2_5`` template with the
family's system message. Images of one batch share one vision pass and decode together
(``generation.greedy_generate``); each answer equals running its prompt alone, token for token. The work
reads one ``RunState``, not the engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

import numpy as np
import torch

from . import forward, generation, prompts
from .errors import ImageError
from .images import DecodedImage, decode_many
from .resources import torch_threads_for
from .run_state import RunState
from .scoring import IMAGE_PLACEHOLDER, Source, StepHook, check_question


class ChatPrompting(Protocol):
    """What a chat prompt is built from (a ``run_state.Processor``, or an ``Engine``)."""

    @property
    def system_message(self) -> str: ...
    @property
    def num_image_tokens(self) -> int: ...
    def encode(self, text: str) -> list[int]: ...


def chat_prompt_ids(processor: ChatPrompting, question: str) -> list[int]:
    """The chat prompt ids for ``question`` about one image.

    Raises:
        InvalidValue: an empty question, or one with ``<image>`` anywhere but at its start.
    """
    check_question(question)
    newline = not question.startswith(IMAGE_PLACEHOLDER)
    text = prompts.render_prompt(
        processor.system_message, question.removeprefix(IMAGE_PLACEHOLDER), processor.num_image_tokens, newline=newline
    )
    return processor.encode(text)


def ask_stream(
    state: RunState,
    sources: Iterable[Source],
    question: str,
    *,
    max_new_tokens: int,
    on_step: StepHook | None = None,
) -> Iterator[tuple[DecodedImage | ImageError, list[int] | None]]:
    """(decoded image or ImageError, generated ids or None) per source, in input order, ``batch_size``
    images per decoding batch.

    Raises:
        InvalidValue: see ``chat_prompt_ids`` (before any work).
    """
    processor, batch_size = state.processor, state.plan.batch_size
    prompt = forward.PromptSet.from_prompts({"ask": chat_prompt_ids(processor, question)}, processor.image_token_id)

    def work(pixels: Sequence[np.ndarray]) -> list[list[int]]:
        with state.lock, torch_threads_for(state.plan.threads), torch.inference_mode():
            features = forward.image_features(state.model, torch.stack([torch.as_tensor(p) for p in pixels]))
            prefix = forward.encode_prefix(state.model, features, prompt.prefix)
            return generation.greedy_generate(
                state.model,
                prefix,
                torch.arange(len(pixels)),
                [prompt.suffixes["ask"]] * len(pixels),
                max_new_tokens=max_new_tokens,
                eos_token_id=processor.eos_token_id,
                pad_token_id=processor.pad_token_id,
                on_step=on_step,
            )

    decoded = decode_many(sources, processor.image_options, state.plan.threads.decode_workers)

    def run(window: list[DecodedImage | ImageError]) -> Iterator[tuple[DecodedImage | ImageError, list[int] | None]]:
        good = [d.pixel_values for d in window if not isinstance(d, ImageError)]
        if state.plan.threads.turns:
            decoded.settle()  # the model gets every core (ThreadPlan.turns)
        answers = iter(state.plan.backoff.run(work, good, state.device) if good else [])
        for item in window:
            yield item, (None if isinstance(item, ImageError) else next(answers))

    window: list[DecodedImage | ImageError] = []
    for item in decoded:
        window.append(item)
        if sum(not isinstance(d, ImageError) for d in window) >= batch_size:
            yield from run(window)
            window = []
    if window:
        yield from run(window)


__all__ = ["ChatPrompting", "ask_stream", "chat_prompt_ids"]
