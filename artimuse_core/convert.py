"""Translate the published InternVL "chat" layout into transformers' native InternVL, and back.

The chat layout needs the authors' remote code; the native ``InternVLForConditionalGeneration`` runs the
same network with none. docs/inference.md "Model" lists the renames; ``qkv`` is split in three along dim 0.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from transformers import InternVLConfig, Qwen2Config
from transformers.models.internvl.configuration_internvl import InternVLVisionConfig

from .errors import CheckpointError

# Keys of the chat llm_config that mean something to the native Qwen2 model. ``rope_scaling`` is left
# out on purpose: the reference's transformers 4.37 Qwen2 ignores it, so honouring it would change scores
# on long inputs (and never on ArtiMuse's prompts).
_QWEN2_KEYS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "hidden_act",
    "max_position_embeddings",
    "rms_norm_eps",
    "rope_theta",
    "use_sliding_window",
    "sliding_window",
    "max_window_layers",
    "attention_dropout",
    "bos_token_id",
    "eos_token_id",
    "initializer_range",
)

# (chat, native) substrings of vision tower keys, applied in order.
_VISION_RENAMES = (
    ("embeddings.class_embedding", "embeddings.cls_token"),
    ("embeddings.position_embedding", "embeddings.position_embeddings"),
    ("embeddings.patch_embedding.", "embeddings.patch_embeddings.projection."),
    ("encoder.layers.", "encoder.layer."),
    (".ls1", ".lambda_1"),
    (".ls2", ".lambda_2"),
    (".norm1.", ".layernorm_before."),
    (".norm2.", ".layernorm_after."),
    (".attn.proj.", ".attention.projection_layer."),
    (".attn.", ".attention."),
)
_PROJECTOR_RENAMES = (("mlp1.0.", "layer_norm."), ("mlp1.1.", "linear_1."), ("mlp1.3.", "linear_2."))


def native_config(chat: dict, image_token_id: int) -> InternVLConfig:
    """Build the native config from a chat ``config.json``."""
    vision, llm = chat["vision_config"], chat["llm_config"]
    image_size = chat.get("force_image_size") or vision.get("image_size", 448)
    vision_config = InternVLVisionConfig(
        hidden_size=vision["hidden_size"],
        num_hidden_layers=vision["num_hidden_layers"],
        num_attention_heads=vision["num_attention_heads"],
        intermediate_size=vision["intermediate_size"],
        attention_bias=bool(vision.get("qkv_bias", True)),
        use_qk_norm=bool(vision.get("qk_normalization", False)),
        norm_type=vision.get("norm_type", "layer_norm"),
        layer_norm_eps=vision.get("layer_norm_eps", 1e-6),
        image_size=image_size,
        patch_size=vision.get("patch_size", 14),
        num_channels=vision.get("num_channels", 3),
        hidden_act=vision.get("hidden_act", "gelu"),
        use_mean_pooling=True,  # InternViT has no final layer norm
    )
    text_config = Qwen2Config(**{k: llm[k] for k in _QWEN2_KEYS if k in llm}, tie_word_embeddings=False)
    ratio = chat.get("downsample_ratio", 0.5)
    if chat.get("ps_version", "v2") != "v2":
        raise CheckpointError("only pixel-shuffle 'v2' checkpoints are supported (ArtiMuse uses v2)")
    patch = vision_config.patch_size  # an int, or (height, width)
    patches = (image_size // (patch if isinstance(patch, int) else patch[0])) ** 2
    return InternVLConfig(
        vision_config=vision_config.to_dict(),
        text_config=text_config.to_dict(),
        image_token_id=image_token_id,
        image_seq_length=int(patches * ratio * ratio),
        downsample_ratio=ratio,
        vision_feature_layer=chat.get("select_layer", -1),
        vision_feature_select_strategy="default",
        tie_word_embeddings=False,
    )


def chat_to_native(key: str, tensor: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
    """One chat state-dict entry -> its native entries (three for a fused qkv)."""
    if key.startswith("vision_model."):
        name = "model.vision_tower." + key[len("vision_model.") :]
        if ".attn.qkv." in name:
            q, k, v = tensor.chunk(3, dim=0)
            for part, value in (("q_proj", q), ("k_proj", k), ("v_proj", v)):
                yield _rename(name.replace(".attn.qkv.", f".attn.{part}."), _VISION_RENAMES), value
            return
        yield _rename(name, _VISION_RENAMES), tensor
    elif key.startswith("mlp1."):
        yield "model.multi_modal_projector." + _rename(key, _PROJECTOR_RENAMES), tensor
    elif key.startswith("language_model.model."):
        yield "model.language_model." + key[len("language_model.model.") :], tensor
    elif key == "language_model.lm_head.weight":
        yield "lm_head.weight", tensor
    else:
        raise CheckpointError(f"unexpected weight {key!r} in a chat-layout checkpoint")


def native_to_chat_state_dict(native: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of ``chat_to_native`` over a whole state dict (q/k/v fused back into qkv)."""
    chat: dict[str, torch.Tensor] = {}
    fused: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in native.items():
        if key.startswith("model.vision_tower."):
            name = "vision_model." + key[len("model.vision_tower.") :]
            for old, new in _VISION_RENAMES:  # same order: the generic '.attn.' must come last
                name = name.replace(new, old)
            for part in ("q_proj", "k_proj", "v_proj"):
                if f".attn.{part}." in name:
                    stem = name.replace(f".attn.{part}.", ".attn.qkv.")
                    fused.setdefault(stem, {})[part] = tensor
                    break
            else:
                chat[name] = tensor
        elif key.startswith("model.multi_modal_projector."):
            name = key[len("model.multi_modal_projector.") :]
            for old, new in _PROJECTOR_RENAMES:
                if name.startswith(new):
                    name = old + name[len(new) :]
            chat[name] = tensor
        elif key.startswith("model.language_model."):
            chat["language_model.model." + key[len("model.language_model.") :]] = tensor
        elif key == "lm_head.weight":
            chat["language_model.lm_head.weight"] = tensor
        else:
            raise CheckpointError(f"unexpected weight {key!r} in a native InternVL state dict")
    for stem, parts in fused.items():
        chat[stem] = torch.cat([parts["q_proj"], parts["k_proj"], parts["v_proj"]], dim=0)
    return chat


def _rename(name: str, renames) -> str:
    for old, new in renames:
        name = name.replace(old, new)
    return name
