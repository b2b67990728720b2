"""Load a checked checkpoint into transformers' native InternVL model, once, with no remote code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from transformers import InternVLForConditionalGeneration
from transformers.models.auto.tokenization_auto import AutoTokenizer, tokenizer_class_from_name
from transformers.utils import logging as hf_logging

from . import prompts
from .checkpoints import CheckpointInfo, fingerprint
from .convert import chat_to_native, native_config
from .devices import Placement
from .errors import CheckpointError


@dataclass
class LoadedModel:
    """The model plus everything the prompts need from its checkpoint."""

    model: InternVLForConditionalGeneration
    tokenizer: object
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
    tokenizer_config = json.loads(config_file.read_text(encoding="utf-8"))
    cls = tokenizer_class_from_name(tokenizer_config.get("tokenizer_class") or "")
    try:
        if cls is not None:
            return cls.from_pretrained(path), tokenizer_config
        return AutoTokenizer.from_pretrained(path, trust_remote_code=False), tokenizer_config
    except Exception as exc:
        raise CheckpointError(f"{path}: tokenizer cannot be loaded ({exc})") from exc


def _token_id(tokenizer, text: str, where: Path) -> int:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        raise CheckpointError(f"{where}: tokenizer splits {text!r} into {len(ids)} tokens; "
                              "this is not an ArtiMuse tokenizer")
    return ids[0]


def load_model(info: CheckpointInfo, placement: Placement) -> LoadedModel:
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    tokenizer, tokenizer_config = load_tokenizer(info.path)
    image_token_id = _token_id(tokenizer, prompts.IMG_CONTEXT, info.path)
    eos_token_id = _token_id(tokenizer, prompts.IM_END, info.path)
    pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_token_id
    score_ids = [_token_id(tokenizer, s, info.path) for s in prompts.score_token_strings()]
    extra = tokenizer_config.get("additional_special_tokens") or tokenizer_config.get("extra_special_tokens") or []
    extra_ids = [tokenizer.convert_tokens_to_ids(t if isinstance(t, str) else t["content"]) for t in extra]
    # What the reference's decode drops: eos, pad and the tokenizer's additional specials, nothing else.
    skip = frozenset([eos_token_id, pad_token_id, *extra_ids])

    kwargs = dict(dtype=placement.dtype, attn_implementation=placement.attn_implementation)
    if placement.device.type != "cpu":
        kwargs["device_map"] = {"": str(placement.device)}
    if placement.quantize != "none":
        kwargs["quantization_config"] = _quantization_config(placement)
    try:
        if info.layout == "chat":
            config = native_config(info.config, image_token_id)
            model = InternVLForConditionalGeneration.from_pretrained(
                None, config=config, state_dict=_chat_state_dict(info), **kwargs)
        else:
            model = InternVLForConditionalGeneration.from_pretrained(
                info.path, use_safetensors=True, trust_remote_code=False, **kwargs)
    except CheckpointError:
        raise
    except (OSError, RuntimeError, ValueError, KeyError, SafetensorError) as exc:
        raise CheckpointError(f"{info.path}: weights do not fit the config ({str(exc).splitlines()[0]})") from exc
    model.eval().requires_grad_(False)
    if model.config.image_token_id != image_token_id:
        raise CheckpointError(f"{info.path}: config image_token_id {model.config.image_token_id} is not the "
                              f"tokenizer's <IMG_CONTEXT> ({image_token_id})")
    return LoadedModel(
        model=model, tokenizer=tokenizer, info=info, placement=placement,
        system_message=prompts.system_message(info.config),
        num_image_tokens=model.config.image_seq_length, image_token_id=image_token_id,
        eos_token_id=eos_token_id, pad_token_id=pad_token_id, score_token_ids=score_ids,
        skip_token_ids=skip, fingerprint=fingerprint(info),
    )


def _chat_state_dict(info: CheckpointInfo) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for file in info.weight_files:
        try:
            with safe_open(file, framework="pt") as handle:
                for key in handle.keys():
                    state.update(chat_to_native(key, handle.get_tensor(key)))
        except (OSError, RuntimeError, ValueError, SafetensorError) as exc:
            raise CheckpointError(f"{file}: unreadable safetensors file ({exc})") from exc
    return state


def _quantization_config(placement: Placement):
    from transformers import BitsAndBytesConfig

    # The vision tower, projector and the score rows of lm_head stay in full precision: they are small
    # and the score reads lm_head directly.
    skip = ["vision_tower", "multi_modal_projector", "lm_head"]
    if placement.quantize == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=placement.dtype, llm_int8_skip_modules=skip)
