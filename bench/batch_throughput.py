"""`artimuse batch` on a local Ray against single-process `artimuse score`, same images, same run.

Four sides, each a fresh `artimuse` process over the same synthetic images and one seeded tiny checkpoint
(the real vocabulary is not needed for a ratio of plumbing: decode, transfer, batching, start-up):

- `score`: `artimuse score DIR --no-save` (one process, the product's thread plan over every core);
- `batch x1`: `artimuse batch DIR --ray local --actors 1` (Ray gives each actor one core, OMP_NUM_THREADS=1);
- `batch x2`: `--actors 2`;
- `batch x1, 1 CPU`: `--actors 1 --cpus 1`: no CPU is left beside the actor, so it decodes its own batches
  (`stages.place`), in turn with its model on one core, where `batch x1` decodes in tasks beside it (on the
  second core): against `batch x1` it shows what giving up parallel decoding costs.

Printed per side: wall seconds of the whole command (start-up included: Ray's start, each actor's model
load) and images/s over that, then the pipeline's own images/s (`BatchSummary`: from the first task to the
last row written), and the ratios against `score`. The local Ray instance gets `actors + 1` logical CPUs
so that decode tasks can be scheduled beside the actors (`--cpus`).

What 2 cores can and cannot show: two actors of one thread each against one process of two threads use the
same cores, so the ratio measures Ray's overhead and start-up, not scaling; scaling needs more cores or GPUs
than engines (one actor per GPU: `bench/gpu_suite.sh` territory). On a shared machine, figures move with the
load: compare ratios from one run, never figures across runs.

    python bench/batch_throughput.py                 # 96 images, batch size 8
    python bench/batch_throughput.py --images 400 --batch-size 16
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_images(folder: Path, count: int, seed: int = 0) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        w, h = int(rng.integers(300, 900)), int(rng.integers(300, 900))
        pixels = np.clip(rng.normal(rng.uniform(30, 220), 40, (h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:04d}.{'jpg' if i % 2 else 'png'}")


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    from artimuse_core.synthetic import build_checkpoint

    cli = [sys.executable, "-m", "artimuse_cli"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("ARTIMUSE_HOME", str(root / "home"))
        os.environ["HF_HUB_OFFLINE"] = "1"
        checkpoint = build_checkpoint(root / "tiny", seed=1)
        make_images(root / "images", args.images)
        common = ["--model", str(checkpoint), "--batch-size", str(args.batch_size)]
        print(f"{args.images} images, batch size {args.batch_size}, {os.cpu_count()} cores, tiny checkpoint")

        base, done = timed([*cli, "score", str(root / "images"), "--no-save", "--format", "json", *common])
        scores = {r["path"]: r["score"] for r in json.loads(done.stdout)}
        print(f"{'score (one process)':<22} {base:7.1f} s  {args.images / base:6.2f} images/s   1.00x")
        sides = [(actors, actors + 1) for actors in args.actors] + [(1, 1)]
        for actors, cpus in sides:
            output = root / f"out{actors}-{cpus}.parquet"
            command = [*cli, "batch", str(root / "images"), "--output", str(output), "--json", *common]
            command += ["--ray", "local", "--actors", str(actors), "--cpus", str(cpus)]
            wall, done = timed(command)
            summary = json.loads(done.stdout)
            import pyarrow.parquet as pq

            rows = pq.read_table(output, columns=["key", "score"]).to_pylist()
            worst = max(abs(r["score"] - scores[os.fsdecode(r["key"])]) for r in rows)
            label = f"batch x{actors}" + (", 1 CPU" if cpus == 1 else "")
            print(
                f"{label:<22} {wall:7.1f} s  {args.images / wall:6.2f} images/s   "
                f"{base / wall:.2f}x   pipeline {summary['images_per_second']:.2f} images/s "
                f"({summary['seconds']:.1f} s); max |score - score's| {worst:.1e}; {summary['placement']}"
            )


if __name__ == "__main__":
    main()
