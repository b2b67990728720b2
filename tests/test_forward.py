"""The model-math room: shared prefixes are exact (fixtures and one-prompt-at-a-time), one evaluate call does
everything an image needs, the placeholder check names both numbers, generation stops when asked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from artimuse_core import ATTRIBUTES, create_engine, forward, generation
from artimuse_core.errors import ImageTokenMismatch
from artimuse_core.images import open_rgb

from .conftest import conformance_dirs

pytestmark = pytest.mark.slow  # every test here but one loads a real (tiny) model
# ArtiMuse-layout sets (one score prompt, attribute critiques); UniPercept's run in test_conformance.py.
SETS = [
    p for p in conformance_dirs() if "dimensions" not in json.loads((p / "expected.json").read_text())["score_prompt"]
]
needs_fixtures = pytest.mark.skipif(not SETS, reason="no conformance fixtures (../shared/conformance) present")


@pytest.fixture(scope="module", params=SETS, ids=lambda p: p.name)
def fixture_set(request):
    folder = request.param
    expected = json.loads((folder / "expected.json").read_text())
    checkpoint = next(p for p in folder.iterdir() if (p / "config.json").is_file())
    return folder, expected, create_engine(checkpoint, batch_size=8)


@needs_fixtures
def test_prefix_shared_scores_equal_the_fixtures(fixture_set):
    """With a category asked too, the score comes from the shared prefix + score suffix."""
    folder, expected, engine = fixture_set
    assert len(engine.prompts.prefix) == 298  # system turn + <img> + 256 placeholders + </img>
    results = list(engine.evaluate([folder / e["file"] for e in expected["images"]], predict_category=True))
    tol = expected["tolerances"]
    for result, entry in zip(results, expected["images"]):
        assert result.ok and result.category is not None, result.error
        assert abs(result.score - entry["score"]) <= tol["score_abs"], entry["file"]
        assert np.max(np.abs(np.array(result.distribution) - entry["probs"])) <= tol["probs_abs_recommended"]


@needs_fixtures
def test_prefix_shared_critiques_equal_the_fixture_token_ids(fixture_set):
    folder, expected, engine = fixture_set
    files = list(dict.fromkeys(c["file"] for c in expected["critiques"]))
    attributes = list(dict.fromkeys(c["attribute"] for c in expected["critiques"]))
    max_new = expected["critiques"][0]["generation"]["max_new_tokens"]
    model, loaded = engine.loaded.model, engine.loaded
    pixels = torch.as_tensor(np.stack([open_rgb(folder / f).pixel_values for f in files]))
    with torch.inference_mode():
        prefix = forward.encode_prefix(model, forward.image_features(model, pixels), engine.prompts.prefix)
        jobs = [(files.index(c["file"]), c["attribute"]) for c in expected["critiques"]]
        generated = generation.greedy_generate(
            model,
            prefix,
            torch.tensor([i for i, _ in jobs]),
            [engine.prompts.suffixes[f"critique:{a}"] for _, a in jobs],
            max_new_tokens=max_new,
            eos_token_id=loaded.eos_token_id,
            pad_token_id=loaded.pad_token_id,
        )
    for ids, case in zip(generated, expected["critiques"]):
        assert engine.prompts.full(f"critique:{case['attribute']}").tolist() == case["prompt_token_ids"]
        assert ids == [i for i in case["new_token_ids"] if i != loaded.eos_token_id]
    # The same through the one engine call, score and critiques together.
    results = list(engine.evaluate([folder / f for f in files], critique=attributes, max_new_tokens=max_new))
    texts = {(Path(r.path).name, a): t for r in results for a, t in r.critiques.items()}
    for case in expected["critiques"]:
        assert texts[(Path(case["file"]).name, case["attribute"])] == case["response"]


def test_evaluate_fills_everything_once_in_input_order(tiny_chat, mixed_images, tmp_path):
    """Score, category and critiques on one result, equal to the separate calls; a bad file in its place."""
    engine = create_engine(tiny_chat, batch_size=3)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    sources = [mixed_images[0], bad, *mixed_images[1:4]]
    calls = []
    real = forward.image_features

    def counting(model, pixels):
        calls.append(len(pixels))
        return real(model, pixels)

    attributes = [ATTRIBUTES[2], ATTRIBUTES[5]]
    forward.image_features = counting
    try:
        results = list(engine.evaluate(sources, predict_category=True, critique=attributes, max_new_tokens=6))
    finally:
        forward.image_features = real
    assert sum(calls) == 4, "each good image goes through the vision tower once"
    assert [Path(r.path).name for r in results] == [Path(s).name for s in sources]
    assert not results[1].ok and results[1].error_kind == "corrupt"
    scores = engine.score([s for s in sources if s != bad], predict_category=True)
    critiques = engine.critique([s for s in sources if s != bad], attributes, max_new_tokens=6)
    good = [r for r in results if r.ok]
    for result, alone in zip(good, scores):
        assert abs(result.score - alone.score) < 1e-4 and result.category == alone.category
        assert set(result.critiques) == set(attributes)
    for c in critiques:
        match = next(r for r in good if r.path == c.path)
        assert match.critiques[c.attribute] == c.text
    # the row contract keeps the same keys for every result: critiques asked for are there, none otherwise
    assert good[0].to_dict()["critiques"] == good[0].critiques and scores[0].to_dict()["critiques"] == {}


def test_batched_prefix_sharing_equals_one_prompt_at_a_time(engine, mixed_images):
    """Tiny checkpoint: batched shared-prefix answers equal each full prompt run alone, image by image."""
    model = engine.loaded.model
    attributes = [ATTRIBUTES[0], ATTRIBUTES[3], ATTRIBUTES[7]]  # suffixes of different lengths
    results = list(engine.evaluate(mixed_images[:5], predict_category=True, critique=attributes, max_new_tokens=10))
    for path, result in zip(mixed_images[:5], results):
        pixels = torch.as_tensor(open_rgb(path).pixel_values[None])
        with torch.inference_mode():
            features = forward.image_features(model, pixels)
            score = forward.prompt_logits(model, features, engine.prompts.full("score:iaa"), engine.score_token_ids)
            category = forward.prompt_logits(
                model, features, engine.prompts.full("category"), engine.category_token_ids
            ).softmax(-1)[0]
        distribution, value, _ = forward.token_as_score(score)
        assert abs(result.score - float(value[0])) < 1e-4
        assert np.max(np.abs(np.array(result.distribution) - distribution[0].numpy())) < 1e-5
        assert abs(result.category_probability - float(category.max())) < 1e-5
        for attribute in attributes:
            alone = _greedy_alone(engine, features, f"critique:{attribute}", 10)
            assert result.critiques[attribute] == engine.decode_response(alone)


def _greedy_alone(engine, features, name: str, max_new: int) -> list[int]:
    """The reference's way: the full prompt alone, full logits, one token at a time, no cache."""
    model, ids, out = engine.loaded.model, engine.prompts.full(name), []
    with torch.inference_mode():
        for _ in range(max_new):
            logits = forward.prompt_logits(model, features, torch.cat([ids, torch.tensor(out, dtype=torch.long)]), None)
            token = int(logits[0].argmax())
            if token == engine.loaded.eos_token_id:
                break
            out.append(token)
    return out


