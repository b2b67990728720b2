"""Greedy critique decoding from a shared prompt prefix (the decoding loop of the model-math room; the
building blocks are in ``forward.py``). Critiques are greedy and stop at ``<|im_end|>``
(docs/inference.md "Critique"); several prompts decode as one batch, each row computing what its prompt alone would.

Shapes as in ``forward.py``: ``J`` prompts, ``S_j`` a suffix length, ``A`` the rows still decoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from .forward import PrefixCache, StepHook, device_of, embed_prompt, greedy_tokens, run_decoder

if TYPE_CHECKING:
    from .forward import VisionLanguageModel


def greedy_generate(
    model: VisionLanguageModel,
    prefix: PrefixCache,
    image_index: torch.Tensor,
    suffixes: Sequence[torch.Tensor],
    *,
    max_new_tokens: int,
    eos_token_id: int,
    pad_token_id: int,
    on_step: StepHook | None = None,
) -> list[list[int]]:
    """Greedy decoding of ``prefix + suffix`` for several prompts at once, stopping each at ``eos_token_id``.

    The suffixes (different lengths) are right-aligned after the shared prefix, with the gap masked out of
    attention and rotary positions counted over real tokens only, so each row computes what its prompt alone
    would. Finished rows leave the batch. Logits are computed at the last position only.

    Args:
        image_index (`torch.LongTensor` of shape `(J,)`): the prefix image of each prompt.
        suffixes: J `torch.LongTensor`s of shape `(S_j,)`.
        max_new_tokens: the most tokens generated per prompt.
        on_step: called as ``on_step(step, max_new_tokens)`` after every generated token step (step is 1 for
            the first token of this batch). An exception it raises stops generation and propagates.

    Returns:
        J lists of generated ids, without the stop token (docs/inference.md "Critique": greedy, stop at
        ``<|im_end|>``; the reference runs each prompt alone, and its token ids are what tests compare).
    """
    device = device_of(model)
    count, width, past = len(suffixes), max(int(s.numel()) for s in suffixes), prefix.length
    ids = torch.full((count, width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((count, past + width), dtype=torch.long)
    mask[:, :past] = 1
    positions = torch.full((count, width), past, dtype=torch.long)
    lengths = torch.tensor([int(s.numel()) for s in suffixes])
    for row, suffix in enumerate(suffixes):
        n = int(suffix.numel())
        ids[row, width - n :] = suffix
        mask[row, past + width - n :] = 1
        positions[row, width - n :] = torch.arange(past, past + n)
    ids, mask, positions = ids.to(device), mask.to(device), positions.to(device)
    hidden, cache = run_decoder(
        model,
        embed_prompt(model, ids),
        cache=prefix.select(image_index),
        attention_mask=mask,
        position_ids=positions,
        use_cache=True,
    )
    next_position = (past + lengths).to(device)
    outputs: list[list[int]] = [[] for _ in range(count)]
    active = list(range(count))
    for step in range(1, max_new_tokens + 1):
        tokens = greedy_tokens(model, hidden[:, -1])  # (A,)
        keep = []
        for slot, token in enumerate(tokens.tolist()):
            if token == eos_token_id:
                continue
            outputs[active[slot]].append(token)
            keep.append(slot)
        if on_step is not None:
            on_step(step, max_new_tokens)
        if step == max_new_tokens or not keep:
            break
        if len(keep) < len(active):
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            tokens, mask, next_position = tokens[index], mask[index], next_position[index]
            active = [active[slot] for slot in keep]
        mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
        hidden, cache = run_decoder(
            model,
            embed_prompt(model, tokens[:, None]),
            cache=cache,
            attention_mask=mask,
            position_ids=next_position[:, None],
            use_cache=True,
        )
        next_position = next_position + 1
    return outputs


__all__ = ["greedy_generate"]
