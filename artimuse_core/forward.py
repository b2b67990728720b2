"""Model math in one room: pixels and prompt ids in, Token-As-Score logits, greedy critique tokens and the
fine-tuning loss out, on the public API of transformers' ``InternVLForConditionalGeneration``.

Every other module reaches the network through these functions. They use ``get_image_features`` (vision
tower + pixel shuffle + projector), ``get_placeholder_mask`` (the image features go into the
``<IMG_CONTEXT>`` slots, with its count check), the language model's KV cache, and only the rows of
``lm_head`` an answer needs at the last position (what ``logits_to_keep=1`` does, without the full-vocabulary
product where 101 or 5 rows suffice).

Prompts that share their start share its work: every ArtiMuse prompt of one image begins with the same
system turn and image (298 of 510 score-prompt tokens, 298 of ~320 critique-prompt tokens), so that prefix
runs once per image and only the question suffixes run per prompt (``PromptSet``, ``encode_prefix``,
``suffix_logits``; critiques decode from it in ``generation.greedy_generate``). Attention is causal, so a
prefix computed alone equals the same positions computed inside the full prompt; results match the
full-prompt reference within float noise (tests/test_forward.py against ../shared/conformance).

Shapes, as in ``modeling_internvl.py``: ``N`` images, ``T`` image tokens per image (256), ``H`` the
language model's hidden size, ``P`` the shared prefix length, ``S`` a suffix length, ``R`` the number of
``lm_head`` rows read, ``V`` the vocabulary size.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch.profiler import record_function

from .errors import ImageTokenMismatch

if TYPE_CHECKING:  # the model these functions run: loading.load_model builds one (transformers' InternVL)
    from transformers import InternVLForConditionalGeneration as VisionLanguageModel

# Module names of transformers 5.x ``InternVLForConditionalGeneration`` (``model.named_modules()``).
VISION_TOWER = "model.vision_tower"
PROJECTOR = "model.multi_modal_projector"
LM_HEAD = "lm_head"
# 8/4-bit loads keep these in full precision: the vision tower and projector are small and sensitive, and
# the score reads rows of ``lm_head``'s weight directly (transformers matches each entry as a module-path
# prefix at a dot boundary, or as a suffix).
QUANTIZATION_SKIP = (VISION_TOWER, PROJECTOR, LM_HEAD)
# LoRA goes on the language model's attention and MLP projections, never on the vision tower's.
LORA_TARGETS = r"model\.language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"

StepHook = Callable[[int, int], None]

# Names of the ``torch.profiler`` ranges model work runs in (a range costs microseconds when no profiler
# runs); bench/gpu_profile.py breaks a profiled batch down by them.
PHASE_COPY_IN = "artimuse: host to device"
PHASE_VISION = "artimuse: vision tower"
PHASE_PREFIX = "artimuse: shared prefix"
PHASE_SUFFIX = "artimuse: suffix passes"
PHASE_ROWS = "artimuse: lm_head rows"
PHASE_GREEDY = "artimuse: greedy lm_head"
PHASE_DECODE = "artimuse: host decode wait"
PHASE_COPY_OUT = "artimuse: device to host"
PHASES: tuple[str, ...] = (PHASE_DECODE, PHASE_COPY_IN, PHASE_VISION, PHASE_PREFIX, PHASE_SUFFIX, PHASE_ROWS)
PHASES += (PHASE_GREEDY, PHASE_COPY_OUT)


# ------------------------------------------------------------------------------------------ building blocks
def _weight(layer: torch.nn.Module) -> torch.Tensor:
    """An embedding or linear layer's weight (``nn.Module`` attributes are untyped)."""
    weight = layer.weight
    assert isinstance(weight, torch.Tensor)
    return weight


def device_of(model: VisionLanguageModel) -> torch.device:
    """Where the model's input embeddings are now (a host such as ComfyUI may move the model)."""
    return _weight(model.get_input_embeddings()).device


