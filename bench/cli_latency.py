"""How long `artimuse` takes to answer, against the bare cost of its two main libraries, in the same run.

Times (median of --repeats runs, each a fresh process) `artimuse --version`, `top`, `show IMAGE` and
`rate IMAGE --stars 4` on a small library in a temporary ARTIMUSE_HOME, and the baseline
`python -c "import click, sqlalchemy"`, interleaved so that machine load hits both alike. Prints each
median and its ratio to the baseline; the goal is within 2x.

    python bench/cli_latency.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def prepare(home: Path) -> Path:
    """A library at the newest revision with one scored image (made with the fake engine: no model)."""
    image = home / "photo.png"
    env = dict(os.environ, ARTIMUSE_HOME=str(home), PYTHONPATH=str(REPO))
    script = (
        "import numpy as np; from PIL import Image; "
        f"Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save({str(image)!r}); "
        "from artimuse_core.library import Library, ingest; from artimuse_core.testing import FakeEngine; "
        f"list(ingest(FakeEngine(), Library(), [{str(image)!r}]))"
    )
    subprocess.run([sys.executable, "-c", script], env=env, check=True)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="artimuse-latency-"))
    try:
        image = prepare(home)
        artimuse = [sys.executable, "-m", "artimuse_cli"]
        cases = {
            'python -c "import click, sqlalchemy"': [sys.executable, "-c", "import click, sqlalchemy"],
            "artimuse --version": [*artimuse, "--version"],
            "artimuse top": [*artimuse, "top"],
            "artimuse show IMAGE": [*artimuse, "show", str(image)],
            "artimuse rate IMAGE --stars 4": [*artimuse, "rate", str(image), "--stars", "4"],
        }
        env = dict(os.environ, ARTIMUSE_HOME=str(home), PYTHONPATH=str(REPO))
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeats):
            for name, command in cases.items():  # interleaved: load changes hit every case alike
                start = time.perf_counter()
                subprocess.run(
                    command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=home
                )
                samples[name].append(time.perf_counter() - start)
        medians = {name: statistics.median(values) for name, values in samples.items()}
        baseline = medians['python -c "import click, sqlalchemy"']
        print(
            f"{'command':<40} {'median s':>9} {'ratio':>7}   (load average {os.getloadavg()[0]:.1f}, "
            f"{args.repeats} runs each)"
        )
        for name, median in medians.items():
            print(f"{name:<40} {median:9.3f} {median / baseline:6.2f}x")
        worst = max(m / baseline for n, m in medians.items() if n.startswith("artimuse"))
        print(f"worst ratio {worst:.2f}x (goal: within 2x)")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
