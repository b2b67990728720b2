"""Seeded synthetic ArtiMuse checkpoints, for tests, benchmarks and sizing runs where real weights can't be.

A checkpoint built here has the published layout ("chat", as the authors' ``save_pretrained`` writes it)
or transformers' native one, a small byte-level BPE tokenizer with the real special tokens and all 101
score tokens as single tokens, and random weights drawn from a seed at scales that give varied scores.
Nothing here downloads anything.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from . import prompts
from .convert import native_config, native_to_chat_state_dict

# The InternVL3 tokenizer's added tokens, in their real order (ids are relative here).
QWEN_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
QWEN_NONSPECIAL = [
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
]
INTERNVL_SPECIALS = ["<img>", "</img>", "<IMG_CONTEXT>", "<quad>", "</quad>", "<ref>", "</ref>", "<box>", "</box>"]


def _byte_alphabet() -> list[str]:
    """GPT-2's byte -> printable character table (what byte-level BPE vocabularies are written in)."""
    keep = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def write_tokenizer(folder: Path) -> int:
    """Write vocab.json, merges.txt and tokenizer_config.json; return the tokenizer's size."""
    vocab = {ch: i for i, ch in enumerate(_byte_alphabet())}
    merges = []
    for token in prompts.score_token_strings():
        merges.append(f"{token[0]} {token[1]}")
        vocab[token] = len(vocab)
    base = len(vocab)
    added = {}
    for offset, content in enumerate(QWEN_SPECIALS + QWEN_NONSPECIAL + INTERNVL_SPECIALS):
        added[str(base + offset)] = {
            "content": content,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": content not in QWEN_NONSPECIAL,
        }
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    config = {
        "add_prefix_space": False,
        "added_tokens_decoder": added,
        "additional_special_tokens": QWEN_SPECIALS[1:],
        "bos_token": None,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": 12288,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
    return base + len(added)


def chat_config(
    *,
    vocab_size: int,
    bos: int,
    eos: int,
    text_hidden: int,
    text_layers: int,
    text_heads: int,
    kv_heads: int,
    text_intermediate: int,
    vision_hidden: int,
    vision_layers: int,
    vision_heads: int,
    vision_intermediate: int,
    system_message: object = ...,
    dtype: str = "float32",
) -> dict:
    """A ``config.json`` in the InternVL chat layout (the keys the authors' class writes and reads)."""
    config = {
        "architectures": ["InternVLChatModel"],
        "model_type": "internvl_chat",
        "template": "internvl2_5",
        "downsample_ratio": 0.5,
        "force_image_size": 448,
        "ps_version": "v2",
        "select_layer": -1,
        "dynamic_image_size": True,
        "use_thumbnail": True,
        "min_dynamic_patch": 1,
        "max_dynamic_patch": 12,
        "pad2square": False,
        "tie_word_embeddings": False,
        "torch_dtype": dtype,
        "hidden_size": text_hidden,
        "use_backbone_lora": 0,
        "use_llm_lora": 0,
        "llm_config": {
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            "vocab_size": vocab_size,
            "hidden_size": text_hidden,
            "intermediate_size": text_intermediate,
            "num_hidden_layers": text_layers,
            "num_attention_heads": text_heads,
            "num_key_value_heads": kv_heads,
            "hidden_act": "silu",
            "max_position_embeddings": 32768,
            "rms_norm_eps": 1e-6,
            "rope_theta": 1000000.0,
            "use_sliding_window": False,
            "sliding_window": 32768,
            "max_window_layers": text_layers,
            "attention_dropout": 0.0,
            "bos_token_id": bos,
            "eos_token_id": eos,
            "tie_word_embeddings": False,
            "torch_dtype": dtype,
            "attn_implementation": "eager",
        },
        "vision_config": {
            "architectures": ["InternVisionModel"],
            "model_type": "intern_vit_6b",
            "hidden_size": vision_hidden,
            "num_hidden_layers": vision_layers,
            "num_attention_heads": vision_heads,
            "intermediate_size": vision_intermediate,
            "image_size": 448,
            "patch_size": 14,
            "num_channels": 3,
            "qkv_bias": True,
            "qk_normalization": False,
            "norm_type": "layer_norm",
            "layer_norm_eps": 1e-6,
            "hidden_act": "gelu",
            "drop_path_rate": 0.0,
            "use_flash_attn": False,
            "torch_dtype": dtype,
        },
    }
    if system_message is not ...:
        config["system_message"] = system_message
    return config


def _redraw(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Weights at scales that make a random model's score distribution vary from image to image."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.normal_(0.0, 0.02, generator=generator)
            elif "norm" in name or param.ndim == 1 and "lambda" not in name:
                param.fill_(1.0)
            elif "lambda" in name:
                param.fill_(0.5)
            elif "cls_token" in name or "position_embeddings" in name:
                param.normal_(0.0, 0.2, generator=generator)
            elif "embed_tokens" in name:
                param.normal_(0.0, 1.0, generator=generator)
            elif name == "lm_head.weight":  # sharper score distributions than a default init gives
                param.normal_(0.0, 3.0 / math.sqrt(param.shape[1]), generator=generator)
            else:
                fan_in = param[0].numel()
                param.normal_(0.0, 1.0 / math.sqrt(fan_in), generator=generator)


def _save_shards(state: dict[str, torch.Tensor], folder: Path, max_shard_bytes: int | None) -> None:
    """``model.safetensors``, or ``model-0000i-of-0000n.safetensors`` + ``model.safetensors.index.json``."""
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if max_shard_bytes and shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = tensor
        size += nbytes
    if len(shards) == 1:
        save_file({k: v.cpu() for k, v in shards[0].items()}, folder / "model.safetensors", metadata={"format": "pt"})
        return
    weight_map = {}
    for i, shard in enumerate(shards, 1):
        name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file({k: v.cpu() for k, v in shard.items()}, folder / name, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, name))
    total = sum(t.numel() * t.element_size() for t in state.values())
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2), encoding="utf-8"
    )


