"""`artimuse score` of a folder whose every file is already in the library, against `artimuse top`, in the same
run: the lazy engine's promise is that a fully cached folder loads no model (no torch import, no weights) and
answers within 2x `top`.

Builds the tiny synthetic checkpoint (``artimuse_core.synthetic``), copies the real photographs scikit-image
ships (tests/shoot.py's shoot, 10 files, several formats) into a temporary ARTIMUSE_HOME, scores them once
with the real CLI and the real engine, then times (median of --repeats fresh processes, interleaved so that
machine load hits both alike) `artimuse score SHOOT --model TINY` and `artimuse top`, and prints each median,
the ratio, and whether the cached run imported torch.

    python bench/cached_score.py [--repeats 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def run(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "artimuse_cli", *args], env=env, capture_output=True, text=True)
    return time.perf_counter() - started, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    options = parser.parse_args()
    from artimuse_core.synthetic import build_checkpoint
    from tests.shoot import make_shoot

    with tempfile.TemporaryDirectory(prefix="artimuse-cached-") as scratch:
        root = Path(scratch)
        model = build_checkpoint(root / "tiny", seed=1)
        shoot = make_shoot(root / "shoot").folder
        env = dict(os.environ, ARTIMUSE_HOME=str(root / "home"), PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
        first, done = run(["score", str(shoot), "--model", str(model)], env)
        assert done.returncode == 0, done.stderr
        print(f"first score (loads the tiny model): {first:.2f} s", flush=True)
        cached_args = ["score", str(shoot), "--model", str(model)]
        times: dict[str, list[float]] = {"score (all cached)": [], "top": []}
        for _ in range(options.repeats):
            seconds, done = run(cached_args, env)
            assert done.returncode == 0 and "nothing needed scoring" in done.stderr, done.stderr
            times["score (all cached)"].append(seconds)
            seconds, done = run(["top", "-n", "20"], env)
            assert done.returncode == 0, done.stderr
            times["top"].append(seconds)
        probe = (
            "import sys, runpy; sys.argv = ['artimuse', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('artimuse_cli', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print('torch imported:', 'torch' in sys.modules, file=sys.stderr)"
        )
        checked = subprocess.run([sys.executable, "-c", probe, *cached_args], env=env, capture_output=True, text=True)
        medians = {name: statistics.median(values) for name, values in times.items()}
        for name, value in medians.items():
            print(f"{name:>20}: median {value:.3f} s over {options.repeats} runs (min {min(times[name]):.3f})")
        print(f"ratio score/top: {medians['score (all cached)'] / medians['top']:.2f}x (goal: within 2x)")
        print(checked.stderr.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
