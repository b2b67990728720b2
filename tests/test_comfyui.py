"""The node pack's own logic, called directly on real IMAGE tensors outside ComfyUI (fast; the real server
in test_comfyui_server.py is the judge of the host integration): node declarations, the result memo,
the gate, `artimuse comfyui install` and its install hints, and the pack without the core (the example
workflows: test_comfyui_contract.py and test_comfyui_workflows.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import artimuse_comfyui
from artimuse_cli.main import cli
from artimuse_comfyui import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, host
from artimuse_comfyui.nodes import (
    ArtiMuseCritique,
    ArtiMuseLoadModel,
    ArtiMuseSaveImage,
    ArtiMuseScore,
    ArtiMuseSelectBest,
)
from artimuse_comfyui.work import tensor_to_pil

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
    for cls in NODE_CLASS_MAPPINGS.values():
        spec = cls.INPUT_TYPES()
        assert hasattr(cls, cls.FUNCTION) and cls.CATEGORY == "ArtiMuse" and cls.DESCRIPTION
        for section in ("required", "optional"):
            for name, declared in spec.get(section, {}).items():
                assert declared[1].get("tooltip"), f"{cls.__name__}.{name} has no tooltip"
        assert len(cls.OUTPUT_TOOLTIPS) == len(cls.RETURN_TYPES) == len(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES))
    assert artimuse_comfyui.WEB_DIRECTORY == "./web" and (PACK / "web" / "artimuse.js").is_file()
    assert "[tool.comfy]" in (PACK / "pyproject.toml").read_text() and (PACK / "requirements.txt").is_file()


def test_errors_name_node_inputs_not_cli_flags():
    assert (
        host.in_node_terms("--quantize 8bit needs a CUDA GPU; pass --max-pixels")
        == "quantize 8bit needs a CUDA GPU; pass max_pixels"
    )
    assert host.in_node_terms("score 0-100 and a-b--c") == "score 0-100 and a-b--c"


def test_loaders_share_one_copy_of_the_weights_and_one_patcher_handle(model, tiny_chat):
    (again,) = ArtiMuseLoadModel().load(str(tiny_chat), "cpu", "float32", "none", 2)
    assert again.engine.batch_size == 2 and model.engine.batch_size == 4
    assert again.engine.loaded is model.engine.loaded and again.handle is model.handle


def test_save_reuses_upstream_scores_and_equals_the_cli(model, batch, tmp_path, monkeypatch):
    output = ArtiMuseScore().score(model, batch)
    scores, summary = output["result"]
    assert len(scores) == 4 and output["ui"]["scores"] == scores and summary.count("\n") == 3
    monkeypatch.chdir(tmp_path)
    ui = ArtiMuseSaveImage().save(
        batch, model, "run/x", "none", False, 16, "auto", prompt={"1": {}}, extra_pnginfo={"workflow": {}}
    )["ui"]
    assert ui["reused"] == [4, 0]  # Score's results, not a second model run
    saved = sorted((tmp_path / "output" / "run").glob("x_*_.png"))
    assert len(saved) == 4
    result = CliRunner().invoke(
        cli, ["score", *map(str, saved), "--model", str(model.engine.loaded.info.path), "--no-save", "-f", "json"]
    )
    cli_scores = [row["score"] for row in json.loads(result.stdout)]
    assert np.max(np.abs(np.array(cli_scores) - scores)) <= 1e-4


def test_save_image_writes_scores_beside_comfyui_metadata(model, batch, tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARTIMUSE_HOME", str(tmp_path / "home"))
    ui = ArtiMuseSaveImage().save(
        batch[:2],
        model,
        "best",
        "Overall Gestalt",
        True,
        6,
        "Photography",
        prompt={"7": {"class_type": "ArtiMuseLoadModel"}},
        extra_pnginfo={"workflow": {"nodes": []}},
    )["ui"]
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
    assert shown.category == "photography"  # the node's input, not a hard-coded category


def test_save_to_library_goes_through_the_door_without_running_the_model_again(model, batch, tmp_path, monkeypatch):
    """Scores and critiques computed upstream are what the library records: the door asks the model for
    nothing; a second save of the same images is new files, recorded the same way."""
    from artimuse_core.library import Library

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARTIMUSE_HOME", str(tmp_path / "home"))
    scores = ArtiMuseScore().score(model, batch[:2])["result"][0]
    ArtiMuseCritique().critique(model, batch[:2], "Overall Gestalt", 5)
    runs = []
    real = model.engine.evaluate
    monkeypatch.setattr(model.engine, "evaluate", lambda *a, **k: runs.append(a) or real(*a, **k))
    ui = ArtiMuseSaveImage().save(batch[:2], model, "door/d", "Overall Gestalt", True, 5, "aigc")["ui"]
    assert ui["reused"] == [2, 2] and ui["library_model_runs"] == [0] and runs == []
    library = Library()
    for i, score in enumerate(scores):
        shown = library.show(tmp_path / "output" / "door" / f"d_0000{i + 1}_.png")
        assert shown.category == "aigc" and shown.category_source == "option"
        assert shown.evaluations[0].score == pytest.approx(score)
        assert list(shown.evaluations[0].critiques) == ["Overall Gestalt"]


def test_save_to_library_with_auto_category_follows_the_library_rule(model, batch, tmp_path, monkeypatch):
    """'auto': a configured folder's category, else the model's prediction (never a fixed 'aigc')."""
    from artimuse_core.library import Library

    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        f'[[folders]]\npath = "{tmp_path / "output" / "paintings"}"\ncategory = "painting"\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARTIMUSE_HOME", str(home))
    ArtiMuseSaveImage().save(batch[:1], model, "paintings/p", "none", True, 16, "auto")
    ArtiMuseSaveImage().save(batch[:1], model, "other/o", "none", True, 16, "auto")
    library = Library()
    assert library.show(tmp_path / "output" / "paintings" / "p_00001_.png").category == "painting"
    predicted = library.show(tmp_path / "output" / "other" / "o_00001_.png")
    assert predicted.category in {"photography", "painting", "aigc", "3d", "graphic"}


def test_select_best_top_k_and_threshold(model, batch):
    scores = ArtiMuseScore().score(model, batch)["result"][0]
    images, kept_scores, indices, passed, rest = ArtiMuseSelectBest().select(model, batch, 2, 0.0)["result"]
    assert indices == sorted(range(4), key=lambda i: scores[i], reverse=True)[:2]
    assert torch.equal(images, batch[indices])
    assert kept_scores == pytest.approx([scores[i] for i in indices])
    assert torch.equal(passed, batch) and rest.shape[0] == 0  # no gate: every image passes
    gate = sorted(scores)[1] + 1e-3  # only the two best pass
    _, _, gated, passed, rest = ArtiMuseSelectBest().select(model, batch, 4, gate)["result"]
    assert sorted(gated) == sorted(indices)
    assert torch.equal(passed, batch[sorted(indices)])  # in batch order
    assert torch.equal(rest, batch[sorted(set(range(4)) - set(indices))])
    nothing, no_scores, no_indices, passed, rest = ArtiMuseSelectBest().select(model, batch, 4, 100.0)["result"]
    assert nothing.shape[0] == 0 and no_scores == [] and no_indices == [] and passed.shape[0] == 0
    assert torch.equal(rest, batch)


def test_select_best_counts_adjacent_near_identical_frames_once(model):
    """Frames 0-2 are one real shot (itself, 3 % brighter, re-compressed), 3 another, 4-5 a third (itself and
    a few percent cropped): with near_duplicates on, only the best frame of each run can be kept or pass;
    off, every frame counts."""
    import io

    from PIL import Image

    from tests.shoot import skimage_data

    def shot(name, crop=0.0):
        image = Image.open(skimage_data() / name).convert("RGB")
        w, h = image.size
        return image.crop((int(crop * w), int(crop * h), int((1 - crop) * w), int((1 - crop) * h))).resize((128, 96))

    def as_tensor(image):
        return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)

    astronaut, jpeg = shot("astronaut.png"), io.BytesIO()
    astronaut.save(jpeg, "JPEG", quality=60)
    pictures = [astronaut, None, Image.open(jpeg), shot("coffee.png"), shot("chelsea.png"), shot("chelsea.png", 0.03)]
    frames = torch.stack(
        [as_tensor(p) if p is not None else (as_tensor(astronaut) * 1.03).clamp(0, 1) for p in pictures]
    )
    node = ArtiMuseSelectBest()
    answer = node.select(model, frames, 6, 0.0, near_duplicates=8)
    ui, (_, _, indices, passed, rest) = answer["ui"], answer["result"]
    assert ui["runs"] == [[0, 1, 2], [3], [4, 5]]
    every = ui["scores"]
    bests = [max(run, key=lambda i: (every[i], -i)) for run in ui["runs"]]
    assert sorted(indices) == sorted(bests) and len(indices) == 3  # never two frames of one shot
    assert torch.equal(passed, frames[sorted(bests)])
    assert torch.equal(rest, frames[sorted(set(range(6)) - set(bests))])
    assert any("near-duplicate of #" in line for line in ui["text"])
    off = node.select(model, frames, 6, 0.0)["result"]
    assert len(off[2]) == 6 and off[4].shape[0] == 0


def test_critique_node_gives_one_text_per_image_and_remembers_it(model, batch):
    texts = ArtiMuseCritique().critique(model, batch[:2], "Technical Execution", 6)["result"][0]
    assert len(texts) == 2 and all(t.startswith("Technical Execution:") for t in texts)
    direct = model.engine.critique(tensor_to_pil(batch[:1]), ["Technical Execution"], max_new_tokens=6)[0]
    assert texts[0] == f"Technical Execution:\n{direct.text}"
    from artimuse_comfyui.work import critique_images

    again, reused = critique_images(model, tensor_to_pil(batch[:2]), ["Technical Execution"], 6)
    assert reused == 2 and again[0]["Technical Execution"] == direct.text


def _comfyui_tree(folder: Path) -> Path:
    for name in ("main.py", "nodes.py", "folder_paths.py"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("")
    (folder / "comfy").mkdir()
    (folder / "custom_nodes").mkdir()
    return folder


def test_install_links_the_pack_and_checks_comfyuis_python(tmp_path):
    comfy = _comfyui_tree(tmp_path / "ComfyUI")
    venv = comfy / "venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # a ComfyUI venv with the core
    (venv / "python").chmod(0o755)
    result = CliRunner().invoke(cli, ["comfyui", "install", str(comfy), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    target = comfy / "custom_nodes" / "ComfyUI-ArtiMuse"
    assert target.is_symlink() and (target / "__init__.py").is_file()
    assert report["comfyui_python"] == str(venv / "python") and report["importable"] and report["fix"] is None
    again = CliRunner().invoke(cli, ["comfyui", "install", str(comfy), "--copy", "--force"])
    assert again.exit_code == 0 and not target.is_symlink() and (target / "web" / "artimuse.js").is_file()
    assert "it imports artimuse-studio" in again.output
    bad = CliRunner().invoke(cli, ["comfyui", "install", str(tmp_path / "ComfyUI" / "custom_nodes")])
    assert bad.exit_code != 0 and "not a ComfyUI folder" in bad.output


def test_install_says_what_to_pip_install_into_a_python_without_the_core(tmp_path):
    portable = tmp_path / "ComfyUI_windows_portable"
    _comfyui_tree(portable / "ComfyUI")
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    result = CliRunner().invoke(cli, ["comfyui", "install", str(portable), "--python", str(bare / "bin" / "python")])
    assert result.exit_code == 0, result.output
    assert "cannot import artimuse-studio" in result.output
    assert f'"{bare / "bin" / "python"}" -m pip install "{PACK.parents[1]}"' in result.output


def test_install_command_never_imports_torch(tmp_path):
    comfy = _comfyui_tree(tmp_path / "ComfyUI")
    script = textwrap.dedent(f"""
        import sys
        from artimuse_cli.main import cli
        try:
            cli(["comfyui", "install", {str(comfy)!r}], standalone_mode=False)
        finally:
            print("HEAVY", sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers")))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "HEAVY []" in done.stdout, done.stdout[-2000:]


def _load_pack_without_the_core(pack: Path) -> subprocess.CompletedProcess:
    script = textwrap.dedent(f"""
        import importlib.util, logging, sys
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stdout)
        class NotInstalled:  # as if artimuse-studio were not installed in this Python
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "artimuse_core":
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, NotInstalled())
        spec = importlib.util.spec_from_file_location("pack", {str(pack / "__init__.py")!r},
                                                      submodule_search_locations=[{str(pack)!r}])
        pack = importlib.util.module_from_spec(spec)
        sys.modules["pack"] = pack
        spec.loader.exec_module(pack)
        print("NODES", pack.NODE_CLASS_MAPPINGS)
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


def test_pack_without_the_core_logs_one_install_line_and_registers_nothing(tmp_path):
    """In a checkout the line names the checkout; a copy of the pack (or one ComfyUI-Manager installed)
    names its own requirements.txt, which installs the package from its repository."""
    done = _load_pack_without_the_core(PACK)
    assert "NODES {}" in done.stdout, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("ERROR")]
    assert len(lines) == 1 and f'"{sys.executable}" -m pip install "{PACK.parents[1]}"' in lines[0]
    copy = tmp_path / "ComfyUI" / "custom_nodes" / "ComfyUI-ArtiMuse"
    shutil.copytree(PACK, copy, ignore=shutil.ignore_patterns("__pycache__"))
    done = _load_pack_without_the_core(copy)
    lines = [line for line in done.stdout.splitlines() if line.startswith("ERROR")]
    assert "NODES {}" in done.stdout and len(lines) == 1, done.stdout + done.stderr
    assert f'"{sys.executable}" -m pip install -r "{copy / "requirements.txt"}"' in lines[0]
    assert "artimuse-studio @ git+https://" in (copy / "requirements.txt").read_text()


def test_install_names_a_source_that_exists_outside_a_checkout(tmp_path, monkeypatch):
    """Installed from a wheel or a git URL there is no checkout to name: the fix is where pip recorded the
    package came from (a git commit, a folder), else the pack's requirements.txt; never a bare
    `pip install artimuse-studio`, which no package index answers."""
    import importlib.metadata

    from artimuse_cli import comfyui_commands

    comfy = _comfyui_tree(tmp_path / "ComfyUI")
    monkeypatch.setattr(comfyui_commands, "project_source", lambda: None)
    recorded = {"text": None}

    class Installed:
        def read_text(self, name):
            return recorded["text"] if name == "direct_url.json" else None

    monkeypatch.setattr(importlib.metadata, "distribution", lambda name: Installed())
    fixes = []
    for text in (
        None,
        json.dumps({"url": "https://github.com/example/fork", "vcs_info": {"vcs": "git", "commit_id": "abc123"}}),
        json.dumps({"url": (tmp_path / "ComfyUI").as_uri(), "dir_info": {}}),
        json.dumps({"url": (tmp_path / "gone").as_uri(), "dir_info": {}}),
    ):
        recorded["text"] = text
        result = CliRunner().invoke(cli, ["comfyui", "install", str(comfy), "--force", "--json"])
        assert result.exit_code == 0, result.output
        fixes.append(json.loads(result.output)["fix"])
    requirements = comfyui_commands.pack_source() / "requirements.txt"
    assert fixes[0].endswith(f'-m pip install -r "{requirements}"')
    assert fixes[1].endswith('-m pip install "artimuse-studio @ git+https://github.com/example/fork@abc123"')
    assert fixes[2].endswith(f'-m pip install "{tmp_path / "ComfyUI"}"')
    assert fixes[3] == fixes[0]  # a folder that is gone is no source
    assert all("install artimuse-studio" not in f and 'install "artimuse-studio"' not in f for f in fixes)


def test_published_checkpoints_download_only_when_picked_into_models_artimuse(tmp_path, monkeypatch):
    """Listed as '<name> (download ~16 GB)'; picking one downloads into ComfyUI/models/artimuse/<name>
    (not the Hugging Face cache) with progress; offline, the error says where to put the files."""
    import huggingface_hub
    from huggingface_hub import constants

    from artimuse_comfyui import models

    monkeypatch.setattr(host, "default_model_root", lambda: tmp_path / "models" / "artimuse")
    monkeypatch.setattr(host, "model_folders", lambda: [tmp_path / "models" / "artimuse"])
    assert "ArtiMuse_AVA (download ~16 GB)" in models.choices()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(host.NodeError, match=str(tmp_path / "models" / "artimuse" / "ArtiMuse_AVA")) as offline:
        models.resolve("ArtiMuse_AVA (download ~16 GB)")
    assert "--" not in str(offline.value)
    calls = []

    def fake_download(repo_id, allow_patterns, local_dir, tqdm_class):
        calls.append((repo_id, Path(local_dir).name))
        bar = tqdm_class(total=3)
        for name in ("config.json", "tokenizer_config.json", "model.safetensors"):
            (Path(local_dir) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(local_dir) / name).write_text("{}")
            bar.update(1)
        return str(local_dir)

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    folder = models.resolve("ArtiMuse_AVA (download ~16 GB)", progress=host.download_progress())
    assert folder == tmp_path / "models" / "artimuse" / "ArtiMuse_AVA" and (folder / "config.json").is_file()
    assert calls == [("Thunderbolt215215/ArtiMuse_AVA", "ArtiMuse_AVA.download")]
    assert "ArtiMuse_AVA" in models.choices() and "ArtiMuse_AVA (download ~16 GB)" not in models.choices()
    assert models.resolve("ArtiMuse_AVA (download ~16 GB)") == folder  # already there: no second download
    assert len(calls) == 1


@pytest.mark.parametrize("prefix", ["../../escape", "../escape", "/tmp/artimuse-escape/x", "ok/../../escape"])
def test_save_prefix_cannot_leave_the_output_folder(prefix, tmp_path, monkeypatch):
    """Outside a ComfyUI server (no folder_paths) the node itself confines the prefix:
    nothing is written and no folder is made outside ``output/``; the refusal names the output folder."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    images = torch.zeros((1, 8, 8, 3))
    with pytest.raises(ValueError, match="inside the output folder"):
        ArtiMuseSaveImage().save(images, None, prefix, "none", False, 16, "auto")
    assert sorted(p.name for p in work.iterdir()) in ([], ["output"])
    assert not (tmp_path / "escape").exists() and not Path("/tmp/artimuse-escape").exists()
    inside = host.save_path("sub/x", 8, 8)
    assert Path(inside[0]) == (work / "output" / "sub").resolve()
