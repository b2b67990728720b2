"""The nodes' inputs are a public contract (fast, in-process; the real server and frontend judge the same
files in test_comfyui_workflows.py): saved workflows of every released version keep validating and keep
their values on the right widgets, new inputs are optional, no input disappears, and the loader accepts
the checkpoint names earlier versions wrote."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from tests.comfyui_workflows import (
    LAYOUTS,
    SHIPPED,
    hooked_inputs,
    kind_of,
    label,
    node_info,
    ours,
    place,
    problems,
    widgets,
    workflow_files,
)

# ComfyUI's nodes import the engine (torch and transformers: seconds of one core before the first test), so this
# module is in the slow tier with the other tests of the nodes (conftest's tiers); the full suite runs it.
pytestmark = pytest.mark.slow


@functools.cache
def nodes() -> dict:
    """The pack's ``NODE_CLASS_MAPPINGS``, imported on first use: the pack imports torch and transformers
    (seconds), which collecting this module need not."""
    from artimuse_comfyui import NODE_CLASS_MAPPINGS

    return NODE_CLASS_MAPPINGS


@functools.cache
def info() -> dict:
    """Each node's ``/object_info`` entry, as the server would answer it."""
    return {name: node_info(cls, name) for name, cls in nodes().items()}


def _today(name: str) -> list[str]:
    return [widget for widget, _ in widgets(info()[name])]


def test_widget_layouts_record_todays_order_last():
    """A change to a node's widgets must be recorded (appended) in web/widget_layouts.json."""
    assert set(LAYOUTS) - {"about"} == set(nodes())
    for name in nodes():
        assert LAYOUTS[name][-1]["widgets"] == _today(name), f"{name}: record today's widgets last"


def test_the_loader_offers_every_setting_an_engine_is_built_with():
    """The loader's inputs follow from the settings' stages (weights, engine, image), in the released order;
    a setting declared later is appended as an optional widget, never slid into the middle."""
    from artimuse_comfyui import inputs
    from artimuse_core.spec import settings_at

    spec = nodes()["ArtiMuseLoadModel"].INPUT_TYPES()
    declared = [*spec["required"], *spec.get("optional", {})]
    assert sorted(declared) == sorted(s.name for s in settings_at("weights", "engine", "image"))
    assert "max_new_tokens" not in declared  # one call's setting: an input of the nodes that write text
    assert inputs.released_order("ArtiMuseLoadModel", ["family", "a_new_setting", "adapter"]) == (
        "adapter",
        "family",
        "a_new_setting",
    )


def test_no_input_of_a_released_version_is_gone_and_new_ones_are_optional():
    for name, cls in nodes().items():
        spec = cls.INPUT_TYPES()
        declared = {**spec.get("required", {}), **spec.get("optional", {})}
        first = LAYOUTS[name][0]["widgets"]
        for layout in LAYOUTS[name]:
            gone = set(layout["widgets"]) - set(declared)
            assert not gone, f"{name}: {sorted(gone)} of the {layout['saved_by']} version are gone or renamed"
        new_required = {w for w, _ in widgets(info()[name]) if w in spec.get("required", {}) and w not in first}
        assert not new_required, f"{name}: {sorted(new_required)} were added as required inputs"
        for widget, declaration in widgets(info()[name]):
            if widget in spec.get("optional", {}):
                assert "default" in declaration[1], f"{name}.{widget}: an optional input needs a default"


def _samples(names: list[str], specs: dict) -> list:
    """One distinct value per widget, of the widget's kind (so a value on the wrong widget shows)."""
    out = []
    for i, name in enumerate(names):
        kind = specs[name][0]
        out.append(i % 2 == 0 if kind == "BOOLEAN" else 1000 + i if kind in ("INT", "FLOAT") else f"<{name}>")
    return out


def test_each_older_order_is_put_back_by_name():
    """Every released order maps each saved value onto the widget of its name: a prefix of today's order as
    saved, another order through the kinds of its values (which must tell it apart from today's)."""
    for name in nodes():
        specs = dict(widgets(info()[name]))
        for layout in LAYOUTS[name]:
            values = _samples(layout["widgets"], specs)
            placed = place(name, info()[name], values)
            for widget, value in zip(layout["widgets"], values):
                if not isinstance(value, bool):
                    assert placed[widget] == value, (name, layout["saved_by"], widget, placed)


def test_the_two_orders_put_in_the_middle_are_moved():
    assert place("ArtiMuseSaveImage", info()["ArtiMuseSaveImage"], ["best", "none", 64, "AIGC", True]) == {
        "filename_prefix": "best",
        "critique": "none",
        "save_to_library": True,
        "max_new_tokens": 64,
        "category": "AIGC",
    }
    loader = ["tiny", "auto", "auto", "none", 8, "unipercept", "", 100, False, "", True, "scale", "sdpa", 2]
    placed = place("ArtiMuseLoadModel", info()["ArtiMuseLoadModel"], loader)
    assert placed["family"] == "unipercept" and placed["adapter"] == "" and placed["max_pixels"] == 100
    assert placed["decode_workers"] == 2 and placed["attn"] == "sdpa" and placed["exif"] is False


