"""What model work reads, frozen: the model, its processor (prompts as ids, answer tokens, the decoding
options), where it runs, and the plan that cuts the work (``RunState``). ``batching`` and ``asking`` take
one instead of the whole ``Engine``, so they depend on this and ``Engine`` on them, not the other way round.

An engine builds its run state once (``build_processor``, ``RunState``); a change (another batch size)
is a new run state (``with_batch_size``), never an edit of the one a running batch holds.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

from . import forward, prompts
from .categories import OPTION_LETTERS, category_question
from .devices import OomBackoff, Placement
from .families import Family
from .images import ImageOptions
from .resources import ThreadPlan

if TYPE_CHECKING:
    from transformers import InternVLForConditionalGeneration as VisionLanguageModel
    from transformers import PreTrainedTokenizerBase

    from .loading import LoadedModel

CATEGORY = "category"


def score_key(dimension: str) -> str:
    """The name of a dimension's score prompt in a ``PromptSet``."""
    return f"score:{dimension}"


def critique_key(attribute: str) -> str:
    """The name of an attribute's critique prompt in a ``PromptSet``."""
    return f"critique:{attribute}"


@dataclass(frozen=True)
class Processor:
    """Text and pixels in the model's terms.

    ``family``: whose prompts and dimensions; ``system_message``: the chat's system turn; ``prompts``: every
    prompt of one image (each dimension's score prompt, the category question, each attribute's critique)
    sharing their system + image prefix; ``score_prompt_ids``: the primary dimension's whole score prompt,
    `(L,)` ids (510 for ArtiMuse); ``score_token_ids``: `(101,)` ids of ``aa``..``ey``;
    ``category_token_ids``: `(5,)` ids of the option letters; ``image_options``: how files become pixels.
    """

    tokenizer: PreTrainedTokenizerBase
    family: Family
    system_message: str
    num_image_tokens: int
    image_token_id: int
    eos_token_id: int
    pad_token_id: int
    skip_token_ids: frozenset[int]
    prompts: forward.PromptSet
    score_texts: dict[str, str]
    score_prompt_ids: torch.Tensor
    score_token_ids: torch.Tensor
    category_token_ids: torch.Tensor
    image_options: ImageOptions

    def encode(self, text: str) -> list[int]:
        """The ids of ``text``, without special tokens added."""
        ids: list[int] = self.tokenizer.encode(text, add_special_tokens=False)
        return ids

    def decode_response(self, ids: Sequence[int]) -> str:
        """The reference's post-processing: drop only eos, pad and the tokenizer's additional specials
        (InternVL's <img>, <ref>... stay as text), cut at <|im_end|>, strip (docs/inference.md "Critique")."""
        kept = [i for i in ids if i not in self.skip_token_ids]
        text = self.tokenizer.decode(kept, skip_special_tokens=False)
        assert isinstance(text, str)  # one id list decodes to one string (the stub also allows batches)
        return text.split(prompts.IM_END)[0].strip()


def build_processor(loaded: LoadedModel, family: Family, image_options: ImageOptions) -> Processor:
    """Every prompt ``family`` asks of one image, tokenised once, split at their shared prefix."""
    tokenizer, n = loaded.tokenizer, loaded.num_image_tokens
    system = family.system_message(loaded.info.config)

    def ids(text: str) -> list[int]:
        encoded: list[int] = tokenizer.encode(text, add_special_tokens=False)
        return encoded

    def chat(question: str) -> list[int]:
        return ids(prompts.render_prompt(system, question, n))

    score_texts = {d: family.score_prompt(system, d, n) for d in family.dimension_keys}
    prompt_set = forward.PromptSet.from_prompts(
        {
            **{score_key(d): ids(text) for d, text in score_texts.items()},
            **({CATEGORY: chat(category_question())} if family.categories else {}),
            **{critique_key(a): chat(prompts.critique_question(a)) for a in family.attributes},
        },
        loaded.image_token_id,
    )
    letters = [ids(letter) for letter in OPTION_LETTERS]
    return Processor(
        tokenizer=tokenizer,
        family=family,
        system_message=system,
        num_image_tokens=n,
        image_token_id=loaded.image_token_id,
        eos_token_id=loaded.eos_token_id,
        pad_token_id=loaded.pad_token_id,
        skip_token_ids=loaded.skip_token_ids,
        prompts=prompt_set,
        score_texts=score_texts,
        score_prompt_ids=prompt_set.full(score_key(family.primary)),
        score_token_ids=torch.tensor(loaded.score_token_ids),
        category_token_ids=torch.tensor([each[0] for each in letters]),
        image_options=image_options,
    )


@dataclass(frozen=True)
class Plan:
    """How the work is cut: ``batch_size`` images per forward (out-of-memory back-off retries smaller, never
    lowering it), ``threads`` (torch and decode threads, ``resources.plan_threads``), ``backoff`` (its record)."""

    batch_size: int
    threads: ThreadPlan
    backoff: OomBackoff


@dataclass(frozen=True)
class RunState:
    """What model work reads: the ``model``, its ``processor``, its ``placement`` (as loaded: dtype,
    quantisation, attention kernel), the ``plan``, and the ``lock`` that lets one forward at a time run on
    these weights (engines over the same weights share it)."""

    model: VisionLanguageModel
    processor: Processor
    placement: Placement
    plan: Plan
    lock: threading.Lock

    @property
    def device(self) -> torch.device:
        """Where the model is now (a host such as ComfyUI may move it between GPU and CPU)."""
        return forward.device_of(self.model)

    def with_batch_size(self, batch_size: int) -> RunState:
        """The same state with ``batch_size`` images per forward (at least 1)."""
        return replace(self, plan=replace(self.plan, batch_size=max(1, batch_size)))


__all__ = ["CATEGORY", "Plan", "Processor", "RunState", "build_processor", "critique_key", "score_key"]
