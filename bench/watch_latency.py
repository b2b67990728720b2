"""Watcher latency and throughput with the tiny seeded model, through a real `artimuse watch` process.

Latency: files written one at a time; for each, the time from its close to its evaluation row in the
library (polled every 10 ms). Most of it is the debounce interval, by design: a file must stay unchanged
that long before it counts as complete. Throughput: a flood of files dropped at once, files/s from the
first write to the last row.

    python bench/watch_latency.py [--files 40] [--flood 500] [--debounce 0.25]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def png(seed: int, size=(48, 64)) -> bytes:
    buffer = io.BytesIO()
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def scored(db: Path) -> set[str]:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return {p for (p,) in conn.execute("SELECT i.path FROM evaluations e JOIN images i ON i.id = e.image_id")}
    except sqlite3.OperationalError:
        return set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--flood", type=int, default=500)
    parser.add_argument("--debounce", type=float, default=0.25)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    from artimuse_core.synthetic import build_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        checkpoint = build_checkpoint(tmp / "tiny", seed=1)
        home, folder = tmp / "home", tmp / "watched"
        folder.mkdir()
        db = home / "library.db"
        env = dict(os.environ, ARTIMUSE_HOME=str(home))
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "artimuse_cli",
                "watch",
                str(folder),
                "--model",
                str(checkpoint),
                "--debounce",
                str(args.debounce),
                "--batch-size",
                str(args.batch_size),
            ],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        status = home / "run" / "watcher.json"
        while not (status.exists() and json.loads(status.read_text()).get("state") == "running"):
            time.sleep(0.05)  # "starting" while the model loads
        latencies = []
        for i in range(args.files):
            path = folder / f"single{i:03d}.png"
            with open(path, "wb") as handle:
                handle.write(png(i))
            closed = time.perf_counter()
            while str(path) not in scored(db):
                time.sleep(0.01)
            latencies.append(time.perf_counter() - closed)
            time.sleep(0.1)
        latencies.sort()
        print(
            f"latency close -> row ({args.files} files one at a time, debounce {args.debounce} s): "
            f"median {1000 * statistics.median(latencies):.0f} ms, "
            f"p95 {1000 * latencies[int(0.95 * (len(latencies) - 1))]:.0f} ms"
        )
        flood = folder / "flood"
        flood.mkdir()
        start = time.perf_counter()
        for i in range(args.flood):
            (flood / f"f{i:04d}.png").write_bytes(png(10_000 + i))
        written = time.perf_counter()
        while len(scored(db)) < args.files + args.flood:
            time.sleep(0.05)
        end = time.perf_counter()
        print(
            f"flood of {args.flood}: written in {written - start:.1f} s, all in the library after "
            f"{end - start:.1f} s: {args.flood / (end - start):.1f} files/s "
            f"(batch {args.batch_size}, {os.cpu_count()} cores)"
        )
        proc.send_signal(signal.SIGTERM)
        print(f"watcher exit code after SIGTERM: {proc.wait(timeout=60)}")


if __name__ == "__main__":
    main()
