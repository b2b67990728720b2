"""How big a checkpoint is before its weights are here: the published checkpoints' architecture as data
(InternVL3-8B, docs/inference.md "Model"), turned into tensor shapes on torch's meta device (no memory, no download).

Why: `artimuse doctor` must say whether this machine can hold the configured model and whether its
download fits the disk BEFORE 16 GB arrive; deriving both from the architecture keeps the figures true if
a shape changes, where a quoted "16 GB" would not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

#: Architectures of published checkpoints, in ``synthetic.chat_config``'s terms (docs/inference.md "Model": the
#: InternViT-300M vision tower and the Qwen2.5-7B-shaped language model of InternVL3-8B).
ARCHITECTURES: dict[str, dict[str, int]] = {
    "InternVL3-8B": dict(
        vocab_size=151674,
        text_hidden=3584,
        text_layers=28,
        text_heads=28,
        kv_heads=4,
        text_intermediate=18944,
        vision_hidden=1024,
        vision_layers=24,
        vision_heads=16,
        vision_intermediate=4096,
    ),
}
#: The InternVL3 tokenizer's ids that the config names (``<|endoftext|>``, ``<|im_end|>``, ``<IMG_CONTEXT>``).
_BOS, _EOS, _IMAGE_TOKEN = 151643, 151645, 151667
#: The published safetensors hold bfloat16 weights (their config's ``torch_dtype``): 2 bytes a parameter.
PUBLISHED_BYTES_PER_PARAMETER = 2


@dataclass(frozen=True)
class CheckpointShape:
    """A checkpoint known by its architecture only: what ``resources.estimate_memory`` reads from a
    ``CheckpointInfo`` (``name``, ``layout``, ``config``) plus every tensor's (name, shape), which a real
    checkpoint gives through its safetensors headers."""

    name: str
    architecture: str
    layout: str
    config: dict
    tensors: tuple[tuple[str, tuple[int, ...]], ...]
    path: Path | None = None

    @property
    def parameters(self) -> int:
        return sum(math.prod(shape) for _, shape in self.tensors)

    @property
    def download_bytes(self) -> int:
        """The published download (bf16 safetensors), in bytes; configs and tokenizer files are noise."""
        return self.parameters * PUBLISHED_BYTES_PER_PARAMETER


@cache
def _tensors(architecture: str) -> tuple[dict, tuple[tuple[str, tuple[int, ...]], ...]]:
    import torch
    from transformers import InternVLForConditionalGeneration

    from .convert import native_config
    from .synthetic import chat_config

    shape = dict(ARCHITECTURES[architecture])
    chat = chat_config(vocab_size=shape.pop("vocab_size"), bos=_BOS, eos=_EOS, dtype="bfloat16", **shape)
    config = native_config(chat, image_token_id=_IMAGE_TOKEN)
    with torch.device("meta"):  # shapes only: nothing is allocated
        model = InternVLForConditionalGeneration(config)
    tensors = tuple((name, tuple(t.shape)) for name, t in model.state_dict().items())
    return config.to_dict(), tensors


def shape_of(architecture: str, name: str = "") -> CheckpointShape:
    """The ``CheckpointShape`` of one of ``ARCHITECTURES`` (native layout names).

    Raises:
        KeyError: an architecture not declared here.
    """
    config, tensors = _tensors(architecture)
    return CheckpointShape(name or architecture, architecture, "native", config, tensors)


def published_shape(repo_id: str) -> CheckpointShape | None:
    """The shape of a published checkpoint (``checkpoints.KNOWN_MODELS``) by its Hugging Face id; None for
    a checkpoint this project does not know (its size is known once it is downloaded)."""
    from .checkpoints import KNOWN_MODELS

    known = next((m for m in KNOWN_MODELS.values() if m.repo_id == repo_id), None)
    return None if known is None else shape_of(known.architecture, known.name)


__all__ = ["ARCHITECTURES", "CheckpointShape", "PUBLISHED_BYTES_PER_PARAMETER", "published_shape", "shape_of"]
