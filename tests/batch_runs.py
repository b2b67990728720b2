"""Helpers of the real-Ray batch tests (tests/test_batch_cluster.py, tests/test_batch_ray.py): a corpus of
real image files with a few broken ones, `artimuse batch` as a subprocess (the user's path), and what an
output holds: rows, duplicates, inputs lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

CORRUPT = {"empty.png": b"", "garbage.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "text.jpg": b"hello, not a jpeg"}


def make_corpus(folder: Path, good: int, seed: int = 7) -> Path:
    """``good`` small random images (PNG and JPEG), the ``CORRUPT`` files and a half-copied JPEG."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(good):
        size = (int(rng.integers(24, 96)), int(rng.integers(24, 96)))
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:03d}.{'png' if i % 2 else 'jpg'}")
    for name, data in CORRUPT.items():
        (folder / name).write_bytes(data)
    whole = (folder / "img000.jpg").read_bytes()
    (folder / "half.jpg").write_bytes(whole[: len(whole) // 2])
    return folder


def inputs_of(folder: Path) -> set[bytes]:
    return {os.fsencode(p) for p in folder.iterdir()}


def batch_command(corpus: Path, output: Path, model: Path, *extra: str, batch_size: int = 1) -> list[str]:
    command = [sys.executable, "-m", "artimuse_cli", "batch", str(corpus), "--output", str(output)]
    return command + ["--model", str(model), "--batch-size", str(batch_size), "--part-seconds", "0", *extra]


def run(command: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a driver to its end (``tests.processes.spawn``: ended with the test should it fail meanwhile)."""
    from tests import processes

    driver = processes.spawn(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = driver.communicate(timeout=timeout)
    return subprocess.CompletedProcess(command, driver.returncode, out, err)


def rows_written(output: Path) -> int:
    import pyarrow.parquet as pq

    from artimuse_batch import parts

    return sum(pq.read_metadata(p).num_rows for p in parts.part_files(output))


def start(command: list[str], env: dict[str, str], logs: Path) -> subprocess.Popen:
    """Start a driver in the background: in a process group of its own, ended with the test that started it,
    passed or failed (``tests.processes.spawn``); its stderr in a file under ``logs`` (a pipe nobody reads
    would stall a talkative driver)."""
    from tests import processes

    log = logs / f"driver-{time.monotonic_ns()}.err"
    with open(log, "w") as handle:
        driver = processes.spawn(command, env=env, stdout=subprocess.PIPE, stderr=handle, text=True)
    driver.log = log  # type: ignore[attr-defined]
    return driver


def start_and_wait_for_rows(command: list[str], env: dict[str, str], output: Path, rows: int) -> subprocess.Popen:
    """Start a driver (``start``) and return once ``rows`` rows are in ``output`` (it must still be running)."""
    driver = start(command, env, output.parent)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and driver.poll() is None and rows_written(output) < rows:
        time.sleep(0.05)
    if driver.poll() is not None:
        raise AssertionError(f"the run ended before it could be stopped half-way:\n{stderr_of(driver)[-3000:]}")
    return driver


def stderr_of(driver: subprocess.Popen) -> str:
    return driver.log.read_text(errors="replace")  # type: ignore[attr-defined]


def finish(driver: subprocess.Popen, timeout: float = 600) -> tuple[int, str, str]:
    """Wait for a driver: (exit code, stdout, stderr)."""
    out, _ = driver.communicate(timeout=timeout)
    return driver.returncode, out, stderr_of(driver)


def stop(driver: subprocess.Popen, sig: int = signal.SIGKILL, timeout: float = 120, *, group: bool = False) -> str:
    """Send ``sig`` to the driver only (``group``: to its whole process group, as a terminal's Ctrl-C does);
    its stderr once it exited."""
    if group:
        os.killpg(driver.pid, sig)
    else:
        os.kill(driver.pid, sig)
    return finish(driver, timeout)[2]


def table(output: Path) -> list[dict]:
    import pyarrow.parquet as pq

    columns = ["key", "path", "status", "score", "std", "category", "error_kind", "error"]
    return pq.read_table(output, columns=columns).to_pylist()


def counts(output: Path, expected: set[bytes]) -> dict[str, int]:
    """``rows`` in the output, ``duplicates`` (rows beyond the first of one input), inputs ``lost``."""
    keys = Counter(row["key"] for row in table(output))
    return {
        "rows": sum(keys.values()),
        "duplicates": sum(n - 1 for n in keys.values()),
        "lost": len(expected - set(keys)),
    }


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def running(process) -> bool:
    """A ``psutil.Process`` still running (a zombie is not: it only waits to be reaped)."""
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
