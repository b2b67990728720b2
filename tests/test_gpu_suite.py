"""The GPU suite's CPU smoke run: every case the GPU window would run (the profiled batch broken down by
phase, the compiled vision tower, FP8 rounding, critiques, OOM back-off, LoRA) runs on tiny shapes without
an error row, so a typo cannot waste GPU minutes; what needs CUDA says so in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_smoke_run_covers_every_gpu_case():
    env = {**os.environ, "PYTHON": sys.executable}
    out = subprocess.run(
        ["bash", str(REPO / "bench" / "gpu_suite.sh"), "--smoke"], capture_output=True, text=True, env=env, timeout=900
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rows = out.stdout.splitlines()
    for phase in ("host decode wait", "host to device", "vision tower", "shared prefix", "suffix passes"):
        assert any(r.startswith("profile") and phase in r and "% of wall" in r for r in rows), phase
    assert any(r.startswith("profile") and "GPU idle" in r and "n/a on the CPU" in r for r in rows)
    compiled = [r for r in rows if r.startswith("compiled vision tower")]
    assert any("within 0.001: True" in r for r in compiled) and any("skipped: needs CUDA" in r for r in compiled)
    assert any(r.startswith("fp8 weights") and "max score difference" in r for r in rows)
    assert any("token ids equal: True" in r for r in rows)
    assert "0 error row(s)" in out.stdout
