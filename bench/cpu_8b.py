"""CPU seconds per image for the real 8B shape (README "Before the first run"), on a machine with the RAM for
it: random InternVL3-8B-shaped weights (drawn in bf16 on a GPU when there is one, else on the CPU), written in
the published chat layout, then loaded on the CPU through ``create_engine`` and timed on the shipped samples
(score + category, batch 1, as ``artimuse score`` runs), in float32 and bf16.

    PYTHONPATH=. python bench/cpu_8b.py [--tokenizer bench/out/tokenizer] [--budget-s 400]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from bench.gpu_suite import FULL  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer", help="folder with the real vocab.json/merges.txt/tokenizer_config.json")
    parser.add_argument("--budget-s", type=float, default=400, help="skip the next case after this")
    args = parser.parse_args()
    start = time.monotonic()
    from artimuse_core import create_engine
    from artimuse_core.synthetic import build_checkpoint
    from tests.sample_images import write_samples

    where = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        folder = build_checkpoint(
            Path(tmp) / "8b", seed=0, dtype=torch.bfloat16, device=device, tokenizer_from=args.tokenizer,
            max_shard_bytes=4 * 2**30, **FULL,
        )  # fmt: skip
        torch.cuda.empty_cache() if device == "cuda" else None
        images = [str(p) for p in write_samples(Path(tmp) / "samples")]
        print(f"built 8B on {device} in {time.monotonic() - start:.0f} s; {os.cpu_count()} CPUs", flush=True)
        for dtype in ("float32", "bfloat16"):
            if time.monotonic() - start > args.budget_s:
                print(f"cpu {dtype}: skipped (budget)")
                continue
            t0 = time.monotonic()
            engine = create_engine(folder, device="cpu", dtype=dtype, batch_size=1)
            load_s = time.monotonic() - t0
            list(engine.evaluate(images[:1], predict_category=True))  # warm-up
            t1 = time.monotonic()
            done = list(engine.evaluate(images[1:3], predict_category=True))
            per_image = (time.monotonic() - t1) / len(done)
            memory = engine.memory.describe() if engine.memory else ""
            print(
                f"cpu {dtype}: load {load_s:.0f} s; {per_image:.1f} s/image (score + category, batch 1, measured); "
                f"ok {all(r.ok for r in done)}; {engine.threads.describe()}; {memory}",
                flush=True,
            )
            del engine


if __name__ == "__main__":
    main()