def test_placeholder_count_mismatch_names_both_numbers(engine, mixed_images):
    model = engine.loaded.model
    with torch.inference_mode():
        features = forward.image_features(model, torch.as_tensor(open_rgb(mixed_images[0]).pixel_values[None]))
        ids = engine.score_prompt_ids
        first = int((ids == engine.loaded.image_token_id).nonzero()[0])
        short = ids[torch.arange(len(ids)) != first]  # one placeholder less
        with pytest.raises(ImageTokenMismatch, match="255 <IMG_CONTEXT> placeholders.*256 feature vectors"):
            forward.prompt_logits(model, features, short, engine.score_token_ids)
        with pytest.raises(ImageTokenMismatch, match="256 .* 0 feature"):
            forward.embed_prompt(model, engine.score_prompt_ids[None])


def test_on_step_counts_tokens_and_its_exception_stops_generation(engine, mixed_images):
    steps = []
    engine.critique(mixed_images[:1], [ATTRIBUTES[0]], max_new_tokens=5, on_step=lambda s, n: steps.append((s, n)))
    assert steps and steps == [(i, 5) for i in range(1, len(steps) + 1)]

    class Interrupted(Exception):
        pass

    def interrupt(step, total):
        if step == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        list(engine.evaluate(mixed_images[:2], critique=[ATTRIBUTES[1]], max_new_tokens=8, on_step=interrupt))
    assert engine.score(mixed_images[:1])[0].ok, "the engine is usable after an interrupt (lock released)"


def test_prompt_set_keeps_placeholders_in_the_prefix():
    prompts = {"a": [1, 2, 9, 9, 3, 4], "b": [1, 2, 9, 9, 3, 5, 6]}
    split = forward.PromptSet.from_prompts(prompts, image_token_id=9)
    assert split.prefix.tolist() == [1, 2, 9, 9, 3] and split.suffixes["b"].tolist() == [5, 6]
    assert split.full("a").tolist() == prompts["a"]
    with pytest.raises(ValueError, match="after the shared prefix"):
        forward.PromptSet.from_prompts({"a": [1, 9, 2], "b": [1, 2, 9]}, image_token_id=9)
    single = forward.PromptSet.from_prompts({"only": [1, 9, 2]}, image_token_id=9)
    assert single.prefix.tolist() == [1, 9] and single.suffixes["only"].tolist() == [2]


def test_greedy_tokens_equal_the_full_logits_argmax(engine):
    """The greedy step's ``weight @ hidden.T`` picks what argmax over ``lm_head``'s full logits picks, ties
    included (the first of equal maxima), for one row and for a batch of rows."""
    model = engine.loaded.model
    width = model.get_output_embeddings().weight.shape[1]
    hidden = torch.randn(9, width, generator=torch.Generator().manual_seed(0))
    hidden[3] = 0  # every logit equal: the first index wins, as torch.argmax
    with torch.inference_mode():
        expected = forward.head_logits(model, hidden).argmax(-1)
        assert torch.equal(forward.greedy_tokens(model, hidden), expected)
        assert torch.equal(forward.greedy_tokens(model, hidden[:1]), expected[:1])
    assert int(expected[3]) == 0


def test_copies_to_the_model_keep_values_and_dtype_on_the_cpu():
    """``to_model`` is a plain ``.to`` off CUDA (pinned memory and non-blocking copies are for a GPU)."""
    pixels = torch.randn(2, 3, 4, 4)
    moved = forward.to_model(pixels, torch.device("cpu"), torch.float64)
    assert moved.dtype == torch.float64 and torch.equal(moved.float(), pixels)
