"""Scoring throughput: our engine against a faithful re-creation of the reference loop, same run, same files.

The reference (the authors' eval script) decodes one image at a time, runs one image per forward pass and
materialises full-vocabulary logits at every prompt position before reading the 101 score logits of the
last one. Ours decodes in a thread pool, batches, and multiplies only the last hidden state by the 101
score rows. Both run on one seeded mid-size checkpoint with the real vocabulary size (151,674) so the
logits cost is real, over the same 64 mixed-size JPEGs; each side runs in its own process so its peak
memory is its own.

    python bench/score_throughput.py                 # CPU comparison, prints the ratio
    python bench/score_throughput.py --gpu           # InternVL3-8B shapes, random bf16 weights, batch 1..64
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REAL_TOKENIZER = REPO.parent / "shared" / "conformance" / "tiny-artimuse"
VOCAB = 151674


def make_checkpoint(folder: Path) -> Path:
    from artimuse_core.synthetic import build_checkpoint

    tokenizer = REAL_TOKENIZER if (REAL_TOKENIZER / "vocab.json").is_file() else None
    return build_checkpoint(folder / "mid", seed=7, vocab_size=VOCAB, text_hidden=256, text_layers=4, text_heads=8,
                            kv_heads=2, text_intermediate=1024, vision_hidden=64, vision_layers=2,
                            vision_heads=2, vision_intermediate=256, tokenizer_from=tokenizer)


def make_jpegs(folder: Path, count: int = 64) -> list[Path]:
    from PIL import Image

    rng = np.random.default_rng(0)
    sizes = [(640, 480), (1920, 1080), (3000, 2000), (800, 1200), (1024, 1024), (448, 448), (4000, 3000), (320, 240)]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        w, h = sizes[i % len(sizes)]
        small = rng.integers(0, 255, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((w, h), Image.Resampling.BILINEAR)
        path = folder / f"b{i:02d}_{w}x{h}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


def run_reference(checkpoint: Path, paths: list[Path]) -> list[float]:
    """One image per forward, full logits at every position, serial PIL decode (eval_dataset.load_image)."""
    import torch
    from PIL import Image

    from artimuse_core.engine import create_engine

    engine = create_engine(checkpoint, batch_size=1)  # only to get the same weights, prompt and ids
    model, ids = engine.loaded.model, engine._score_ids[None]
    score_ids = torch.tensor(engine.loaded.score_token_ids)
    mean = torch.tensor((0.485, 0.456, 0.406)).view(3, 1, 1)
    std = torch.tensor((0.229, 0.224, 0.225)).view(3, 1, 1)
    scores = []
    for path in paths:
        image = Image.open(path).convert("RGB").resize((448, 448), Image.BICUBIC)
        pixels = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float().div(255)
        pixels = ((pixels - mean) / std)[None]
        with torch.no_grad():
            logits = model(input_ids=ids, pixel_values=pixels).logits  # (1, L, 151674)
        probs = logits[0, -1, score_ids].softmax(-1)
        scores.append(float((probs * torch.arange(101)).sum()))
    return scores


def run_engine(checkpoint: Path, paths: list[Path], batch_size: int) -> list[float]:
    from artimuse_core.engine import create_engine

    engine = create_engine(checkpoint, batch_size=batch_size)
    return [r.score for r in engine.score(paths)]


def child(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    checkpoint, paths = Path(args.checkpoint), sorted(Path(args.image_dir).glob("*.jpg"))
    # Model loading is outside the timed part for both sides: each loads once per process.
    start = time.perf_counter()
    if args.child == "reference":
        scores = run_reference(checkpoint, paths[:1])
        start = time.perf_counter()
        scores = run_reference(checkpoint, paths)
    else:
        run_engine(checkpoint, paths[:1], args.batch_size)
        start = time.perf_counter()
        scores = run_engine(checkpoint, paths, args.batch_size)
    elapsed = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"scores": scores, "seconds": elapsed, "peak_rss_mb": peak_mb}))


def compare(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        checkpoint = make_checkpoint(tmp)
        paths = make_jpegs(tmp / "images", args.images)
        print(f"checkpoint: seeded mid-size, vocab {VOCAB}; {len(paths)} JPEGs 320x240..4000x3000; "
              f"{args.threads} torch threads", flush=True)
        results = {}
        for side in ("reference", "engine"):
            out = subprocess.run([sys.executable, __file__, "--child", side, "--checkpoint", str(checkpoint),
                                  "--image-dir", str(tmp / "images"), "--batch-size", str(args.batch_size),
                                  "--threads", str(args.threads)], capture_output=True, text=True, check=True)
            results[side] = json.loads(out.stdout.strip().splitlines()[-1])
            r = results[side]
            print(f"{side:>9}: {len(paths) / r['seconds']:7.2f} images/s  {1000 * r['seconds'] / len(paths):8.1f} "
                  f"ms/image  peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
        diff = max(abs(a - b) for a, b in zip(results["reference"]["scores"], results["engine"]["scores"]))
        ratio = results["reference"]["seconds"] / results["engine"]["seconds"]
        print(f"    ratio: {ratio:.1f}x the reference's throughput (batch {args.batch_size}); "
              f"max score difference {diff:.2e}")


def gpu(args) -> None:
    """InternVL3-8B shapes with random bf16 weights: images/s and model FLOP utilisation per batch size."""
    import torch
    from transformers import InternVLForConditionalGeneration

    from artimuse_core.convert import native_config
    from artimuse_core.synthetic import chat_config

    chat = chat_config(vocab_size=VOCAB, bos=151643, eos=151645, text_hidden=3584, text_layers=28, text_heads=28,
                       kv_heads=4, text_intermediate=18944, vision_hidden=1024, vision_layers=24, vision_heads=16,
                       vision_intermediate=4096)
    peak_tflops = float(os.environ.get("PEAK_TFLOPS", 989.0))  # H100 SXM dense bf16
    for attn in ("flash_attention_2", "sdpa"):
        if attn == "flash_attention_2":
            try:
                import flash_attn  # noqa: F401
            except ImportError:
                print("flash-attn not installed: skipping flash_attention_2")
                continue
        config = native_config(chat, image_token_id=151667)
        config._attn_implementation = attn
        with torch.device("cuda"):
            model = InternVLForConditionalGeneration._from_config(config, dtype=torch.bfloat16,
                                                                  attn_implementation=attn).eval()
        params = sum(p.numel() for p in model.parameters()) - model.lm_head.weight.numel()
        seq = 510
        for batch in (1, 2, 4, 8, 16, 32, 64):
            ids = torch.full((batch, seq), 100, device="cuda")
            ids[:, 41:297] = 151667
            pixels = torch.randn(batch, 3, 448, 448, device="cuda", dtype=torch.bfloat16)
            head = model.lm_head.weight[:101]
            torch.cuda.reset_peak_memory_stats()
            with torch.inference_mode():
                for _ in range(2):
                    model.model(input_ids=ids, pixel_values=pixels).last_hidden_state[:, -1] @ head.T
                torch.cuda.synchronize()
                start = time.perf_counter()
                reps = 5
                for _ in range(reps):
                    model.model(input_ids=ids, pixel_values=pixels).last_hidden_state[:, -1] @ head.T
                torch.cuda.synchronize()
            seconds = (time.perf_counter() - start) / reps
            flops = 2 * params * seq * batch  # dense matmuls; attention adds a few percent at 510 tokens
            print(f"{attn:>18} batch {batch:3d}: {batch / seconds:8.1f} images/s  {1000 * seconds:8.1f} ms  "
                  f"MFU {100 * flops / seconds / (peak_tflops * 1e12):5.1f}%  "
                  f"peak {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
        del model
        torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", default=64, type=int, help="number of JPEGs (compare mode)")
    parser.add_argument("--batch-size", default=8, type=int)
    parser.add_argument("--threads", default=os.cpu_count() or 1, type=int)
    parser.add_argument("--gpu", action="store_true", help="InternVL3-8B shapes on CUDA instead")
    parser.add_argument("--child", choices=("reference", "engine"), help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    parser.add_argument("--image-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
    elif args.gpu:
        gpu(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()
