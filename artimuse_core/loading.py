"""Load a checked checkpoint into transformers' native InternVL model, once, with no remote code."""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import SafetensorError, safe_open
from transformers.models.auto.tokenization_auto import AutoTokenizer, tokenizer_class_from_name
from transformers.utils import logging as hf_logging

from . import prompts
from .checkpoints import CheckpointInfo, fingerprint, refusal_text
from .convert import chat_to_native, native_config
from .devices import Placement
from .errors import CheckpointError, DeviceError
from .forward import QUANTIZATION_SKIP
from .resources import MemoryEstimate, bf16_speed_note, estimate_memory

if TYPE_CHECKING:
    from transformers import InternVLForConditionalGeneration, PreTrainedTokenizerBase

    from .sizing import CheckpointShape


@dataclass
class LoadedModel:
    """The model plus everything the prompts need from its checkpoint."""

    model: InternVLForConditionalGeneration
    tokenizer: PreTrainedTokenizerBase
    info: CheckpointInfo
    placement: Placement
    system_message: str
    num_image_tokens: int
    image_token_id: int
    eos_token_id: int
    pad_token_id: int
    score_token_ids: list[int]
    skip_token_ids: frozenset[int]
    fingerprint: str


def load_tokenizer(path: Path):
    """The checkpoint's own tokenizer class by name (never remote code); AutoTokenizer as a fallback."""
    config_file = path / "tokenizer_config.json"
    try:
        tokenizer_config = json.loads(config_file.read_text(encoding="utf-8"))
        cls = tokenizer_class_from_name(tokenizer_config.get("tokenizer_class") or "")
        if cls is not None:
            return cls.from_pretrained(path), tokenizer_config
        return AutoTokenizer.from_pretrained(path, trust_remote_code=False), tokenizer_config
    except Exception as exc:
        raise CheckpointError(f"{path}: tokenizer cannot be loaded ({refusal_text(exc)})") from exc


def check_tokenizer(path: Path) -> None:
    """What loading checks in a checkpoint's tokenizer, without the weights (``doctor`` runs it): it loads
    as its own class, and the image placeholder, the end-of-turn token and the 101 score tokens
    ("0".."100", docs/inference.md "Token As Score") are one token each.

    Raises:
        CheckpointError: the tokenizer does not load, or it is not an ArtiMuse tokenizer.
    """
    with _quiet_transformers():
        tokenizer, _ = load_tokenizer(path)
    for text in (prompts.IMG_CONTEXT, prompts.IM_END, *prompts.score_token_strings()):
        _token_id(tokenizer, text, path)


def _token_id(tokenizer, text: str, where: Path) -> int:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        raise CheckpointError(
            f"{where}: tokenizer splits {text!r} into {len(ids)} tokens; this is not an ArtiMuse tokenizer"
        )
    return ids[0]


@contextmanager
def _quiet_transformers():
    """transformers' warnings and progress bars off for this load only (a host keeps its own settings)."""
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def fit_placement(
    info: CheckpointInfo | CheckpointShape,
    placement: Placement,
    *,
    dtype_is_auto: bool,
    batch_size: int,
    available: tuple[int | None, str] | None = None,
) -> tuple[Placement, MemoryEstimate, str | None]:
    """Check the load fits the device's memory; under ``dtype=auto`` on the CPU fall back to bf16.
    ``available`` replaces this machine's memory (`artimuse doctor`'s machine facts).

    Returns:
        `(placement, estimate, note)`: the placement to load with (bf16 instead of fp32 when only that
        fits), the estimate for it, and a one-line note when the dtype changed (with its speed cost).

    Raises:
        DeviceError: the model does not fit even so; one line with the numbers and what would help.
    """
    dtype = str(placement.dtype).removeprefix("torch.")
    device = str(placement.device)
    estimate = estimate_memory(info, device, dtype, placement.quantize, batch_size, available=available)
    if estimate.fits:
        return placement, estimate, None
    if dtype_is_auto and placement.device.type == "cpu" and placement.dtype == torch.float32:
        smaller = estimate_memory(info, device, "bfloat16", placement.quantize, batch_size, available=available)
        if smaller.fits:
            note = (
                f"float32 does not fit ({estimate.total_bytes / 1e9:.1f} GB needed, "
                f"{(estimate.available_bytes or 0) / 1e9:.1f} GB available): loading in bfloat16; "
                f"{bf16_speed_note()}"
            )
            return replace(placement, dtype=torch.bfloat16), smaller, note
        estimate = smaller
    hint = (
        "a smaller batch_size, quantize 8bit/4bit on a GPU, or a machine with more memory"
        if placement.device.type != "cpu"
        else "a smaller batch_size, a GPU, or a machine with more memory"
    )
    raise DeviceError(f"{info.name or info.path} does not fit: {estimate.describe()}; try {hint}")


def load_model(info: CheckpointInfo, placement: Placement) -> LoadedModel:
    """Load tokenizer and weights once, with no remote code; the weights land in ``placement``'s dtype.

    Raises:
        CheckpointError: unreadable or mismatched files. DeviceError: flash-attn asked for and broken.
    """
    with _quiet_transformers():
        return _load(info, placement)


