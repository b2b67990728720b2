"""engine_cache: one copy of each checkpoint's weights per process, reloaded when its files change, released
with its last user; and the critique's per-token hook that hosts use to interrupt and show progress."""

from __future__ import annotations

import gc
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from artimuse_core import get_engine, release_engines
from artimuse_core.engine_cache import checkpoint_identity, loaded_weights


@pytest.fixture
def checkpoint(tiny_chat, tmp_path):
    release_engines()
    yield shutil.copytree(tiny_chat, tmp_path / "ckpt")
    release_engines()


@pytest.fixture(scope="module")
def picture():
    rng = np.random.default_rng(3)
    return Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8))


def test_non_weight_settings_share_one_copy(checkpoint, picture):
    engines = [get_engine(checkpoint, batch_size=b, decode_workers=w) for b, w in ((8, None), (4, 1), (2, 2))]
    assert len({id(e.loaded) for e in engines}) == 1 and [e.batch_size for e in engines] == [8, 4, 2]
    assert engines[0].forward_lock is engines[2].forward_lock  # one forward at a time on shared weights
    scores = [e.score([picture])[0].score for e in engines]
    assert scores[0] == scores[1] == scores[2]
    assert get_engine(checkpoint, dtype="bfloat16").loaded is not engines[0].loaded  # dtype defines weights


def test_weights_are_released_with_their_last_user(checkpoint):
    engine = get_engine(checkpoint)
    assert any(w is engine.loaded for w in loaded_weights())
    del engine
    gc.collect()
    assert loaded_weights() == []


def _swap_weights(folder, seed, tmp_path):
    from artimuse_core.synthetic import build_checkpoint

    return build_checkpoint(tmp_path / f"seed{seed}", seed=seed) / "model.safetensors"


def test_atomic_replacement_reloads_with_a_new_fingerprint(checkpoint, picture, tmp_path):
    old = get_engine(checkpoint)
    staged = checkpoint / "model.safetensors.tmp"
    shutil.copy(_swap_weights(checkpoint, 3, tmp_path), staged)
    os.replace(staged, checkpoint / "model.safetensors")
    new = get_engine(checkpoint)
    assert new.loaded is not old.loaded and new.provenance.fingerprint != old.provenance.fingerprint
    assert new.score([picture])[0].score != pytest.approx(old.score([picture])[0].score, abs=1e-6)


def test_in_place_overwrite_with_the_mtime_put_back_reloads(checkpoint, tmp_path):
    weights = checkpoint / "model.safetensors"
    old = get_engine(checkpoint)
    before = weights.stat()
    identity = checkpoint_identity(checkpoint)
    with open(weights, "r+b") as handle:  # same inode, same size
        handle.write(_swap_weights(checkpoint, 4, tmp_path).read_bytes())
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert weights.stat().st_ino == before.st_ino and weights.stat().st_mtime_ns == before.st_mtime_ns
    assert checkpoint_identity(checkpoint) != identity  # ctime moved
    new = get_engine(checkpoint)
    assert new.loaded is not old.loaded and new.provenance.fingerprint != old.provenance.fingerprint


def test_release_engines_forgets_so_the_next_call_loads_afresh(checkpoint):
    first = get_engine(checkpoint)
    release_engines()
    assert get_engine(checkpoint).loaded is not first.loaded


def test_critique_calls_on_step_after_every_token_and_stops_when_it_raises(checkpoint, picture):
    engine = get_engine(checkpoint, batch_size=2)
    steps = []
    results = engine.critique(
        [picture],
        ["Overall Gestalt", "Technical Execution"],
        max_new_tokens=5,
        on_step=lambda step, total: steps.append((step, total)),
    )
    longest = max(len(r.token_ids) for r in results)
    assert steps[:longest] == [(i, 5) for i in range(1, longest + 1)]

    class Stop(Exception):
        pass

    def stop_at_three(step, total):
        if step == 3:
            raise Stop

    with pytest.raises(Stop):
        engine.critique([picture], ["Overall Gestalt"], max_new_tokens=50, on_step=stop_at_three)
    assert engine.critique([picture], ["Overall Gestalt"], max_new_tokens=2)[0].ok  # the lock was released


def test_the_weights_key_holds_every_weights_setting_and_nothing_else(tmp_path):
    """What selects a copy of the weights is the ``weights`` stage of the declarations: each of its settings
    changes the key (as it resolves, or as given); a setting of another stage never does (no second copy)."""
    from artimuse_core.devices import choose_placement
    from artimuse_core.engine_cache import weights_key
    from artimuse_core.spec import EngineSpec, settings_at

    base = EngineSpec(model=str(tmp_path), device="cpu", dtype="float32", attn="sdpa")
    key = weights_key(base, tmp_path)
    changed = {"dtype": "bfloat16", "attn": "eager", "adapter": "portraits"}
    others = {"family": "unipercept", "batch_size": 2, "decode_workers": 3, "max_pixels": 10, "max_new_tokens": 9}
    for name, value in {**changed, **others}.items():
        assert (weights_key(base.replace(**{name: value}), tmp_path) != key) == (name in changed), name
    # Settings are in the key as they resolve: "auto" is the device it picks (the CPU, on a machine without GPU).
    auto_is_cpu = choose_placement("auto", "float32", "none", "sdpa").device.type == "cpu"
    assert (weights_key(base.replace(device="auto"), tmp_path) == key) == auto_is_cpu
    assert weights_key(base, tmp_path / "other") != key  # the checkpoint folder
    # quantize needs CUDA to change; the others are each exercised above
    assert {s.name for s in settings_at("weights")} - {"model", "device", "quantize"} == set(changed)
