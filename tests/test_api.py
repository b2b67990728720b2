"""The Python API's one way in (``artimuse_core.get_model`` -> ``Model``): one test per input kind on the fake
engine (the model is not under test), and one on the real engine with a tiny checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import artimuse_core
from artimuse_core.api import Model
from artimuse_core.categories import CATEGORY_IDS
from artimuse_core.errors import InvalidValue
from artimuse_core.results import ScoreResult
from artimuse_core.testing import FakeEngine

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"


@pytest.fixture()
def model() -> Model:
    return Model(FakeEngine(batch_size=2))


@pytest.fixture()
def picture(tmp_path) -> tuple[Path, Image.Image]:
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    path = tmp_path / "pic.png"
    Image.fromarray(pixels).save(path)
    return path, Image.fromarray(pixels)


def test_a_str_path_gives_one_result_never_its_characters(model, picture):
    path, _ = picture
    result = model(str(path))
    assert isinstance(result, ScoreResult) and result.status == "scored" and result.path == str(path)
    assert 0 <= result.score <= 100 and result.std > 0
    assert model(path).score == result.score  # a Path
    assert model(str(path).encode()).score == result.score  # bytes, as the OS gives names
    # the engine itself no longer iterates a bare string either
    assert len(model.engine.score(str(path))) == 1


def test_a_folder_expands_and_accounts_for_every_file(model, picture, tmp_path):
    path, _ = picture
    Image.new("RGB", (30, 30), (9, 9, 9)).save(tmp_path / "b.jpg")
    (tmp_path / "notes.txt").write_text("not a picture")
    (tmp_path / "empty.png").write_bytes(b"")
    results = model(tmp_path)
    assert isinstance(results, list)
    by_name = {Path(r.path).name: r for r in results}
    assert set(by_name) == {"pic.png", "b.jpg", "notes.txt", "empty.png"}
    assert by_name["pic.png"].status == by_name["b.jpg"].status == "scored"
    assert by_name["notes.txt"].status == "passed_over" and "notes.txt" in by_name["notes.txt"].error
    assert by_name["empty.png"].status == "failed" and by_name["empty.png"].error_kind == "empty"
    assert by_name["pic.png"].score == model(path).score
    pattern = model(str(tmp_path / "*.png"))  # a glob pattern is a list too
    assert [Path(r.path).name for r in pattern if r.ok] == ["pic.png"]


def test_a_pil_image_scores_as_its_file(model, picture):
    path, image = picture
    result = model(image)
    assert isinstance(result, ScoreResult) and result.ok and result.width == 80 and result.height == 60
    assert result.score == model(path).score


def test_a_numpy_array_hwc_uint8_and_a_batch(model, picture):
    path, image = picture
    pixels = np.asarray(image)
    one = model(pixels)
    assert isinstance(one, ScoreResult) and one.score == model(path).score
    batch = model(np.stack([pixels, pixels[::-1]]))  # (N, H, W, C)
    assert isinstance(batch, list) and len(batch) == 2 and batch[0].score == one.score
    assert batch[1].score != one.score  # other pixels
    grey = model(pixels[..., 0])  # (H, W)
    assert grey.ok and grey.score == model(image.getchannel(0)).score
    floats = model(pixels.astype(np.float32) / 255)  # float 0-1 comes back to the same bytes
    assert floats.score == one.score


@pytest.mark.slow  # imports torch (~1.5 s a process): the full suite runs it
def test_a_torch_tensor_channels_first_as_torchvision_gives_it(model, picture):
    torch = pytest.importorskip("torch")
    path, image = picture
    pixels = np.asarray(image)
    chw = torch.from_numpy(pixels.copy()).permute(2, 0, 1).float() / 255  # what ToTensor() returns
    result = model(chw)
    assert isinstance(result, ScoreResult) and result.score == model(path).score
    batch = model(chw.unsqueeze(0).repeat(3, 1, 1, 1))  # (N, C, H, W)
    assert [r.score for r in batch] == [result.score] * 3
    assert model(torch.from_numpy(pixels.copy())).score == result.score  # (H, W, C) uint8, channels last


def test_a_list_mixes_kinds_and_keeps_input_order(model, picture, tmp_path):
    path, image = picture
    missing = tmp_path / "missing.jpg"
    results = model([str(path), image, np.asarray(image), missing])
    assert [r.status for r in results] == ["scored", "scored", "scored", "failed"]
    assert results[0].path == str(path) and results[3].error_kind == "missing"
    assert len({r.score for r in results[:3]}) == 1
    assert model([str(path)])[0].score == results[0].score  # a list of one is still a list
    assert isinstance(model(missing), ScoreResult) and model(missing).status == "failed"


def test_category_and_critiques_pass_through(model, picture):
    path, _ = picture
    result = model(path, category=True, critique=["composition"])
    assert result.category in CATEGORY_IDS and list(result.critiques) == ["Composition & Design"]


def test_what_the_api_cannot_read_is_refused_before_any_work(model):
    with pytest.raises(InvalidValue, match="cannot score a int"):
        model(42)
    with pytest.raises(InvalidValue, match="cannot score a dict"):
        model([{"a": 1}])
    with pytest.raises(InvalidValue, match=r"\(H, W, C\)"):
        model(np.zeros((5, 6, 7), dtype=np.uint8))
    with pytest.raises(InvalidValue, match="0-255"):
        model(np.full((4, 4, 3), 300, dtype=np.int32))
    assert model.engine.calls == []


def test_list_models_gives_scale_and_availability():
    listed = artimuse_core.list_models()
    assert [m.model.name for m in listed][0] == artimuse_core.DEFAULT_MODEL
    from artimuse_core.checkpoints import cached_snapshot

    for m in listed:
        row = m.to_dict()
        assert row["score_range"] == [0.0, 100.0] and row["scale"]
        assert row["available"] is (cached_snapshot(m.model.repo_id) is not None)  # the test cache, never the net
    assert listed[0].available is False  # nothing put the default checkpoint in the tests' cache
    assert "narrow" in next(m.model.scale for m in listed if m.model.name == "ArtiMuse_AVA")


def test_get_model_loads_a_real_checkpoint_once(tiny_chat):
    """The real engine behind the same entry point: a folder, the shipped samples, equal to the engine."""
    model = artimuse_core.get_model(tiny_chat, batch_size=2)
    results = model(SAMPLES)
    assert [Path(r.path).name for r in results] == sorted(p.name for p in SAMPLES.iterdir())
    assert all(r.status == "scored" for r in results)
    bare = artimuse_core.create_engine(tiny_chat).score(str(SAMPLES / "sunset.jpg"))  # a bare str: one image
    assert len(bare) == 1 and bare[0].ok
    direct = bare[0]
    assert model(SAMPLES / "sunset.jpg").score == pytest.approx(direct.score, abs=1e-4)
    again = artimuse_core.get_model(str(tiny_chat), batch_size=2)
    assert again.engine.loaded is model.engine.loaded  # one copy of the weights per process