def _load(info: CheckpointInfo, placement: Placement) -> LoadedModel:
    tokenizer, tokenizer_config = load_tokenizer(info.path)
    image_token_id = _token_id(tokenizer, prompts.IMG_CONTEXT, info.path)
    eos_token_id = _token_id(tokenizer, prompts.IM_END, info.path)
    pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_token_id
    score_ids = [_token_id(tokenizer, s, info.path) for s in prompts.score_token_strings()]
    extra = tokenizer_config.get("additional_special_tokens") or tokenizer_config.get("extra_special_tokens") or []
    extra_ids = [tokenizer.convert_tokens_to_ids(t if isinstance(t, str) else t["content"]) for t in extra]
    # What the reference's decode drops: eos, pad and the tokenizer's additional specials, nothing else.
    skip = frozenset([eos_token_id, pad_token_id, *extra_ids])

    try:
        model = _weights(info, placement, image_token_id)
    except ImportError as exc:  # an installed but broken flash-attn
        if placement.attn_implementation != "flash_attention_2":
            raise
        if not placement.attn_auto:
            raise DeviceError(
                f"attention 'flash_attention_2' asked for, but flash-attn fails to load "
                f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
            ) from exc
        placement = replace(placement, attn_implementation="sdpa")
        model = _weights(info, placement, image_token_id)
    model.eval().requires_grad_(False)
    if model.config.image_token_id != image_token_id:
        raise CheckpointError(
            f"{info.path}: config image_token_id {model.config.image_token_id} is not the "
            f"tokenizer's <IMG_CONTEXT> ({image_token_id})"
        )
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        info=info,
        placement=placement,
        system_message=prompts.system_message(info.config),
        num_image_tokens=model.config.image_seq_length,
        image_token_id=image_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        score_token_ids=score_ids,
        skip_token_ids=skip,
        fingerprint=fingerprint(info),
    )


def _weights(info: CheckpointInfo, placement: Placement, image_token_id: int) -> InternVLForConditionalGeneration:
    from transformers import InternVLForConditionalGeneration  # here: the tokenizer checks need only tokenizers

    kwargs: dict[str, Any] = dict(dtype=placement.dtype, attn_implementation=placement.attn_implementation)
    if placement.device.type != "cpu":
        kwargs["device_map"] = {"": str(placement.device)}
    if placement.quantize != "none":
        kwargs["quantization_config"] = _quantization_config(placement, info, image_token_id)
    try:
        if info.layout == "chat":
            config = native_config(info.config, image_token_id)
            # Tensors arrive already in the target dtype, so the model adopts them without a second copy
            # (quantised loads keep the stored dtype: bitsandbytes quantises from it).
            cast = placement.dtype if placement.quantize == "none" else None
            return InternVLForConditionalGeneration.from_pretrained(
                None, config=config, state_dict=_chat_state_dict(info, cast), **kwargs
            )
        return InternVLForConditionalGeneration.from_pretrained(
            info.path, use_safetensors=True, trust_remote_code=False, **kwargs
        )
    except CheckpointError:
        raise
    except (OSError, RuntimeError, ValueError, KeyError, SafetensorError) as exc:
        if "trust_remote_code" in str(exc):
            raise CheckpointError(f"{info.path}: {refusal_text(exc)}") from exc
        raise CheckpointError(f"{info.path}: weights do not fit the config ({refusal_text(exc)})") from exc


def _chat_state_dict(info: CheckpointInfo, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """The chat-layout weights under their native names, each cast to ``dtype`` as it is read (so the
    whole checkpoint never sits in memory in two dtypes at once)."""
    state: dict[str, torch.Tensor] = {}
    for file in info.weight_files:
        try:
            with safe_open(file, framework="pt") as handle:
                for key in handle.keys():
                    tensor = handle.get_tensor(key)
                    if dtype is not None and tensor.is_floating_point() and tensor.dtype != dtype:
                        tensor = tensor.to(dtype)
                    state.update(chat_to_native(key, tensor))
        except (OSError, RuntimeError, ValueError, SafetensorError) as exc:
            raise CheckpointError(f"{file}: unreadable safetensors file ({exc})") from exc
    return state


def quantization_skip_modules(config) -> list[str]:
    """``QUANTIZATION_SKIP``, checked against the modules of a model built from ``config`` on the meta
    device (no memory): each entry must name at least one module, as transformers matches them.

    Raises:
        CheckpointError: an entry matches no module (a renamed module would be quantised silently).
    """
    from transformers import InternVLForConditionalGeneration
    from transformers.quantizers.quantizers_utils import should_convert_module

    with torch.device("meta"):
        names = [name for name, _ in InternVLForConditionalGeneration(config).named_modules() if name]
    for entry in QUANTIZATION_SKIP:
        if all(should_convert_module(name, [entry]) for name in names):
            raise CheckpointError(
                f"quantisation skip entry {entry!r} matches no module of "
                f"{type(config).__name__}; the vision tower or lm_head would be quantised"
            )
    return list(QUANTIZATION_SKIP)


def _quantization_config(placement: Placement, info: CheckpointInfo, image_token_id: int):
    from transformers import AutoConfig, BitsAndBytesConfig

    config = (
        native_config(info.config, image_token_id)
        if info.layout == "chat"
        else AutoConfig.from_pretrained(info.path, trust_remote_code=False)
    )
    skip = quantization_skip_modules(config)
    if placement.quantize == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=placement.dtype,
        llm_int8_skip_modules=skip,
    )
