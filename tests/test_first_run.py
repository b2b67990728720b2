"""A newcomer's first run, as the README tells it: command 1 installs, asks `artimuse doctor` whether the
default model can run here, and scores the sample images the repo ships with it, or runs `artimuse demo`
when it cannot (that whole path as a process: tests/test_demo.py). `score` itself, without the weights,
ends with one clear message and exit code 2."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from artimuse_cli.main import AppContext, cli
from tests.sample_images import SAMPLES, write_samples

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The two lines of the README's first code block."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "the README starts with a bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def install_steps() -> list[str]:
    """README command 1 up to its first run: the `&&` steps that create, activate and fill the venv."""
    first = readme_commands()[0]
    return [step.strip() for step in first[: first.index("(")].split("&&") if step.strip()]


def first_run_fallback() -> str:
    """The end of README command 1, in its parentheses: `artimuse doctor && artimuse score samples/ ||
    artimuse demo` (run as it is printed, with the venv's bin first on PATH)."""
    first = readme_commands()[0]
    return first[first.index("(") + 1 : first.rindex(")")]


def first_run_commands() -> list[list[str]]:
    """Each `artimuse ...` of that fallback, as words (`&&` and `||` between them)."""
    return [shlex.split(part) for part in re.split(r"&&|\|\|", first_run_fallback())]


def first_score_arguments() -> list[str]:
    """The `artimuse score ...` of README command 1, as arguments (after `artimuse`)."""
    (words,) = [w for w in first_run_commands() if w[1] == "score"]
    return words[1:]


def test_readme_command_1_installs_with_the_constraints_and_scores_only_what_the_repo_ships():
    steps, second = install_steps(), readme_commands()[1]
    assert steps[:2] == ["python3 -m venv .venv", ". .venv/bin/activate"]  # one convention: the venv activated
    assert steps[2] == "pip install torch==2.13.0 -c constraints.txt" and steps[3].endswith("-c constraints.txt")
    assert [w[:2] for w in first_run_commands()] == [
        ["artimuse", "doctor"],
        ["artimuse", "score"],
        ["artimuse", "demo"],
    ]
    assert re.fullmatch(r"artimuse doctor && artimuse score \S+ \|\| artimuse demo", first_run_fallback().strip())
    arguments = first_score_arguments()
    assert arguments[0] == "score" and not any(a.startswith("--model") for a in arguments), arguments
    for argument in arguments[1:]:
        if not argument.startswith("-"):
            assert (REPO / argument).exists() and ".." not in Path(argument).parts  # nothing beside the clone
    assert second == "python -m pytest -q"


def test_samples_are_the_ones_this_script_draws(tmp_path):
    """Own-made (CC0): the committed files are what tests/sample_images.py draws, within JPEG noise."""
    shipped = REPO / "samples"
    assert sorted(p.name for p in shipped.iterdir()) == sorted(SAMPLES)
    for drawn in write_samples(tmp_path):
        committed = shipped / drawn.name
        assert committed.stat().st_size < 100_000, "samples stay small"
        a = np.asarray(Image.open(committed).convert("RGB"), dtype=np.int16)
        b = np.asarray(Image.open(drawn).convert("RGB"), dtype=np.int16)
        assert a.shape == b.shape and np.abs(a - b).mean() < 1.0, drawn.name


def test_without_the_weights_command_1_ends_with_the_one_clear_message(monkeypatch):
    """Offline, default model, empty cache: exit 2 and one message saying where the files go and how to get
    them (conftest isolates the Hugging Face cache and sets HF_HUB_OFFLINE)."""
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("ARTIMUSE_MODEL", raising=False)
    result = CliRunner().invoke(cli, first_score_arguments(), obj=AppContext())
    assert result.exit_code == 2, result.output
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("Error: Thunderbolt215215/ArtiMuse is not in the local Hugging Face cache")
    assert "hf download Thunderbolt215215/ArtiMuse" in message and "HF_HOME" in message
    assert "--model" in message and "Traceback" not in result.output


def test_command_1_scores_the_samples_with_the_default_model_from_the_cache(tiny_chat, tmp_path, monkeypatch):
    """README command 1 word for word, with "the weights in the HF cache": the tiny checkpoint placed as
    the default model's snapshot in a private Hugging Face cache, so the short name resolves through the
    cache exactly as the published checkpoint does after its download."""
    import shutil

    import huggingface_hub.constants as hf

    hub = tmp_path / "hub"
    repo = hub / "models--Thunderbolt215215--ArtiMuse"
    shutil.copytree(tiny_chat, repo / "snapshots" / ("b" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("b" * 40)
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(hub))
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("ARTIMUSE_MODEL", raising=False)
    monkeypatch.setenv("ARTIMUSE_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(cli, first_score_arguments(), obj=AppContext())
    assert result.exit_code == 0, result.output
    assert "5 scored" in result.stderr
    for name in SAMPLES:
        assert name in result.stdout
    rows = json.loads(CliRunner().invoke(cli, [*first_score_arguments(), "--json"], obj=AppContext()).stdout)
    assert {r["provenance"]["repo_id"] for r in rows} == {None}  # read back from the library (not stored)
    assert {r["model"] for r in rows} == {"ArtiMuse"} and {r["status"] for r in rows} == {"cached"}


def test_command_1_scores_the_samples_through_the_real_engine(tiny_chat, tmp_path, monkeypatch):
    """The same step and code path (config -> spec -> checkpoint -> engine), the model named by
    ARTIMUSE_MODEL as a user would name a downloaded folder."""
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("ARTIMUSE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARTIMUSE_MODEL", str(tiny_chat))
    result = CliRunner().invoke(cli, first_score_arguments(), obj=AppContext())
    assert result.exit_code == 0, result.output
    assert "5 scored" in result.stderr
    for name in SAMPLES:
        assert name in result.stdout
    rows = json.loads(CliRunner().invoke(cli, [*first_score_arguments(), "--json"], obj=AppContext()).stdout)
    assert sorted(Path(r["path"]).name for r in rows) == sorted(SAMPLES)
    assert {r["status"] for r in rows} == {"cached"}  # recorded in the library by the first run
    assert all(0 <= r["score"] <= 100 for r in rows)


@pytest.mark.parametrize("text", ["3%", "percentile"])
def test_help_says_what_it_means(text):
    args = ["finetune", "--help"] if text == "3%" else ["top", "--help"]
    output = CliRunner().invoke(cli, args).output
    assert text in output and "%%" not in output
