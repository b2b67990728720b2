"""Every shipped workflow, and the workflow of every earlier version of the pack, in a REAL ComfyUI 0.3.64:
API prompts are validated by /prompt and run to completion; UI workflows are checked widget by widget
against /object_info, queued as the frontend would queue them, and loaded in the real ComfyUI frontend
(headless Chromium) with no node red and every value on its widget. The diffusion part of a workflow (no
diffusion checkpoint exists here) is replaced by uploaded images; the checkpoint it names is present by
name only, so that its loader validates as on the user's machine. Screenshots go to bench/out/.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests import chromium
from tests.comfyui_server import ComfyUI, ComfyUIError, ensure_venv, failure, message, missing_reason, with_pack
from tests.comfyui_workflows import (
    choices,
    kind_of,
    label,
    ours,
    place,
    problems,
    same_choice,
    swap_generation,
    to_prompt,
    widgets,
    workflow_files,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.comfyui,
    pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or ""),
]

FILES = [(p, kind_of(json.loads(p.read_text()))) for p in workflow_files()]
API = [p for p, kind in FILES if kind == "api"]
UI = [p for p, kind in FILES if kind == "ui"]
PUBLISHED = "ArtiMuse"  # the published checkpoint every example workflow names


def _images(folder: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(11)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        base = rng.uniform(0, 255) * np.ones((96, 128, 3))
        ramp = np.linspace(0, rng.uniform(-120, 120), 128)[None, :, None]
        noise = rng.normal(0, rng.uniform(1, 60), (96, 128, 3))
        paths.append(folder / f"photo{i}.png")
        Image.fromarray(np.clip(base + ramp + noise, 0, 255).astype(np.uint8)).save(paths[-1])
    return paths


def _diffusion_checkpoints() -> set[str]:
    names = set()
    for path, kind in FILES:
        data = json.loads(path.read_text())
        nodes = data["nodes"] if kind == "ui" else data.values()
        for node in nodes:
            if (node.get("type") or node.get("class_type")) == "CheckpointLoaderSimple":
                names.add(node["widgets_values"][0] if kind == "ui" else node["inputs"]["ckpt_name"])
    return names


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    root = tmp_path_factory.mktemp("comfyui-workflows")
    server = with_pack(root, ensure_venv())
    for name in _diffusion_checkpoints():  # present by name only: the diffusion part never runs here
        (server.models / "checkpoints" / name).write_bytes(b"")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def info(comfy) -> dict:
    return comfy.object_info()


@pytest.fixture(scope="module")
def uploaded(comfy, tmp_path_factory) -> list[str]:
    return [comfy.upload_image(p) for p in _images(tmp_path_factory.mktemp("photos"), 4)]


@contextlib.contextmanager
def downloaded(comfy: ComfyUI, tiny_chat: Path):
    """The published checkpoint as if downloaded: a tiny one in models/artimuse/ArtiMuse."""
    folder = comfy.models / "artimuse" / PUBLISHED
    shutil.copytree(tiny_chat, folder)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def _prompt(path: Path, info: dict, uploaded: list[str]) -> dict:
    data = json.loads(path.read_text())
    prompt = data if kind_of(data) == "api" else to_prompt(data, info)
    return swap_generation(prompt, info, uploaded)


def _check_run(comfy: ComfyUI, entry: dict, prompt: dict) -> None:
    """The run's real outcome: Select Best kept the top 2 of 4 at or over 40, Save Image wrote exactly
    those (their score chunks equal Select Best's scores) and recorded them in the library."""
    select = next(k for k, n in prompt.items() if n["class_type"] == "ArtiMuseSelectBest")
    save = next(k for k, n in prompt.items() if n["class_type"] == "ArtiMuseSaveImage")
    scores = entry["outputs"][select]["scores"]
    kept = [s for s in sorted(scores, reverse=True)[:2] if s >= 40.0]
    assert len(scores) == 4 and kept, f"scores {scores}: nothing for Save Image to save"
    saved = [comfy.output / i["subfolder"] / i["filename"] for i in entry["outputs"][save]["images"]]
    written = []
    for path in saved:
        with Image.open(path) as png:
            written.append(float(png.text["artimuse_score"]))
            assert "prompt" in png.text and json.loads(png.text["artimuse"])["provenance"]
    assert np.allclose(sorted(written, reverse=True), kept, atol=1e-4), (written, kept)
    category = prompt[save]["inputs"].get("category", "auto")
    if prompt[save]["inputs"].get("save_to_library"):
        from artimuse_core.library import Library

        old = os.environ["ARTIMUSE_HOME"]
        os.environ["ARTIMUSE_HOME"] = comfy.env["ARTIMUSE_HOME"]
        try:
            with Library() as library:
                shown = library.show(saved[0])
        finally:
            os.environ["ARTIMUSE_HOME"] = old
        assert shown.evaluations[0].score == pytest.approx(written[0], abs=1e-4)
        if category != "auto":
            assert shown.category == category.lower()


# ------------------------------------------------------------------------------------------ API prompts
@pytest.mark.parametrize("path", API, ids=label)
def test_api_workflow_validates_where_the_checkpoint_is_not_downloaded(comfy, info, uploaded, path):
    """The short name earlier workflows wrote is accepted by /prompt (it answered 400 value_not_in_list);
    queued, the loader says the checkpoint is not downloaded and downloads are off here."""
    assert not (comfy.models / "artimuse" / PUBLISHED).exists()
    prompt = _prompt(path, info, uploaded)
    loader = next(n for n in prompt.values() if n["class_type"] == "ArtiMuseLoadModel")
    assert loader["inputs"]["model"] == PUBLISHED
    assert PUBLISHED not in info["ArtiMuseLoadModel"]["input"]["required"]["model"][0]
    entry = comfy.wait(comfy.queue(prompt))
    error = message(entry, "execution_error")
    assert error is not None and error["node_type"] == "ArtiMuseLoadModel", entry["status"]
    assert "is not downloaded and downloads are off here" in error["exception_message"]


@pytest.mark.parametrize("path", API, ids=label)
def test_api_workflow_runs_to_completion(comfy, info, uploaded, tiny_chat, path):
    prompt = _prompt(path, info, uploaded)
    with downloaded(comfy, tiny_chat):
        entry = comfy.run(prompt)
    _check_run(comfy, entry, prompt)


def test_a_labelled_entry_saved_before_the_download_still_loads_after_it(comfy, info, uploaded, tiny_chat):
    prompt = _prompt(API[0], info, uploaded)
    loader = next(n for n in prompt.values() if n["class_type"] == "ArtiMuseLoadModel")
    loader["inputs"]["model"] = f"{PUBLISHED} (download ~16 GB)"
    with downloaded(comfy, tiny_chat):
        choices = comfy.object_info("ArtiMuseLoadModel")["input"]["required"]["model"][0]
        assert PUBLISHED in choices and loader["inputs"]["model"] not in choices
        _check_run(comfy, comfy.run(prompt), prompt)


def test_a_checkpoint_name_no_version_wrote_is_refused_before_any_run(comfy, info, uploaded):
    prompt = _prompt(API[0], info, uploaded)
    next(n for n in prompt.values() if n["class_type"] == "ArtiMuseLoadModel")["inputs"]["model"] = "../elsewhere"
    with pytest.raises(ComfyUIError) as refused:
        comfy.queue(prompt)
    assert "custom_validation_failed" in str(refused.value) and "no checkpoint '../elsewhere'" in str(refused.value)


# ------------------------------------------------------------------------------------------ UI workflows
@pytest.mark.parametrize("path", UI, ids=label)
def test_ui_workflow_matches_object_info_widget_by_widget_and_runs(comfy, info, uploaded, tiny_chat, path):
    workflow = json.loads(path.read_text())
    assert problems(workflow, info) == []
    prompt = _prompt(path, info, uploaded)
    with downloaded(comfy, tiny_chat):
        entry = comfy.run(prompt)
    _check_run(comfy, entry, prompt)


# ------------------------------------------------------------------------------------ the real frontend
LOAD = """
const [text, done] = arguments;
(async () => {
  const app = window.comfyAPI?.app?.app ?? window.app;
  document.querySelectorAll('.p-dialog-close-button').forEach((b) => b.click());
  await app.loadGraphData(JSON.parse(text));
  await new Promise((r) => setTimeout(r, 500));
  const nodes = app.graph.nodes.map((n) => ({
    id: n.id, type: n.type, has_errors: !!n.has_errors, known: n.type in LiteGraph.registered_node_types,
    widgets: (n.widgets ?? []).filter((w) => w.serialize !== false).map((w) => [w.name, w.value]),
  }));
  const { output } = await app.graphToPrompt();
  const dialogs = [...document.querySelectorAll('.p-dialog')].map((d) => d.innerText.slice(0, 400));
  const errors = [...document.querySelectorAll('.p-toast-message-error')].map((t) => t.innerText.slice(0, 400));
  done({ nodes, output, dialogs, errors });
})().catch((e) => done({ error: String(e?.stack ?? e) }));
"""

SWAP_AND_QUEUE = """
const [names, done] = arguments;
(async () => {
  const app = window.comfyAPI?.app?.app ?? window.app;
  const ours = (n) => n.type.startsWith("ArtiMuse");
  const targets = [];
  for (const node of app.graph.nodes.filter(ours)) {
    for (const [slot, input] of (node.inputs ?? []).entries()) {
      if (input.link == null) continue;
      const link = app.graph.links.get?.(input.link) ?? app.graph.links[input.link];
      if (!ours(app.graph.getNodeById(link.origin_id))) targets.push([node, slot]);
    }
  }
  for (const node of app.graph.nodes.filter((n) => !ours(n))) app.graph.remove(node);
  let last = null;
  names.forEach((name, i) => {  // where the diffusion part was: a row of Load Image, then the batching
    const load = LiteGraph.createNode("LoadImage");
    load.pos = [60 + 250 * i, 20];
    app.graph.add(load);
    load.widgets.find((w) => w.name === "image").value = name;
    if (last === null) { last = load; return; }
    const batch = LiteGraph.createNode("ImageBatch");
    batch.pos = [1060 + 200 * (i - 1), 60];
    app.graph.add(batch);
    last.connect(0, batch, 0); load.connect(0, batch, 1);
    last = batch;
  });
  for (const [node, slot] of targets) last.connect(0, node, slot);
  app.canvas.ds.offset = [0, 10]; app.canvas.ds.scale = 0.7;
  app.graph.setDirtyCanvas(true, true);
  await app.queuePrompt(0, 1);
  done("queued");
})().catch((e) => done(String(e?.stack ?? e)));
"""


@pytest.fixture(scope="module")
def browser(comfy, tmp_path_factory):
    pytest.importorskip("selenium.webdriver")
    if not chromium.available():
        pytest.skip(chromium.MISSING)
    comfy.request("/settings/Comfy.TutorialCompleted", data=b"true", headers={"Content-Type": "application/json"})
    driver = chromium.start(tmp_path_factory.mktemp("chromium-profile"), size=(1600, 1000))
    driver.set_script_timeout(120)
    yield driver
    driver.quit()


def _open(driver, comfy: ComfyUI) -> None:
    driver.get(comfy.url)
    deadline = time.monotonic() + 180
    ready = (
        "return !!(window.comfyAPI?.app?.app ?? window.app)?.graph"
        " && !!window.LiteGraph?.registered_node_types?.ArtiMuseScore"
    )
    while not driver.execute_script(ready):
        assert time.monotonic() < deadline, "the ComfyUI frontend did not come up in 180 s"
        time.sleep(1)
    time.sleep(2)


def _shown(seen: dict, node_type: str) -> dict:
    return dict(next(n for n in seen["nodes"] if n["type"] == node_type)["widgets"])


@pytest.mark.browser
def test_ui_workflows_load_in_the_frontend_with_every_value_on_its_widget(comfy, info, browser, tmp_path):
    """Each UI workflow through the frontend's own loadGraphData: no node missing or red, no error dialog
    or toast, each widget holding the value the widget-by-widget check expects (the short checkpoint name
    shown as the list's labelled entry), and the prompt the frontend would queue equal to to_prompt's (the
    prompt the tests above ran)."""
    _open(browser, comfy)
    for path in UI:
        workflow = json.loads(path.read_text())
        seen = browser.execute_async_script(LOAD, json.dumps(workflow))
        where = label(path)
        assert "error" not in seen, (where, seen.get("error"))
        assert all(n["known"] and not n["has_errors"] for n in seen["nodes"]), (where, seen["nodes"])
        assert seen["dialogs"] == [] and seen["errors"] == [], (where, seen["dialogs"], seen["errors"])
        saved = {str(n["id"]): n for n in workflow["nodes"]}
        for node in seen["nodes"]:
            expected = place(node["type"], info[node["type"]], saved[str(node["id"])].get("widgets_values") or [])
            if ours(node["type"]):
                specs = dict(widgets(info[node["type"]]))
                expected = {k: same_choice(v, choices(specs[k]) or []) for k, v in expected.items()}
            assert dict(node["widgets"]) == expected, (where, node["type"], node["widgets"])
        assert _shown(seen, "ArtiMuseLoadModel")["model"] == f"{PUBLISHED} (download ~16 GB)"
        theirs = {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in seen["output"].items()}
        assert theirs == to_prompt(workflow, info), where
        chromium.screenshot(browser, tmp_path, f"comfyui_loaded_{path.parent.name}_{path.stem}.png")


@pytest.mark.browser
def test_shipped_ui_workflow_queued_from_the_frontend_scores_and_saves(comfy, browser, uploaded, tiny_chat, tmp_path):
    """The user's path: open the shipped workflow in the editor (saved with the labelled entry before the
    checkpoint was downloaded, which the list now offers by its short name), put uploaded images where the
    diffusion part was, queue from the page; Save Image writes the best two and no node turns red."""
    shipped = json.loads(next(p for p in UI if p.parent.name == "workflows").read_text())
    loader = next(n for n in shipped["nodes"] if n["type"] == "ArtiMuseLoadModel")
    loader["widgets_values"][0] = f"{PUBLISHED} (download ~16 GB)"
    with downloaded(comfy, tiny_chat):
        _open(browser, comfy)
        seen = browser.execute_async_script(LOAD, json.dumps(shipped))
        assert "error" not in seen, seen.get("error")
        assert _shown(seen, "ArtiMuseLoadModel")["model"] == PUBLISHED
        before = set(comfy.get("/history"))
        assert browser.execute_async_script(SWAP_AND_QUEUE, uploaded) == "queued"
        deadline = time.monotonic() + 300
        while not (set(comfy.get("/history")) - before):
            assert time.monotonic() < deadline, "nothing queued from the page ran within 300 s"
            time.sleep(1)
        entry = comfy.wait(next(iter(set(comfy.get("/history")) - before)))
        assert failure(entry) is None, failure(entry)
        prompt = entry["prompt"][2]
        assert (
            next(n for n in prompt.values() if n["class_type"] == "ArtiMuseLoadModel")["inputs"]["model"] == PUBLISHED
        )
        _check_run(comfy, entry, prompt)
        time.sleep(2)
        red = browser.execute_script(
            "const app = window.comfyAPI?.app?.app ?? window.app;"
            "return app.graph.nodes.filter((n) => n.has_errors).map((n) => n.type)"
        )
        assert red == []
        chromium.screenshot(browser, tmp_path, "comfyui_shipped_workflow_queued.png")