def to_model(tensor: torch.Tensor, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``tensor`` on ``device`` (in ``dtype``). A host tensor bound for a GPU goes through pinned memory
    without blocking the host, so the copy overlaps the host's next step; elsewhere a plain ``.to``."""
    with record_function(PHASE_COPY_IN):
        if device.type == "cuda" and tensor.device.type == "cpu":
            return tensor.pin_memory().to(device, dtype, non_blocking=True)
        return tensor.to(device, dtype)


def image_features(model: VisionLanguageModel, pixel_values: torch.Tensor) -> torch.Tensor:
    """The projected image tokens that replace the ``<IMG_CONTEXT>`` placeholders.

    Args:
        pixel_values (`torch.Tensor` of shape `(N, 3, 448, 448)`): ImageNet-normalised pixels
            (docs/inference.md "Image"); any device and float dtype, moved to the model's.

    Returns:
        `torch.Tensor` of shape `(N, T, H)` in the model's dtype: ``get_image_features(...).pooler_output``
        (InternViT, the "v2" pixel shuffle at ratio 0.5, the 2-layer MLP projector; docs/inference.md "Model").
    """
    config = model.config
    pixels = to_model(pixel_values, device_of(model), model.dtype)
    with record_function(PHASE_VISION):
        out = model.model.get_image_features(
            pixel_values=pixels,
            vision_feature_layer=config.vision_feature_layer,
            vision_feature_select_strategy=config.vision_feature_select_strategy,
        )
    return out.pooler_output if hasattr(out, "pooler_output") else out


def embed_prompt(
    model: VisionLanguageModel, input_ids: torch.Tensor, features: torch.Tensor | None = None
) -> torch.Tensor:
    """Token embeddings with the image features written into the ``<IMG_CONTEXT>`` slots, in order.

    Args:
        input_ids (`torch.LongTensor` of shape `(N, L)`): prompt ids on the model's device.
        features (`torch.Tensor` of shape `(N, T, H)`, optional): from ``image_features``; None for ids
            that hold no placeholder (question suffixes, generated tokens).

    Returns:
        `torch.Tensor` of shape `(N, L, H)` in the model's dtype.

    Raises:
        ImageTokenMismatch: the ids hold a different number of ``<IMG_CONTEXT>`` placeholders than there are
            feature vectors (both numbers in the message), e.g. a checkpoint whose config and tokenizer
            disagree. Source: docs/inference.md "Prompt" ({IMAGE} is 256 placeholders, replaced in order).
    """
    embeds = model.get_input_embeddings()(input_ids)
    image_token_id = model.config.image_token_id
    if features is None:
        found = int((input_ids == image_token_id).sum())
        if found:
            raise ImageTokenMismatch(found, 0)
        return embeds
    try:
        mask = model.model.get_placeholder_mask(input_ids, inputs_embeds=embeds, image_features=features)
    except ValueError as exc:  # transformers' own count check ("tokens: N, features: M")
        raise ImageTokenMismatch(
            int((input_ids == image_token_id).sum()), features.shape[0] * features.shape[1]
        ) from exc
    slots = int(mask.sum()) // embeds.shape[-1] if mask.shape[-1] == embeds.shape[-1] else int(mask.sum())
    if slots != features.shape[0] * features.shape[1]:  # also when TRANSFORMERS_DISABLE_TORCH_CHECK is set
        raise ImageTokenMismatch(slots, features.shape[0] * features.shape[1])
    return embeds.masked_scatter(mask, features.to(embeds.device, embeds.dtype))


_CACHE_KWARG: dict[type, str] = {}


def run_decoder(
    model: VisionLanguageModel,
    embeds: torch.Tensor,
    *,
    cache=None,
    attention_mask: torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
    use_cache: bool = False,
):
    """The language model (Qwen2 decoder, final norm included, no ``lm_head``) over ``embeds``.

    Args:
        embeds (`torch.Tensor` of shape `(N, L, H)`).
        cache (`transformers.DynamicCache`, optional): keys/values of earlier positions; extended in place.
        attention_mask (`torch.Tensor` of shape `(N, past + L)`, optional): 1 = attend, 0 = padding.
        position_ids (`torch.LongTensor` of shape `(N, L)` or `(1, L)`, optional): rotary positions.

    Returns:
        `(hidden, cache)`: hidden states of shape `(N, L, H)` and the cache (None unless ``use_cache``).
    """
    decoder = model.model.language_model
    kind = type(decoder)
    if kind not in _CACHE_KWARG:  # transformers 5.24 calls it ``cache``; earlier 5.x ``past_key_values``
        _CACHE_KWARG[kind] = "cache" if "cache" in inspect.signature(decoder.forward).parameters else "past_key_values"
    kwargs = {_CACHE_KWARG[kind]: cache} if cache is not None else {}
    out = decoder(
        inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids, use_cache=use_cache, **kwargs
    )
    # Read the output under the same name (5.24's ``out.past_key_values`` logs a deprecation note).
    new_cache = getattr(out, _CACHE_KWARG[kind], None)
    return out.last_hidden_state, new_cache


def head_logits(model: VisionLanguageModel, hidden: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
    """Answer logits at one position: the hidden state times the ``lm_head`` rows it needs.

    Args:
        hidden (`torch.Tensor` of shape `(N, H)`): the last position's hidden state.
        rows (`torch.LongTensor` of shape `(R,)`, optional): token ids to read (the 101 score tokens, the 5
            option letters); None for the full vocabulary (greedy decoding, the fine-tuning loss).

    Returns:
        `torch.Tensor` of shape `(N, R)` (or `(N, V)`) in float32. Reading R rows equals slicing the full
        logits the reference computes (docs/inference.md "Token As Score": only the last position and those rows).
    """
    head = model.get_output_embeddings()
    if rows is None:
        return head(hidden).float()
    full = _weight(head)
    with record_function(PHASE_ROWS):
        weight = full[rows.to(full.device)]  # (R, H): a gather, never the (V, H) product
        return (hidden.to(weight.dtype) @ weight.T).float()


def greedy_tokens(model: VisionLanguageModel, hidden: torch.Tensor) -> torch.Tensor:
    """The greedy next token, `(N,)` ids, for ``hidden`` `(N, H)`: the first index of the largest
    full-vocabulary logit, as ``head_logits(...).argmax(-1)``. Computed as ``weight @ hidden.T``: the BLAS
    streams the `(V, H)` weight once through all rows (``nn.Linear``'s ``hidden @ weight.T`` ran 1.5-2x
    slower at N <= 8 on the CPU). A head with a bias (no supported checkpoint has one) takes that path."""
    head = model.get_output_embeddings()
    if not isinstance(head, torch.nn.Linear) or head.bias is not None:
        return head_logits(model, hidden).argmax(-1)
    weight = _weight(head)
    with record_function(PHASE_GREEDY):
        return (weight @ hidden.to(weight.dtype).T).argmax(0)


# ------------------------------------------------------------------------------------ shared prompt prefixes
@dataclass(frozen=True)
class PromptSet:
    """Prompts of one image that start alike: the common ``prefix`` (system turn + image) and, by name, each
    prompt's ``suffixes`` (question + assistant header). ``prefix + suffixes[name]`` is the full prompt.

    ``prefix`` is a `torch.LongTensor` of shape `(P,)`, each suffix one of shape `(S,)`, on the CPU.
    """

    prefix: torch.Tensor
    suffixes: Mapping[str, torch.Tensor]

    @classmethod
    def from_prompts(cls, prompts: Mapping[str, Sequence[int]], image_token_id: int) -> PromptSet:
        """Split full prompt ids at their longest common start (keeping at least one suffix token each).

        Raises:
            ValueError: no prompts, or a placeholder falls after the split (then the prompts do not
                share their image, and sharing the prefix would be wrong).
        """
        if not prompts:
            raise ValueError("a prompt set needs at least one prompt")
        lists = [list(ids) for ids in prompts.values()]
        length = min(len(os.path.commonprefix(lists)), min(len(ids) for ids in lists) - 1)
        suffixes = {name: torch.tensor(list(ids)[length:], dtype=torch.long) for name, ids in prompts.items()}
        for name, suffix in suffixes.items():
            if bool((suffix == image_token_id).any()):
                raise ValueError(f"prompt {name!r} has image placeholders after the shared prefix")
        return cls(torch.tensor(lists[0][:length], dtype=torch.long), suffixes)

    def full(self, name: str) -> torch.Tensor:
        """The whole prompt ``name``: `(P + S,)` ids."""
        return torch.cat([self.prefix, self.suffixes[name]])


@dataclass
class PrefixCache:
    """The shared prefix's keys and values for N images: one `(keys, values)` pair per decoder layer, each of
    shape `(N, kv_heads, P, head_dim)`. Read-only: ``select`` hands out fresh caches that grow on their own."""

    layers: list[tuple[torch.Tensor, torch.Tensor]]
    length: int

    def select(self, image_index: torch.Tensor):
        """A new ``DynamicCache`` holding the prefix of the images ``image_index`` (`(M,)`, repeats allowed)."""
        from transformers import DynamicCache

        cache = DynamicCache()
        for layer, (keys, values) in enumerate(self.layers):
            index = image_index.to(keys.device)
            cache.update(keys.index_select(0, index), values.index_select(0, index), layer)
        return cache


def encode_prefix(model: VisionLanguageModel, features: torch.Tensor, prefix_ids: torch.Tensor) -> PrefixCache:
    """Run the shared prefix once per image and keep its keys and values.

    Args:
        features (`torch.Tensor` of shape `(N, T, H)`): from ``image_features``.
        prefix_ids (`torch.LongTensor` of shape `(P,)`): ``PromptSet.prefix``; holds all T placeholders.

    Raises:
        ImageTokenMismatch: see ``embed_prompt``.
    """
    ids = prefix_ids.to(device_of(model)).expand(len(features), -1)
    with record_function(PHASE_PREFIX):
        _, cache = run_decoder(model, embed_prompt(model, ids, features), use_cache=True)
    layers = [(layer.keys, layer.values) for layer in cache.layers]
    return PrefixCache(layers, int(prefix_ids.numel()))


def suffix_logits(
    model: VisionLanguageModel,
    prefix: PrefixCache,
    image_index: torch.Tensor,
    suffix_ids: torch.Tensor,
    rows: torch.Tensor | None,
) -> torch.Tensor:
    """Answer logits of ``prefix + suffix`` at its last position, for the images ``image_index``.

    Args:
        image_index (`torch.LongTensor` of shape `(M,)`): which of the prefix's images.
        suffix_ids (`torch.LongTensor` of shape `(S,)`): the same suffix for every selected image.
        rows (`torch.LongTensor` of shape `(R,)` or None): see ``head_logits``.

    Returns:
        `torch.Tensor` of shape `(M, R)`, float32: what the full prompt's last position gives, within
        float noise (about 1e-6 here against 1e-3 allowed on scores; docs/inference.md "Token As Score").
    """
    device = device_of(model)
    count, length = len(image_index), int(suffix_ids.numel())
    ids = suffix_ids.to(device).expand(count, -1)
    positions = torch.arange(prefix.length, prefix.length + length, device=device).expand(count, -1)
    with record_function(PHASE_SUFFIX):
        hidden, _ = run_decoder(
            model, embed_prompt(model, ids), cache=prefix.select(image_index), position_ids=positions, use_cache=True
        )
    return head_logits(model, hidden[:, -1], rows)


def prompt_logits(
    model: VisionLanguageModel, features: torch.Tensor, prompt_ids: torch.Tensor, rows: torch.Tensor | None
) -> torch.Tensor:
    """Answer logits of one whole prompt per image, no prefix sharing (the reference's way; tests compare).

    Args:
        features (`torch.Tensor` of shape `(N, T, H)`); prompt_ids (`torch.LongTensor` of shape `(L,)`).

    Returns:
        `torch.Tensor` of shape `(N, R)` (or `(N, V)`), float32.
    """
    ids = prompt_ids.to(device_of(model)).expand(len(features), -1)
    hidden, _ = run_decoder(model, embed_prompt(model, ids, features))
    return head_logits(model, hidden[:, -1], rows)


def token_as_score(score_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token As Score: the 101 score-token logits -> distribution, score and spread.

    Args:
        score_logits (`torch.Tensor` of shape `(N, 101)`): logits of ``aa..az, ca..cy, da..dy, ea..ey``.

    Returns:
        `(distribution, score, std)`: `(N, 101)` softmax over those 101 alone (``distribution[i]`` =
        P(score = i)); `(N,)` score = sum(i * p_i) on 0-100; `(N,)` standard deviation in score points.
        Source: docs/inference.md "Token As Score" (softmax over the 101, expectation; no rescaling).
    """
    distribution = score_logits.float().softmax(-1)
    grid = torch.arange(distribution.shape[-1], dtype=torch.float32, device=distribution.device)
    score = distribution @ grid
    std = ((grid[None, :] - score[:, None]) ** 2 * distribution).sum(-1).sqrt()
    return distribution, score, std


# ------------------------------------------------------------------------------------------- fine-tuning
def score_loss(
    model: VisionLanguageModel, pixel_values: torch.Tensor, prompt_ids: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """The Token-As-Score training objective: cross-entropy of the first answer token.

    Full-vocabulary logits at the score prompt's last position against each image's target score token
    (ArtiMuse's score fine-tuning; docs/inference.md "Token As Score" for the prompt and tokens). The vision tower is
    frozen, so its forward keeps no graph.

    Args:
        pixel_values (`torch.Tensor` of shape `(N, 3, 448, 448)`).
        prompt_ids (`torch.LongTensor` of shape `(L,)`): the full score prompt.
        targets (`torch.LongTensor` of shape `(N,)`): vocabulary ids of the target score tokens.

    Returns:
        A scalar tensor: the mean loss in nats, with a graph to the trainable (LoRA) weights.
    """
    with torch.no_grad():
        features = image_features(model, pixel_values)
    ids = prompt_ids.to(device_of(model)).expand(len(pixel_values), -1)
    hidden, _ = run_decoder(model, embed_prompt(model, ids, features))
    logits = head_logits(model, hidden[:, -1])
    return torch.nn.functional.cross_entropy(logits, targets.to(logits.device))


__all__ = [
    "LORA_TARGETS",
    "PHASES",
    "QUANTIZATION_SKIP",
    "PrefixCache",
    "PromptSet",
    "device_of",
    "embed_prompt",
    "encode_prefix",
    "greedy_tokens",
    "head_logits",
    "image_features",
    "prompt_logits",
    "run_decoder",
    "score_loss",
    "suffix_logits",
    "to_model",
    "token_as_score",
]
