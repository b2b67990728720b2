"""LoRA fine-tuning on the user's ratings, on CPU with a tiny model: ratings follow a visual property
(colour warmth: red up and blue down by the same amount, at a random brightness, because a random model's
scores already track brightness itself); after `artimuse finetune --from-db` the held-out SRCC rises from
near 0 to above 0.8, and the adapter reloads in a fresh process with the same scores."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from scipy import stats

from artimuse_cli.main import cli
from artimuse_core import CheckpointError, create_engine
from artimuse_core.finetune import Callbacks, FinetuneError, FinetuneSettings, finetune
from artimuse_core.library import Library

pytestmark = pytest.mark.slow
TRAIN_ARGS = [
    "--epochs",
    "16",
    "--rank",
    "8",
    "--lr",
    "1e-2",
    "--micro-batch",
    "4",
    "--grad-accum",
    "2",
    "--min-ratings",
    "10",
    "--val-split",
    "0.25",
]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def rated(tmp_path_factory):
    """36 images whose rating is their colour warmth, rated through the library API in their own home."""
    root = tmp_path_factory.mktemp("ft")
    home = root / "home"
    rng = np.random.default_rng(0)
    import os

    old = os.environ.get("ARTIMUSE_HOME")
    os.environ["ARTIMUSE_HOME"] = str(home)
    library = Library()
    ratings = {}
    for i in range(36):
        grey, warmth = rng.uniform(0.25, 0.75), rng.uniform(-0.2, 0.2)
        pixels = np.clip(rng.normal(grey, 0.08, (64, 64, 3)), 0, 1)
        pixels[..., 0] += warmth
        pixels[..., 2] -= warmth
        path = root / f"im{i:02d}.png"
        Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8)).save(path)
        ratings[str(path)] = 50 + 200 * warmth
        library.rate(path, score=ratings[str(path)])
    yield home, ratings
    if old is not None:
        os.environ["ARTIMUSE_HOME"] = old


@pytest.fixture(scope="module")
def trained(rated, tiny_chat):
    home, ratings = rated
    result = run("finetune", "--from-db", "--name", "bright", "--model", tiny_chat, *TRAIN_ARGS, "--json")
    assert result.exit_code == 0, result.output
    return home, ratings, json.loads(result.stdout)


def test_finetune_raises_heldout_srcc(trained):
    _, _, record = trained
    before, after = record["metrics"]["before"], record["metrics"]["after"]
    assert before["n"] == after["n"] == 9 and record["train_size"] == 27
    assert abs(before["srcc"]) < 0.5, before
    assert after["srcc"] > 0.8, after
    assert record["hyperparameters"]["alpha"] == 16 and record["hyperparameters"]["rank"] == 8


def test_scores_recorded_with_the_adapter_follow_the_ratings(trained, tiny_chat):
    home, ratings, record = trained
    with open(f"{record['path']}/artimuse_adapter.json") as handle:
        val = json.load(handle)["val_images"]
    result = run("score", *val, "--model", tiny_chat, "--adapter", "bright", "-f", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    srcc = stats.spearmanr([r["score"] for r in rows], [ratings[r["path"]] for r in rows]).statistic
    assert srcc > 0.8
    shown = Library().show(val[0])
    assert shown.evaluations[0].adapter == "bright"


def test_adapter_reloads_in_a_fresh_process_with_the_same_scores(trained, tiny_chat):
    home, ratings, record = trained
    paths = sorted(ratings)[:5]
    here = [r.score for r in create_engine(tiny_chat, adapter="bright").score(paths)]
    script = (
        "import json, sys; from artimuse_core import create_engine; "
        f"print(json.dumps([r.score for r in create_engine({str(tiny_chat)!r}, adapter='bright')"
        f".score({paths!r})]))"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "ARTIMUSE_HOME": str(home)},
    )
    assert np.max(np.abs(np.array(json.loads(fresh.stdout)) - here)) < 1e-5
    base = [r.score for r in create_engine(tiny_chat).score(paths)]
    assert np.max(np.abs(np.array(base) - here)) > 1e-2  # the adapter does change the scores


def test_adapters_commands_and_base_mismatch(trained, tmp_path):
    listed = json.loads(run("adapters", "list", "--json").stdout)
    assert [a["name"] for a in listed] == ["bright"]
    assert json.loads(run("adapters", "show", "bright").stdout)["train_size"] == 27
    from artimuse_core.synthetic import build_checkpoint

    other = build_checkpoint(tmp_path / "other", seed=9)
    with pytest.raises(CheckpointError, match="was trained on base model"):
        create_engine(other, adapter="bright")
    Image.new("RGB", (32, 32), (90, 120, 200)).save(tmp_path / "a.png")  # a folder with nothing to score
    missing = run("score", str(tmp_path), "--model", other, "--adapter", "nope")  # would not load a model
    assert missing.exit_code == 2 and "no adapter named" in missing.output


def test_too_few_ratings_is_refused(rated, tiny_chat):
    result = run("finetune", "--from-db", "--name", "x", "--model", tiny_chat, "--min-ratings", "100")
    assert result.exit_code == 2 and "too few ratings" in result.output


def test_interrupt_saves_and_resume_finishes(rated, tiny_chat):
    engine = create_engine(tiny_chat)
    library = Library()
    settings = FinetuneSettings(
        name="resumable", epochs=3, rank=4, lr=1e-2, micro_batch=4, grad_accum=2, min_ratings=10, val_split=0.25
    )

    def stop_at_step_5(step, total, loss):
        if step == 5:
            raise KeyboardInterrupt

    with pytest.raises(FinetuneError, match="resume setting"):
        finetune(engine, library, settings, Callbacks(on_step=stop_at_step_5))
    steps = []
    resumed = finetune(
        create_engine(tiny_chat),
        library,
        FinetuneSettings(name="resumable", resume=True),
        Callbacks(on_step=lambda s, t, loss: steps.append((s, t))),
    )
    assert steps[0][0] == 6 and steps[-1][0] == steps[-1][1] == 12
    assert resumed["hyperparameters"]["epochs"] == 3 and library.adapter("resumable") is not None


def test_score_with_an_adapter_prints_no_third_party_warnings(trained, tiny_chat):
    """peft/transformers warnings (Python warnings or their own loggers) stay out unless --verbose."""
    home, ratings, _ = trained
    paths = sorted(ratings)[:2]
    command = [sys.executable, "-m", "artimuse_cli", "score", *paths, "--model", str(tiny_chat)]
    command += ["--adapter", "bright", "--no-save", "--json"]
    env = {**__import__("os").environ, "ARTIMUSE_HOME": str(home)}
    quiet = subprocess.run(command, capture_output=True, text=True, env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert [line for line in quiet.stderr.splitlines() if line.strip()] == ["2 scored"], quiet.stderr
    assert len(json.loads(quiet.stdout)) == 2


def test_training_with_activation_checkpointing_calls_nothing_deprecated(rated, tiny_chat):
    """Gradient (activation) checkpointing, on by default on CUDA, through transformers' current names: a
    run with it raises no FutureWarning or DeprecationWarning (transformers 5 warns on the old names, which
    v6 removes)."""
    import warnings

    settings = FinetuneSettings(
        name="checkpointed", epochs=1, rank=4, micro_batch=4, grad_accum=1, min_ratings=10, gradient_checkpointing=True
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        finetune(create_engine(tiny_chat), Library(), settings, Callbacks())
    deprecated = [str(w.message) for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))]
    assert deprecated == []
