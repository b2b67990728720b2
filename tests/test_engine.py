"""Engine behaviour on seeded tiny checkpoints: batching is exact, layouts agree, critiques batch exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from artimuse_core import ATTRIBUTES, create_engine
from artimuse_core.convert import chat_to_native, native_to_chat_state_dict
from artimuse_core.images import open_rgb


def test_scores_are_distributions_over_0_to_100(engine, mixed_images):
    results = engine.score(mixed_images)
    assert all(r.ok for r in results)
    for r in results:
        assert 0.0 <= r.score <= 100.0 and r.std > 0
        assert abs(sum(r.distribution) - 1.0) < 1e-5
        assert abs(sum(i * p for i, p in enumerate(r.distribution)) - r.score) < 1e-3
    assert len({round(r.score, 3) for r in results}) > 1, "a random model should not score every image alike"


def test_batch_results_equal_one_by_one(engine, mixed_images):
    batched = engine.score(mixed_images)
    single = [engine.score([p])[0] for p in mixed_images]
    for b, s in zip(batched, single):
        assert b.path == s.path
        assert abs(b.score - s.score) < 1e-4
        assert np.max(np.abs(np.array(b.distribution) - s.distribution)) < 1e-5


def test_score_rows_equal_full_vocabulary_logits(engine, mixed_images):
    """Reading 101 rows of lm_head at the last position equals slicing the full logits the reference makes."""
    model = engine.loaded.model
    pixels = torch.as_tensor(open_rgb(mixed_images[0]).pixel_values[None])
    with torch.inference_mode():
        logits = model(input_ids=engine.score_prompt_ids[None], pixel_values=pixels).logits[:, -1]
    reference = logits[:, engine.loaded.score_token_ids].softmax(-1)
    ours = engine.score_pixels(pixels)
    assert torch.allclose(ours, reference, atol=1e-6)


def test_chat_and_native_layouts_score_the_same(engine, tiny_native, mixed_images):
    native = create_engine(tiny_native, batch_size=4)
    assert native.loaded.info.layout == "native" and engine.loaded.info.layout == "chat"
    for a, b in zip(engine.score(mixed_images), native.score(mixed_images)):
        assert abs(a.score - b.score) < 1e-4


def test_layout_conversion_round_trips(tiny_chat):
    chat = load_file(tiny_chat / "model.safetensors")
    native = {}
    for key, tensor in chat.items():
        native.update(chat_to_native(key, tensor))
    assert any(".attention.q_proj." in k for k in native) and not any("qkv" in k for k in native)
    back = native_to_chat_state_dict(native)
    assert set(back) == set(chat)
    assert all(torch.equal(back[k], chat[k]) for k in chat)


def test_batched_critiques_equal_each_prompt_alone(engine, mixed_images):
    images = mixed_images[:2]
    attributes = [ATTRIBUTES[0], ATTRIBUTES[3], ATTRIBUTES[7]]  # prompts of different lengths: left padding
    batched = engine.critique(images, attributes, max_new_tokens=12)
    assert [(r.path, r.attribute) for r in batched] == [(str(p), a) for p in images for a in attributes]
    for result in batched:
        alone = engine.critique([result.path], [result.attribute], max_new_tokens=12)[0]
        assert result.token_ids == alone.token_ids
        assert result.text == alone.text
        assert 0 < len(result.token_ids) <= 12


def test_critique_rejects_unknown_attribute(engine, mixed_images):
    with pytest.raises(ValueError, match="unknown attribute"):
        engine.critique(mixed_images[:1], ["Colour Grading"])


def test_provenance_names_model_weights_and_prompt(engine):
    p = engine.provenance
    assert p.layout == "chat" and p.dtype == "float32" and p.device == "cpu"
    assert len(p.fingerprint) == 16 and len(p.prompt_hash) == 16


def test_every_engine_shares_the_wrappers_of_one_base():
    """score, iter_scores, critique and ask are written once (``scoring.BaseEngine``), over each engine's own
    evaluate, critique_each and answer_each: the real engine, the fake, ComfyUI's and a batch import's."""
    from artimuse_core.engine import Engine
    from artimuse_core.scoring import BaseEngine
    from artimuse_core.testing import FakeEngine

    engines = [Engine, FakeEngine]
    for module, name in (
        ("artimuse_comfyui.library", "NodeResultsEngine"),
        ("artimuse_batch.importing", "BatchRowsEngine"),
    ):
        engines.append(getattr(pytest.importorskip(module), name))
    for cls in engines:
        assert issubclass(cls, BaseEngine), cls
        for wrapper in ("score", "iter_scores", "critique", "ask"):
            assert getattr(cls, wrapper) is getattr(BaseEngine, wrapper), (cls, wrapper)


def test_a_family_without_attribute_critiques_refuses_them_in_every_engine(tiny_chat):
    """One rule, in the base: UniPercept writes no attribute critiques, whichever engine is asked."""
    from artimuse_core.errors import InvalidValue
    from artimuse_core.testing import FakeEngine

    for engine in (create_engine(tiny_chat, family="unipercept"), FakeEngine(family="unipercept")):
        with pytest.raises(InvalidValue, match="UniPercept writes no attribute critiques"):
            engine.critique(["x.png"], ["composition"])
