"""Select Best's buckets, on batch positions and scores (fast, no model): the best of each run of
near-duplicates competes, the threshold splits the batch into pass and rest (every image in exactly one),
top-k takes the best of those that pass."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

# The module by its file: importing it through the pack would run the pack's __init__ (the nodes, torch and
# transformers: seconds per test process) for what is plain bookkeeping on positions and scores.
_spec = importlib.util.spec_from_file_location(
    "comfyui_buckets", Path(__file__).resolve().parents[1] / "plugins" / "comfyui" / "buckets.py"
)
assert _spec is not None and _spec.loader is not None
buckets = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = buckets  # dataclasses look their module up
_spec.loader.exec_module(buckets)
lines, sort_out = buckets.lines, buckets.sort_out

SCORES = [50.0, 62.0, 61.0, 30.0, 70.0, 70.0]


def test_without_runs_every_image_counts_and_the_threshold_splits_the_batch():
    chosen = sort_out(SCORES, [[i] for i in range(6)], top_k=2, threshold=55.0)
    assert chosen.kept == [4, 5]  # best first, the earlier frame on a tie
    assert chosen.passed == [1, 2, 4, 5] and chosen.rest == [0, 3]
    assert chosen.best_of == list(range(6))


def test_a_run_of_near_duplicates_counts_once_and_its_others_go_to_rest():
    chosen = sort_out(SCORES, [[0], [1, 2], [3], [4, 5]], top_k=3, threshold=0.0)
    assert chosen.kept == [4, 1, 0]  # 70 (frame 5 is frame 4 again), 62 (frame 2 is frame 1 again), 50
    assert chosen.passed == [0, 1, 3, 4] and chosen.rest == [2, 5]
    assert chosen.best_of == [0, 1, 1, 3, 4, 4]
    assert sorted(chosen.passed + chosen.rest) == list(range(6))
    shown = lines(SCORES, chosen)
    assert shown[1] == "#1: 62.00 (kept)" and shown[2] == "#2: 61.00 (rest: near-duplicate of #1)"
    assert shown[3] == "#3: 30.00 (pass)"


def test_a_run_whose_best_is_under_the_threshold_sends_all_of_it_to_rest():
    chosen = sort_out(SCORES, [[0, 1, 2], [3, 4, 5]], top_k=4, threshold=65.0)
    assert chosen.kept == [4] and chosen.passed == [4] and chosen.rest == [0, 1, 2, 3, 5]
    nothing = sort_out(SCORES, [[0, 1, 2], [3, 4, 5]], top_k=4, threshold=99.0)
    assert nothing.kept == [] and nothing.passed == [] and nothing.rest == list(range(6))


@pytest.mark.parametrize("runs", [[[0, 1]], [[0, 1], [1, 2]], [[0], [1], [2], [3], [4], [5], [6]]])
def test_runs_that_do_not_cover_the_batch_once_are_refused(runs):
    with pytest.raises(ValueError, match="do not cover"):
        sort_out(SCORES[:3] if len(runs) < 3 else SCORES, runs, 1, 0.0)
