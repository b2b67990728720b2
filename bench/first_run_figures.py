"""What a user needs before the first run (README "Before the first run"): memory per dtype for the 8B
checkpoints, and CPU seconds per image, each labelled measured or estimated.

    .venv/bin/python bench/first_run_figures.py            # about a minute on 2 cores

Memory: ``resources.estimate_memory`` (what ``create_engine`` and ``artimuse doctor`` check before loading)
on the shapes of InternVL3-8B (``sizing.shape_of``: docs/inference.md "Model"; the five ArtiMuse checkpoints share
them), built on torch's meta device: no weights are drawn.

CPU speed: an 8B model cannot be run here (32 GB in fp32; bf16 matmuls are ~100x slower than fp32 on CPUs
without bf16 instructions), so this measures the real engine path (``create_engine`` -> ``evaluate``, score +
category, as ``artimuse score`` runs) on a mid-size synthetic checkpoint (real 151,674-token tokenizer when
``../shared/conformance`` is there, so prompts have their real 510 tokens), computes the matmul FLOPs of one
image (``bench/gpu_suite.flops_per_image``), and scales: 8B seconds = 8B FLOPs / the FLOP rate measured.
Bigger matmuls run at least as fast per FLOP, so this is an upper estimate for the same cores.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from artimuse_core.sizing import shape_of  # noqa: E402
from bench.gpu_suite import flops_per_image  # noqa: E402

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


def memory_rows(info) -> None:
    from artimuse_core.resources import estimate_memory

    print("memory (estimated: resources.estimate_memory on InternVL3-8B shapes, batch 1 and 8)")
    for device, dtype, quantize in [
        ("cpu", "float32", "none"),
        ("cpu", "bfloat16", "none"),
        ("cuda", "bfloat16", "none"),
        ("cuda", "bfloat16", "8bit"),
        ("cuda", "bfloat16", "4bit"),
    ]:
        # Sizes only: this machine may have no GPU to compare them with.
        one, eight = (
            estimate_memory(info, device, dtype, quantize, batch_size=b, available=(None, "not checked"))
            for b in (1, 8)
        )
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
    seconds = {}
    for dtype in ("float32", "bfloat16"):
        engine = create_engine(folder, device="cpu", dtype=dtype, batch_size=1)
        list(engine.evaluate(images[:1], predict_category=True))  # warm-up
        start = time.perf_counter()
        done = list(engine.evaluate(images, predict_category=True))
        seconds[dtype] = (time.perf_counter() - start) / len(done)
        assert all(r.ok for r in done)
    flops = flops_per_image(engine, with_category=True)
    rate = flops / seconds["float32"]
    params = sum(p.numel() for p in engine.loaded.model.parameters())
    prompt = len(engine.score_prompt_ids)
    print(
        f"cpu fp32 (measured): mid-size synthetic checkpoint ({params / 1e6:.0f} M parameters, prompt {prompt} "
        f"tokens), score + category at batch 1: {seconds['float32']:.3f} s/image, {flops / 1e9:.1f} GFLOP/image, "
        f"{rate / 1e9:.1f} GFLOP/s on {engine.threads.describe()}"
    )
    from bench.score_throughput import bare_matmul_rate

    text = engine.loaded.model.config.text_config
    shapes = [(prompt, text.hidden_size, text.intermediate_size), (510, 2048, 6144)]
    bare = bare_matmul_rate(shapes)
    print(
        f"cpu fp32 machine limit (measured, same run): a bare {prompt}x{text.hidden_size} @ {text.hidden_size}x"
        f"{text.intermediate_size} matmul {bare[0]:.1f} GFLOP/s, 510x2048 @ 2048x6144 {bare[1]:.1f} GFLOP/s on "
        f"every core; the engine reached {rate / 1e7 / bare[0]:.0f} % and {rate / 1e7 / bare[1]:.0f} % of them; "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    have = [name for name in ("amx_bf16", "avx512_bf16") if name in flags] or ["no bf16 instructions"]
    print(
        f"cpu bf16 (measured, same checkpoint and cores; {', '.join(have)}): {seconds['bfloat16']:.3f} s/image, "
        f"{seconds['bfloat16'] / seconds['float32']:.2f}x the fp32 time"
    )
    return rate


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        memory_rows(shape_of("InternVL3-8B"))
        rate = cpu_rows(work)
        full = 8.17e12  # score + category FLOPs of one image on InternVL3-8B (bench/gpu_suite.py row)
        print(
            f"cpu fp32 8B (estimated: {full / 1e12:.2f} TFLOP/image / {rate / 1e9:.1f} GFLOP/s measured above): "
            f"~{full / rate:.0f} s/image on these cores, if 32+ GB RAM holds the fp32 weights"
        )


if __name__ == "__main__":
    main()
