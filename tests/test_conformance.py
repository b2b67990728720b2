"""The engine against the reference outputs shipped in ../shared/conformance (ArtiMuse) and
../shared/conformance-unipercept (UniPercept), or the sets in ARTIMUSE_CONFORMANCE_DIRS (skipped when absent).
The same tests read both layouts: a set's score prompts and scores by dimension (ArtiMuse's single one is
``iaa``), its chat answers by question."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from artimuse_cli.main import cli
from artimuse_core import create_engine
from artimuse_core.asking import chat_prompt_ids
from artimuse_core.images import open_rgb

from .conftest import conformance_dirs, expected_dimensions, expected_scores

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
    dimensions = expected_dimensions(expected)
    assert list(engine.family.dimension_keys) == list(dimensions)
    for key, prompt in dimensions.items():
        assert engine.dimension_prompt_ids[key].tolist() == prompt["token_ids"], key
    assert engine.score_prompt_ids.tolist() == next(iter(dimensions.values()))["token_ids"]
    for case in expected["critiques"]:
        assert chat_prompt_ids(engine, case["question"]) == case["prompt_token_ids"]
    assert engine.loaded.score_token_ids == expected["score_tokens"]["token_ids"]


def test_pixels_are_bit_identical(fixture_set):
    folder, expected, _ = fixture_set
    for entry in expected["images"]:
        pixels = open_rgb(folder / entry["file"]).pixel_values[None]
        digest = hashlib.sha256(pixels.astype("<f4").tobytes()).hexdigest()
        assert digest == entry["pixel_values"]["sha256_f32le"], entry["file"]


def test_scores_and_probabilities_match(fixture_set):
    """Every dimension of every image within the set's tolerances; the primary one is also ``score``."""
    folder, expected, engine = fixture_set
    results = engine.score([folder / e["file"] for e in expected["images"]])
    tol = expected["tolerances"]
    for result, entry in zip(results, expected["images"]):
        assert result.ok, result.error
        wanted = expected_scores(entry)
        assert set(result.scores) == set(wanted)
        for key, reference in wanted.items():
            assert abs(result.scores[key] - reference["score"]) <= tol["score_abs"], (entry["file"], key)
            probs = np.array(result.distributions[key])
            assert np.max(np.abs(probs - reference["probs"])) <= tol["probs_abs_recommended"], (entry["file"], key)
        primary = next(iter(wanted))
        assert result.score == result.scores[primary] and result.distribution == result.distributions[primary]


def test_chat_answers_match_token_for_token(fixture_set):
    """``ask`` (InternVL's ``chat()``): every answer's greedy ids and text equal the reference's; the images
    asked the same question decode as one batch."""
    folder, expected, engine = fixture_set
    by_question: dict[str, list[dict]] = {}
    for case in expected["critiques"]:
        by_question.setdefault(case["question"], []).append(case)
    for question, cases in by_question.items():
        max_new = cases[0]["generation"]["max_new_tokens"]
        results = engine.ask([folder / c["file"] for c in cases], question, max_new_tokens=max_new)
        for result, case in zip(results, cases):
            assert result.ok, result.error
            assert result.token_ids == [i for i in case["new_token_ids"] if i != engine.loaded.eos_token_id]
            assert result.text == case["response"]


def test_batched_critiques_match_token_for_token(fixture_set):
    folder, expected, engine = fixture_set
    if not engine.family.attributes:
        pytest.skip(f"{engine.family.name} writes no attribute critiques (its chat answers: test above)")
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
        row = rows[Path(entry["file"]).name]
        for key, reference in expected_scores(entry).items():
            assert abs(row["scores"][key] - reference["score"]) <= expected["tolerances"]["score_abs"]