def build_checkpoint(
    folder: str | Path,
    *,
    seed: int = 0,
    layout: str = "chat",
    vocab_size: int | None = None,
    text_hidden: int = 32,
    text_layers: int = 2,
    text_heads: int = 4,
    kv_heads: int = 2,
    text_intermediate: int = 64,
    vision_hidden: int = 32,
    vision_layers: int = 2,
    vision_heads: int = 2,
    vision_intermediate: int = 64,
    system_message: object = ...,
    dtype: torch.dtype = torch.float32,
    tokenizer_from: str | Path | None = None,
    device: str = "cpu",
    max_shard_bytes: int | None = None,
) -> Path:
    """Write a seeded random ArtiMuse-shaped checkpoint into ``folder`` and return it.

    ``tokenizer_from`` copies a real tokenizer (vocab.json, merges.txt, tokenizer_config.json) instead of
    writing the small synthetic one, so prompts have their real length (benchmarks). ``device`` builds the
    weights there (``cuda``: an 8B-shaped model in bf16 is drawn on the GPU in seconds, never in fp32 on
    the CPU); ``max_shard_bytes`` splits the chat-layout file into shards with an index, as the published
    checkpoints are.
    """
    from transformers import InternVLForConditionalGeneration

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = QWEN_SPECIALS + QWEN_NONSPECIAL + INTERNVL_SPECIALS
    if tokenizer_from is None:
        tokenizer_size = write_tokenizer(folder)
        first_added = tokenizer_size - len(names)
        ids = {n: first_added + i for i, n in enumerate(names)}
    else:
        for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
            shutil.copy(Path(tokenizer_from) / name, folder / name)
        added = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))["added_tokens_decoder"]
        ids = {v["content"]: int(k) for k, v in added.items()}
        tokenizer_size = max(ids.values()) + 1
    dtype_name = str(dtype).removeprefix("torch.")
    chat = chat_config(
        vocab_size=max(vocab_size or 0, tokenizer_size),
        bos=ids["<|endoftext|>"],
        eos=ids["<|im_end|>"],
        text_hidden=text_hidden,
        text_layers=text_layers,
        text_heads=text_heads,
        kv_heads=kv_heads,
        text_intermediate=text_intermediate,
        vision_hidden=vision_hidden,
        vision_layers=vision_layers,
        vision_heads=vision_heads,
        vision_intermediate=vision_intermediate,
        system_message=system_message,
        dtype=dtype_name,
    )
    config = native_config(chat, image_token_id=ids["<IMG_CONTEXT>"])
    torch.manual_seed(seed)
    if dtype == torch.float32 and device == "cpu":  # the tests' checkpoints, drawn exactly as always
        model = InternVLForConditionalGeneration(config)
        _redraw(model, torch.Generator().manual_seed(seed))
    else:
        with torch.device(device):
            model = InternVLForConditionalGeneration._from_config(config, dtype=dtype)
        _redraw(model, torch.Generator(device=device).manual_seed(seed))
    # In place. transformers 5 wraps PreTrainedModel.to in a decorator whose stub mypy reads as unbound.
    model.to(dtype)  # type: ignore[arg-type]
    if layout == "native":
        model.save_pretrained(folder, safe_serialization=True)
        return folder
    if layout != "chat":
        raise ValueError(f"layout must be 'chat' or 'native', not {layout!r}")
    state = {k: v.contiguous() for k, v in native_to_chat_state_dict(model.state_dict()).items()}
    del model
    _save_shards(state, folder, max_shard_bytes)
    (folder / "config.json").write_text(json.dumps(chat, indent=2, ensure_ascii=False), encoding="utf-8")
    (folder / "generation_config.json").write_text(json.dumps({"_from_model_config": True}), encoding="utf-8")
    return folder
