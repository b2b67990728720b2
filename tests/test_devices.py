"""Placement choices are explicit and refuse what can't work here with a clear error."""

from __future__ import annotations

import pytest

from artimuse_core import DeviceError


def test_auto_on_a_cpu_machine_is_fp32_sdpa():
    import torch

    from artimuse_core.devices import choose_placement

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    placement = choose_placement()
    assert (placement.device.type, placement.dtype, placement.attn_implementation) == ("cpu", torch.float32, "sdpa")


def test_overrides_and_refusals():
    import torch

    from artimuse_core.devices import choose_placement

    assert choose_placement("cpu", "bfloat16").dtype == torch.bfloat16
    with pytest.raises(DeviceError, match="needs a CUDA GPU"):
        choose_placement("cpu", quantize="4bit")
    with pytest.raises(DeviceError, match="unknown dtype"):
        choose_placement("cpu", "float8")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA GPU"):
            choose_placement("cuda")


def test_out_of_memory_is_recognised():
    import torch

    from artimuse_core.devices import is_out_of_memory

    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


def test_oom_frees_first_retries_the_batch_in_halves_and_returns_to_full_size(tiny_chat, mixed_images, monkeypatch):
    """A fake allocator error (CPU): the failed batch is released before the cache is emptied, the batch is
    retried at half size, results equal an unconstrained run, and the next batch starts at full size."""
    import gc
    import weakref

    import torch

    from artimuse_core import create_engine, devices, forward

    engine = create_engine(tiny_chat, batch_size=8)
    expected = [r.score for r in engine.score(mixed_images[:7])]
    real, sizes, batches = forward.image_features, [], []

    def small_memory(model, pixels):
        sizes.append(len(pixels))
        batches.append(weakref.ref(pixels))
        if len(pixels) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(model, pixels)

    freed_before_empty = []
    real_free = devices.free_cached_memory

    def checking_free(device):
        gc.collect()
        freed_before_empty.append(batches[-1]() is None)
        real_free(device)

    monkeypatch.setattr(forward, "image_features", small_memory)
    monkeypatch.setattr(devices, "free_cached_memory", checking_free)
    results = engine.score(mixed_images[:7])
    assert [r.score for r in results] == pytest.approx(expected, abs=1e-4)
    assert sizes == [7, 4, 2, 2, 3, 2, 1]
    assert engine.backoff.events == [(7, 4), (4, 2), (3, 2)]
    assert all(freed_before_empty), "the failed batch must be released before the cache is emptied"
    assert engine.batch_size == 8
    sizes.clear()
    engine.score(mixed_images[:2])
    assert sizes == [2], "the next batch runs at the configured size again"


def test_non_memory_errors_are_not_retried():
    import torch

    from artimuse_core.devices import OomBackoff, is_out_of_memory

    calls = []

    def work(items):
        calls.append(len(items))
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        OomBackoff().run(work, [1, 2, 3, 4], torch.device("cpu"))
    assert calls == [4]
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 8 GB"))


def test_a_broken_flash_attn_is_not_available(tmp_path, monkeypatch):
    from artimuse_core.devices import flash_attn_available

    package = tmp_path / "flash_attn"
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('undefined symbol: _ZN3c10 (built for another torch)')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert flash_attn_available() is False


def test_broken_flash_attention_at_load_falls_back_under_auto_only(tiny_chat):
    import torch

    from artimuse_core.checkpoints import resolve_checkpoint
    from artimuse_core.devices import Placement
    from artimuse_core.loading import load_model

    info = resolve_checkpoint(tiny_chat)
    auto = Placement(torch.device("cpu"), torch.float32, "flash_attention_2", attn_auto=True)
    loaded = load_model(info, auto)  # flash-attn cannot load here: transformers raises ImportError
    assert loaded.placement.attn_implementation == "sdpa"
    with pytest.raises(DeviceError, match="flash-attn fails to load"):
        load_model(info, Placement(torch.device("cpu"), torch.float32, "flash_attention_2"))


def test_quantisation_skip_list_matches_real_modules(tiny_chat, monkeypatch):
    """Every skip entry names modules of a built model as transformers matches them, every linear layer of the
    vision tower, projector and lm_head is skipped, the language model's are not; a stale name is an error."""
    import json

    import torch
    from transformers import InternVLForConditionalGeneration
    from transformers.quantizers.quantizers_utils import should_convert_module

    import artimuse_core.loading as loading
    from artimuse_core.checkpoints import resolve_checkpoint
    from artimuse_core.convert import native_config
    from artimuse_core.errors import CheckpointError

    info = resolve_checkpoint(tiny_chat)
    tokenizer = json.loads((tiny_chat / "tokenizer_config.json").read_text())["added_tokens_decoder"]
    config = native_config(info.config, next(int(k) for k, v in tokenizer.items() if v["content"] == "<IMG_CONTEXT>"))
    skip = loading.quantization_skip_modules(config)
    with torch.device("meta"):
        model = InternVLForConditionalGeneration(config)
    linears = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    kept = [n for n in linears if not should_convert_module(n, skip)]
    quantised = [n for n in linears if should_convert_module(n, skip)]
    assert any(n.startswith("model.vision_tower.") for n in kept) and "lm_head" in kept
    assert any(n.startswith("model.multi_modal_projector.") for n in kept)
    assert all(n.startswith(("model.vision_tower.", "model.multi_modal_projector.", "lm_head")) for n in kept)
    assert quantised and all(n.startswith("model.language_model.layers.") for n in quantised)
    # The old transformers-4 style entry left every vision linear to be quantised:
    assert all(should_convert_module(n, ["vision_tower"]) for n in linears if "vision_tower" in n)
    monkeypatch.setattr(loading, "QUANTIZATION_SKIP", ("model.vision_model", *skip[1:]))
    with pytest.raises(CheckpointError, match="'model.vision_model' matches no module"):
        loading.quantization_skip_modules(config)


def test_lora_targets_are_every_language_model_projection_and_nothing_else(tiny_chat):
    """forward.LORA_TARGETS (what finetune puts LoRA on; the only copy of that rule) matches the seven
    projections of every language-model layer of a built model, and no vision, projector or head module."""
    import json
    import re

    import torch
    from transformers import InternVLForConditionalGeneration

    from artimuse_core import forward
    from artimuse_core.checkpoints import resolve_checkpoint
    from artimuse_core.convert import native_config

    info = resolve_checkpoint(tiny_chat)
    tokenizer = json.loads((tiny_chat / "tokenizer_config.json").read_text())["added_tokens_decoder"]
    config = native_config(info.config, next(int(k) for k, v in tokenizer.items() if v["content"] == "<IMG_CONTEXT>"))
    with torch.device("meta"):
        model = InternVLForConditionalGeneration(config)
    linears = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    targeted = [n for n in linears if re.fullmatch(forward.LORA_TARGETS, n)]  # peft matches a string in full
    layers = config.text_config.num_hidden_layers
    assert len(targeted) == 7 * layers
    assert all(n.startswith("model.language_model.layers.") for n in targeted)