@pytest.mark.parametrize("path", workflow_files(), ids=label)
def test_every_workflow_fits_todays_nodes(path):
    """Each shipped workflow and each kept earlier version, as far as the pack's nodes go (the server test
    checks the whole of it against /object_info and runs it)."""
    data = json.loads(path.read_text())
    if kind_of(data) == "ui":
        mine = {"nodes": [n for n in data["nodes"] if ours(n["type"])], "links": data["links"]}
        assert mine["nodes"] and problems(mine, info()) == []
        return
    for key, node in data.items():
        if not ours(node["class_type"]):
            continue
        spec = nodes()[node["class_type"]].INPUT_TYPES()
        unknown = set(node["inputs"]) - set(spec["required"]) - set(spec.get("optional", {}))
        assert not unknown, f"#{key} {node['class_type']}: inputs {sorted(unknown)} are no longer declared"
        assert set(spec["required"]) <= set(node["inputs"]), f"#{key}: a required input is missing"
        hooked = hooked_inputs(node["class_type"])
        for name, value in node["inputs"].items():
            declared = {**spec["required"], **spec.get("optional", {})}[name][0]
            if name in hooked:
                assert nodes()[node["class_type"]].VALIDATE_INPUTS(**{name: value}) is True
            elif isinstance(declared, list):
                assert value in declared, (node["class_type"], name, value)


def test_every_file_in_the_workflows_folder_is_a_workflow():
    files = sorted(SHIPPED.iterdir())
    assert files and all(p.suffix == ".json" for p in files), files
    assert {kind_of(json.loads(p.read_text())) for p in files} == {"ui", "api"}


# ------------------------------------------------------------------------------------- checkpoint names
@pytest.fixture()
def roots(tmp_path, monkeypatch, tiny_chat) -> Path:
    from artimuse_comfyui import host

    root = tmp_path / "models" / "artimuse"
    root.mkdir(parents=True)
    (root / "mine").symlink_to(tiny_chat, target_is_directory=True)
    monkeypatch.setattr(host, "model_folders", lambda: [root])
    monkeypatch.setattr(host, "default_model_root", lambda: root)
    return root


def test_the_loader_accepts_every_name_earlier_versions_wrote(roots, tiny_chat):
    """ComfyUI skips its list check for `model` (the hook names it); the hook accepts short and labelled
    published names, local folders and full paths, and refuses anything else with the reason."""
    from artimuse_comfyui import host, models
    from artimuse_comfyui.nodes import ArtiMuseLoadModel

    assert "model" in hooked_inputs("ArtiMuseLoadModel")
    assert "ArtiMuse" not in models.choices() and "ArtiMuse (download ~16 GB)" in models.choices()
    for value in ("ArtiMuse", "ArtiMuse (download ~16 GB)", "ArtiMuse_AVA", "mine", str(tiny_chat), None):
        assert ArtiMuseLoadModel.VALIDATE_INPUTS(model=value) is True, value
    for value in ("gone", "../mine", "mine/..", str(roots / "nothing-here")):
        answer = ArtiMuseLoadModel.VALIDATE_INPUTS(model=value)
        assert isinstance(answer, str) and "no checkpoint" in answer and "ArtiMuse_AVA" in answer, answer
    assert models.resolve("mine") == roots / "mine" and models.resolve(str(tiny_chat)) == tiny_chat
    with pytest.raises(host.NodeError, match="no checkpoint '../mine'"):
        models.resolve("../mine")


def test_a_short_published_name_resolves_like_its_labelled_entry(roots, monkeypatch, tiny_chat):
    from artimuse_comfyui import models
    from artimuse_comfyui.nodes import ArtiMuseLoadModel

    downloads = []

    def download(name, progress=None):
        downloads.append(name)
        (roots / name).symlink_to(tiny_chat, target_is_directory=True)
        return roots / name

    monkeypatch.setattr(models, "download", download)
    assert models.resolve("ArtiMuse") == roots / "ArtiMuse" and downloads == ["ArtiMuse"]
    # downloaded since: both names, and the list now offers the short one
    assert models.resolve("ArtiMuse (download ~16 GB)") == models.resolve("ArtiMuse") == roots / "ArtiMuse"
    assert downloads == ["ArtiMuse"] and "ArtiMuse" in models.choices()
    assert ArtiMuseLoadModel.VALIDATE_INPUTS(model="ArtiMuse (download ~16 GB)") is True
