"""`artimuse batch` on a REAL local Ray instance with a tiny real checkpoint (slow): every good image's score
equals `artimuse score --no-save`, every corrupt one has its error row, a second run scores nothing new, and
a run whose driver is SIGKILLed half-way resumes to every image exactly once.

Exactness: `artimuse score` without a category also predicts it, from the prefix the score shares, so the
batch runs predict it too (their default): the same computation path. The engine's float32 results also
move by a few ULPs with WHICH images share a forward pass (measured: up to 1.9e-5 on a score when only the
batch composition changes, in one process; tests/test_engine.py::test_batch_results_equal_one_by_one holds
the engine to 1e-4 on the score and 1e-5 on each probability across compositions). Ray forms its batches in
its own order, so the 1e-5 comparison runs both sides with batch size 1 (each image alone: the same
computation); the killed run uses batch size 2 and is held to the engine's own batch contract."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
pq = pytest.importorskip("pyarrow.parquet")

from artimuse_batch import inputs, parts, pipeline  # noqa: E402
from artimuse_core.spec import EngineSpec  # noqa: E402

pytestmark = pytest.mark.slow

GOOD = 200
CORRUPT = {"empty.png": b"", "garbage.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "text.jpg": b"hello, not a jpeg"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch_corpus")
    rng = np.random.default_rng(7)
    for i in range(GOOD):
        size = (int(rng.integers(24, 96)), int(rng.integers(24, 96)))
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:03d}.{'png' if i % 2 else 'jpg'}")
    for name, data in CORRUPT.items():
        (folder / name).write_bytes(data)
    whole = (folder / "img000.jpg").read_bytes()
    (folder / "half.jpg").write_bytes(whole[: len(whole) // 2])  # a half-copied file
    return folder


@pytest.fixture(scope="module")
def expected(corpus, tiny_chat):
    """`artimuse score --no-save` on the same folder: path -> its JSON row."""
    import json

    from click.testing import CliRunner

    from artimuse_cli.main import AppContext, cli

    result = CliRunner().invoke(
        cli,
        ["score", str(corpus), "--no-save", "--format", "json", "--model", str(tiny_chat), "--batch-size", "1"],
        obj=AppContext(),
    )
    rows = json.loads(result.stdout)
    assert len(rows) == GOOD + len(CORRUPT) + 1
    return {row["path"]: row for row in rows}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def table(output) -> list[dict]:
    columns = ["key", "path", "status", "score", "std", "category", "error_kind", "error"]
    return pq.read_table(output, columns=columns).to_pylist()


def test_batch_scores_equal_artimuse_score_and_a_rerun_scores_nothing(corpus, tiny_chat, expected, local_ray, tmp_path):
    spec = EngineSpec(model=str(tiny_chat), batch_size=1)
    output = tmp_path / "results.parquet"
    first = pipeline.run_batch(inputs.collect_inputs([str(corpus)]), output, spec, predict_category=True)
    assert first.statuses["scored"] == GOOD and first.statuses["failed"] == len(CORRUPT) + 1
    rows = table(output)
    assert len(rows) == len(expected)
    for row in rows:
        want = expected[os.fsdecode(row["key"])]
        assert row["status"] == want["status"], row["path"]
        if want["status"] == "scored":
            assert abs(row["score"] - want["score"]) < 1e-5, row["path"]
            assert abs(row["std"] - want["std"]) < 1e-5, row["path"]
            assert row["category"] == want["category"], row["path"]
        else:
            assert (row["error_kind"], row["error"]) == (want["error_kind"], want["error"])
    assert {r["error_kind"] for r in rows if r["status"] == "failed"} == {"empty", "corrupt", "not_an_image"}

    second = pipeline.run_batch(inputs.collect_inputs([str(corpus)]), output, spec, predict_category=True)
    assert (second.statuses["scored"], second.statuses["failed"], second.skipped) == (0, 0, len(expected))
    assert len(table(output)) == len(expected)


def test_a_killed_run_resumes_to_every_image_exactly_once(corpus, tiny_chat, expected, tmp_path):
    output = tmp_path / "killed.parquet"
    command = [sys.executable, "-m", "artimuse_cli", "batch", str(corpus), "--output", str(output)]
    command += ["--model", str(tiny_chat), "--batch-size", "2", "--cpus", "2", "--part-seconds", "0"]
    driver = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and driver.poll() is None:
            done = sum(pq.read_metadata(p).num_rows for p in parts.part_files(output))
            if done >= 20:
                break
            time.sleep(0.05)
        assert driver.poll() is None, "the run ended before it could be killed half-way"
        os.kill(driver.pid, signal.SIGKILL)  # the driver only, mid-run
        driver.wait()
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)  # then the local Ray it started
        except ProcessLookupError:
            pass
    killed_at = len(table(output))
    assert 20 <= killed_at < len(expected)

    finish = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finish.returncode == 1, finish.stderr  # 1: some inputs failed (the corrupt ones), as `score`
    assert f"{killed_at} skipped" in finish.stderr
    rows = table(output)
    counts = Counter(r["key"] for r in rows)
    assert sorted(os.fsdecode(k) for k in counts) == sorted(expected)
    assert set(counts.values()) == {1}
    for row in rows:
        if row["status"] == "scored":  # batches of 2 in Ray's order: the engine's batch contract (see above)
            assert abs(row["score"] - expected[os.fsdecode(row["key"])]["score"]) < 1e-4
