"""Batched vs one-prompt-per-call critiques: are the token ids equal, per dtype? (a GPU check)

The H200 run of ``bench/gpu_suite.sh`` (2026-11-30) printed "token ids equal: False" for bf16 critiques of
the random 8B-shaped model. Batching changes the shapes of the GEMMs and so their reduction order; in bf16 a
near-tie between the top two logits (random weights make them common) then flips a greedy pick. This script
tells that apart from a bug: it builds one random InternVL3-8B-shaped checkpoint and, for each dtype, prints
per attribute whether the batched and the alone token ids are equal and where they first differ. Equal ids
in float32 with differences only in bf16 mean numerics, not a bug. The CPU tests prove exact equality in
fp32 on the fixtures.

    bash bench/gpu_suite.sh is the main suite; run this one the same way:
    PYTHONPATH=$PWD python3 bench/critique_parity.py            # GPU, 8B shapes
    PYTHONPATH=$PWD python3 bench/critique_parity.py --smoke    # CPU, tiny shapes, seconds
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import torch  # noqa: E402
from gpu_suite import FULL, TINY, find_tokenizer, make_jpegs  # noqa: E402


def first_difference(a: list[int], b: list[int]) -> int | None:
    """Index of the first differing token id (or the shorter length), None when equal."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny shapes")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default 64 (smoke 8)")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    args = parser.parse_args()
    from artimuse_core import ATTRIBUTES, create_engine
    from artimuse_core.synthetic import build_checkpoint

    gpu = torch.cuda.is_available() and not args.smoke
    device = "cuda" if gpu else "cpu"
    shapes = FULL if gpu else TINY
    max_new = args.max_new_tokens or (64 if gpu else 8)
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() and shutil.disk_usage("/dev/shm").free > 40 * 2**30 else None
    work = Path(tempfile.mkdtemp(prefix="artimuse-parity-", dir=base if gpu else None))
    try:
        t = time.perf_counter()
        ckpt = build_checkpoint(
            work / "ckpt",
            seed=0,
            dtype=torch.float32,
            device=device,
            tokenizer_from=find_tokenizer(None),
            max_shard_bytes=(4 * 2**30 if gpu else 2**22),
            **shapes,
        )
        if gpu:
            torch.cuda.empty_cache()
        print(f"build fp32 {'8B' if gpu else 'tiny'} on {device}: {time.perf_counter() - t:.1f} s", flush=True)
        image = make_jpegs(work / "images", 1)
        for dtype in args.dtypes.split(","):
            engine = create_engine(ckpt, device=device, dtype=dtype, attn="sdpa", batch_size=8)
            batched = engine.critique(image, ATTRIBUTES, max_new_tokens=max_new)
            alone = [engine.critique(image, [a], max_new_tokens=max_new)[0] for a in ATTRIBUTES]
            equal = 0
            for attribute, b, a in zip(ATTRIBUTES, batched, alone):
                at = first_difference(list(b.token_ids), list(a.token_ids))
                equal += at is None
                where = "equal" if at is None else f"first differs at token {at} of {len(a.token_ids)}"
                print(f"{dtype:<9} {attribute:<28} {where}", flush=True)
            print(f"{dtype:<9} {equal}/{len(ATTRIBUTES)} attributes token-identical ({max_new} new tokens)", flush=True)
            del engine
            if gpu:
                torch.cuda.empty_cache()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
