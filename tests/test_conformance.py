"""The engine against the reference outputs shipped in ../shared/conformance (skipped when absent)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from artimuse_cli.main import cli
from artimuse_core import create_engine, prompts
from artimuse_core.images import open_rgb

from .conftest import conformance_dirs

SETS = conformance_dirs()
pytestmark = pytest.mark.skipif(not SETS, reason="no conformance fixtures (../shared/conformance) present")


def _checkpoint(folder: Path) -> Path:
    return next(p for p in folder.iterdir() if (p / "config.json").is_file())


@pytest.fixture(scope="module", params=SETS, ids=lambda p: p.name)
def fixture_set(request):
    folder = request.param
    expected = json.loads((folder / "expected.json").read_text())
    engine = create_engine(_checkpoint(folder), batch_size=8)
    return folder, expected, engine


def test_prompt_ids_match_reference(fixture_set):
    _, expected, engine = fixture_set
    assert engine.score_prompt_ids.tolist() == expected["score_prompt"]["token_ids"]
    tokenizer, loaded = engine.loaded.tokenizer, engine.loaded
    for case in expected["critiques"]:
        text = prompts.render_prompt(loaded.system_message, prompts.critique_question(case["attribute"]))
        assert tokenizer.encode(text, add_special_tokens=False) == case["prompt_token_ids"]
    assert loaded.score_token_ids == expected["score_tokens"]["token_ids"]


def test_pixels_are_bit_identical(fixture_set):
    folder, expected, _ = fixture_set
    for entry in expected["images"]:
        pixels = open_rgb(folder / entry["file"]).pixel_values[None]
        digest = hashlib.sha256(pixels.astype("<f4").tobytes()).hexdigest()
        assert digest == entry["pixel_values"]["sha256_f32le"], entry["file"]


def test_scores_and_probabilities_match(fixture_set):
    folder, expected, engine = fixture_set
    results = engine.score([folder / e["file"] for e in expected["images"]])
    tol = expected["tolerances"]
    for result, entry in zip(results, expected["images"]):
        assert result.ok, result.error
        assert abs(result.score - entry["score"]) <= tol["score_abs"], entry["file"]
        assert np.max(np.abs(np.array(result.distribution) - entry["probs"])) <= tol["probs_abs_recommended"]


def test_batched_critiques_match_token_for_token(fixture_set):
    folder, expected, engine = fixture_set
    files = list(dict.fromkeys(c["file"] for c in expected["critiques"]))
    attributes = list(dict.fromkeys(c["attribute"] for c in expected["critiques"]))
    max_new = expected["critiques"][0]["generation"]["max_new_tokens"]
    results = engine.critique([folder / f for f in files], attributes, max_new_tokens=max_new)
    got = {(Path(r.path).name, r.attribute): r for r in results}
    for case in expected["critiques"]:
        result = got[(Path(case["file"]).name, case["attribute"])]
        reference_ids = [i for i in case["new_token_ids"] if i != engine.loaded.eos_token_id]
        assert result.token_ids == reference_ids[: len(result.token_ids)]
        assert len(result.token_ids) == len(reference_ids)
        assert result.text == case["response"]


def test_decode_matches_reference_post_processing(fixture_set):
    _, expected, engine = fixture_set
    for name, case in expected["decode_cases"]["cases"].items():
        assert engine.decode_response(case["ids"]) == case["response"], name


def test_cli_scores_the_images_folder(fixture_set):
    folder, expected, _ = fixture_set
    result = CliRunner().invoke(
        cli, ["score", str(folder / "images"), "--model", str(_checkpoint(folder)), "--format", "jsonl"]
    )
    assert result.exit_code == 0, result.output
    rows = {Path(r["path"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert len(rows) == len(expected["images"])
    for entry in expected["images"]:
        assert abs(rows[Path(entry["file"]).name]["score"] - entry["score"]) <= expected["tolerances"]["score_abs"]
