"""Free-form questions about images (``Engine.ask``): InternVL's ``chat()`` with one image, greedy.

The prompt is what ``chat()`` builds: the question gets ``<image>\\n`` in front unless it starts with
``<image>`` (docs/inference.md "Critique" and "UniPercept"), in the ``internvl2_5`` template with the
family's system message. Images of one batch share one vision pass and decode together
(``generation.greedy_generate``); each answer equals running its prompt alone, token for token.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import torch

from . import forward, generation, prompts
from .errors import ImageError, InvalidValue
from .images import DecodedImage, decode_many
from .resources import torch_threads_for

if TYPE_CHECKING:
    from .engine import Engine

IMAGE_PLACEHOLDER = "<image>"


def chat_prompt_ids(engine: Engine, question: str) -> list[int]:
    """The chat prompt ids for ``question`` about one image.

    Raises:
        InvalidValue: an empty question, or one with ``<image>`` anywhere but at its start.
    """
    if not question.strip():
        raise InvalidValue("question must not be empty")
    newline = True
    if question.startswith(IMAGE_PLACEHOLDER):
        question, newline = question[len(IMAGE_PLACEHOLDER) :], False
    if IMAGE_PLACEHOLDER in question:
        raise InvalidValue(f"question may hold {IMAGE_PLACEHOLDER} only at its start (one image per question)")
    text = prompts.render_prompt(engine.system_message, question, engine.loaded.num_image_tokens, newline=newline)
    return engine.loaded.tokenizer.encode(text, add_special_tokens=False)


def ask_stream(
    engine: Engine,
    sources: Iterable,
    question: str,
    *,
    max_new_tokens: int,
    on_step: forward.StepHook | None = None,
) -> Iterator[tuple[DecodedImage | ImageError, list[int] | None]]:
    """(decoded image or ImageError, generated ids or None) per source, in input order, ``batch_size``
    images per decoding batch.

    Raises:
        InvalidValue: see ``chat_prompt_ids`` (before any work).
    """
    prompt = forward.PromptSet.from_prompts({"ask": chat_prompt_ids(engine, question)}, engine.loaded.image_token_id)

    def work(pixels: Sequence) -> list[list[int]]:
        model = engine.loaded.model
        with engine.forward_lock, torch_threads_for(engine.threads), torch.inference_mode():
            features = forward.image_features(model, torch.stack([torch.as_tensor(p) for p in pixels]))
            prefix = forward.encode_prefix(model, features, prompt.prefix)
            return generation.greedy_generate(
                model,
                prefix,
                torch.arange(len(pixels)),
                [prompt.suffixes["ask"]] * len(pixels),
                max_new_tokens=max_new_tokens,
                eos_token_id=engine.loaded.eos_token_id,
                pad_token_id=engine.loaded.pad_token_id,
                on_step=on_step,
            )

    def run(window: list) -> Iterator[tuple[DecodedImage | ImageError, list[int] | None]]:
        good = [d.pixel_values for d in window if not isinstance(d, ImageError)]
        answers = iter(engine.backoff.run(work, good, engine.device) if good else [])
        for item in window:
            yield item, (None if isinstance(item, ImageError) else next(answers))

    window: list = []
    for item in decode_many(sources, engine.image_options, engine.threads.decode_workers):
        window.append(item)
        if sum(not isinstance(d, ImageError) for d in window) >= engine.batch_size:
            yield from run(window)
            window = []
    if window:
        yield from run(window)


__all__ = ["chat_prompt_ids", "ask_stream"]
