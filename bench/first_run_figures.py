"""What a user needs before the first run (README "Before the first run"): memory per dtype for the 8B
checkpoints, and CPU seconds per image, each labelled measured or estimated.

    .venv/bin/python bench/first_run_figures.py            # about a minute on 2 cores

Memory: ``resources.estimate_memory`` (what ``create_engine`` and ``artimuse doctor`` check before loading)
on the shapes of InternVL3-8B (SPEC.md "Model"; the five ArtiMuse checkpoints share them), read from a
header-only safetensors file: no weights are drawn.

CPU speed: an 8B model cannot be run here (32 GB in fp32; bf16 matmuls are ~100x slower than fp32 on CPUs
without bf16 instructions), so this measures the real engine path (``create_engine`` -> ``evaluate``, score +
category, as ``artimuse score`` runs) on a mid-size synthetic checkpoint (real 151,674-token tokenizer when
``../shared/conformance`` is there, so prompts have their real 510 tokens), computes the matmul FLOPs of one
image (``bench/gpu_suite.flops_per_image``), and scales: 8B seconds = 8B FLOPs / the FLOP rate measured.
Bigger matmuls run at least as fast per FLOP, so this is an upper estimate for the same cores.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from bench.gpu_suite import FULL, flops_per_image  # noqa: E402

MID = dict(
    text_hidden=512,
    text_layers=4,
    text_heads=8,
    kv_heads=2,
    text_intermediate=1536,
    vision_hidden=256,
    vision_layers=4,
    vision_heads=4,
    vision_intermediate=1024,
)
GB = 1e9


def header_only_checkpoint(folder: Path):
    """A ``CheckpointInfo`` with InternVL3-8B's config and tensor shapes and no weight bytes."""
    from transformers import InternVLForConditionalGeneration

    from artimuse_core.checkpoints import CheckpointInfo
    from artimuse_core.convert import native_config
    from artimuse_core.synthetic import chat_config

    shapes = {k: v for k, v in FULL.items() if k != "vocab_size"}
    chat = chat_config(vocab_size=FULL["vocab_size"], bos=151643, eos=151645, **shapes)
    config = native_config(chat, image_token_id=151667)
    with torch.device("meta"):
        model = InternVLForConditionalGeneration(config)
    header = {
        name: {"dtype": "BF16", "shape": list(t.shape), "data_offsets": [0, 0]}
        for name, t in model.state_dict().items()
    }
    raw = json.dumps(header).encode()
    file = folder / "model.safetensors"
    file.write_bytes(struct.pack("<Q", len(raw)) + raw)
    return CheckpointInfo(path=folder, layout="native", config=config.to_dict(), weight_files=[file], name="8B")


def memory_rows(info) -> None:
    from artimuse_core import resources
    from artimuse_core.resources import estimate_memory

    # Sizes only: this machine may have no GPU to compare them with.
    resources.available_memory = lambda device="cpu", cgroup_root=None: (None, "not checked")  # type: ignore[assignment]
    print("memory (estimated: resources.estimate_memory on InternVL3-8B shapes, batch 1 and 8)")
    for device, dtype, quantize in [
        ("cpu", "float32", "none"),
        ("cpu", "bfloat16", "none"),
        ("cuda", "bfloat16", "none"),
        ("cuda", "bfloat16", "8bit"),
        ("cuda", "bfloat16", "4bit"),
    ]:
        one, eight = (estimate_memory(info, device, dtype, quantize, batch_size=b) for b in (1, 8))
        print(
            f"  {device:<5} {dtype:<9} {quantize:<5} weights {one.weights_bytes / GB:5.1f} GB; total "
            f"{one.total_bytes / GB:5.1f} GB at batch 1, {eight.total_bytes / GB:5.1f} GB at batch 8"
        )


def cpu_rows(work: Path) -> None:
    from artimuse_core import create_engine
    from artimuse_core.synthetic import build_checkpoint
    from tests.sample_images import write_samples

    tokenizer = REPO.parent / "shared" / "conformance" / "tiny-artimuse"
    folder = build_checkpoint(
        work / "mid", seed=0, tokenizer_from=tokenizer if (tokenizer / "vocab.json").is_file() else None, **MID
    )
    images = [str(p) for p in write_samples(work / "samples")] * 2
    engine = create_engine(folder, device="cpu", dtype="float32", batch_size=1)
    list(engine.evaluate(images[:1], predict_category=True))  # warm-up
    flops = flops_per_image(engine, with_category=True)
    start = time.perf_counter()
    done = list(engine.evaluate(images, predict_category=True))
    seconds = (time.perf_counter() - start) / len(done)
    assert all(r.ok for r in done)
    rate = flops / seconds
    params = sum(p.numel() for p in engine.loaded.model.parameters())
    prompt = len(engine.score_prompt_ids)
    print(
        f"cpu fp32 (measured): mid-size synthetic checkpoint ({params / 1e6:.0f} M parameters, prompt {prompt} "
        f"tokens), score + category at batch 1: {seconds:.3f} s/image, {flops / 1e9:.1f} GFLOP/image, "
        f"{rate / 1e9:.1f} GFLOP/s on {engine.threads.describe()}"
    )
    return rate


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        info = header_only_checkpoint(work)
        memory_rows(info)
        rate = cpu_rows(work)
        full = 8.17e12  # score + category FLOPs of one image on InternVL3-8B (bench/gpu_suite.py row)
        print(
            f"cpu fp32 8B (estimated: {full / 1e12:.2f} TFLOP/image / {rate / 1e9:.1f} GFLOP/s measured above): "
            f"~{full / rate:.0f} s/image on these cores, if 32+ GB RAM holds the fp32 weights"
        )


if __name__ == "__main__":
    main()
