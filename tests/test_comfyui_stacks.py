"""Select Best on a batch of video frames with near-duplicates, in a REAL ComfyUI 0.3.64: the shipped workflow
``generate_batch_best_pass_rest.json`` (its diffusion part swapped for uploaded frames made from real
photographs: a held shot, its re-exposed and re-compressed twins, a shot and a cropped twin, two other shots),
queued to /prompt. Adjacent near-identical frames count once: the pass output (saved by ArtiMuse Save Image)
holds the best frame of each run at or above the threshold, the rest output (saved by ComfyUI's own Save
Image) every other frame, both in batch order; with a threshold one run's best misses, its whole run goes to
rest, and with no image passing, the best and pass branches do not run while rest still does. The saved PNGs
are matched back to the uploaded frames by their pixels. (The workflow loading in the real frontend without
a red node is test_comfyui_workflows.py's browser test, which reads every shipped UI workflow.)
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.comfyui_server import ComfyUI, failure
from tests.comfyui_workflows import SHIPPED, swap_generation, to_prompt
from tests.shoot import skimage_data
from tests.test_comfyui_workflows import comfy, downloaded, info, pytestmark  # noqa: F401

WORKFLOW = SHIPPED / "generate_batch_best_pass_rest.json"
SIZE = (256, 192)
#: The frames' runs of near-duplicates, as they were made (``_frames``).
RUNS = [[0, 1, 2], [3, 4], [5], [6]]


def _shot(name: str, box: tuple[float, float, float, float] = (0, 0, 1, 1)) -> Image.Image:
    image = Image.open(skimage_data() / name).convert("RGB")
    w, h = image.size
    left, top, right, bottom = box
    return image.crop((int(left * w), int(top * h), int(right * w), int(bottom * h))).resize(
        SIZE, Image.Resampling.LANCZOS
    )


def _frames(folder: Path) -> list[Path]:
    """Seven same-sized frames from real photographs, near-duplicates adjacent (``RUNS``)."""
    astronaut = _shot("astronaut.png", (0.1, 0.0, 0.9, 0.6))
    brighter = Image.fromarray(np.clip(np.asarray(astronaut, dtype=np.float32) * 1.04, 0, 255).astype(np.uint8))
    jpeg = io.BytesIO()
    astronaut.save(jpeg, "JPEG", quality=55)
    coffee = _shot("coffee.png")
    frames = [
        astronaut,
        brighter,
        Image.open(jpeg).convert("RGB"),  # re-compressed
        coffee,
        _shot("coffee.png", (0.02, 0.0, 1.0, 0.98)),  # 2 % cropped off one corner
        _shot("chelsea.png"),
        _shot("rocket.jpg", (0.0, 0.2, 1.0, 0.8)),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, frame in enumerate(frames):
        paths.append(folder / f"frame{i}.png")
        frame.save(paths[-1])
    return paths


def _which(saved: list[Path], frames: list[np.ndarray]) -> list[int]:
    """The frame each saved PNG is (by its pixels; ComfyUI's float round trip may move a value by one)."""
    found = []
    for path in saved:
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
        gaps = [np.abs(pixels - frame).max() if frame.shape == pixels.shape else 255 for frame in frames]
        assert min(gaps) <= 1, f"{path.name} is none of the uploaded frames (closest differs by {min(gaps)})"
        found.append(int(np.argmin(gaps)))
    return found


@pytest.fixture(scope="module")
def frames(comfy, tmp_path_factory):  # noqa: F811 (the server fixture)
    paths = _frames(tmp_path_factory.mktemp("frames"))
    names = [comfy.upload_image(p) for p in paths]
    return names, [np.asarray(Image.open(p).convert("RGB"), dtype=np.int16) for p in paths]


def _prompt(info: dict, names: list[str], threshold: float, prefix: str) -> tuple[dict, str, str, str]:  # noqa: F811
    """The shipped workflow over the frames; ComfyUI's Save Image on rest (the shipped one previews it).
    Returns the prompt and the ids of Select Best, the Save Image of pass and the one of rest."""
    prompt = swap_generation(to_prompt(json.loads(WORKFLOW.read_text()), info), info, names)
    select = next(k for k, n in prompt.items() if n["class_type"] == "ArtiMuseSelectBest")
    passed = next(
        k for k, n in prompt.items() if n["class_type"] == "ArtiMuseSaveImage" and n["inputs"]["images"] == [select, 3]
    )
    prompt[select]["inputs"]["threshold"] = threshold
    prompt[passed]["inputs"]["filename_prefix"] = f"{prefix}/pass"
    for key, node in prompt.items():
        if node["class_type"] == "ArtiMuseSaveImage" and key != passed:
            node["inputs"]["filename_prefix"] = f"{prefix}/best"
    prompt["800"] = {"class_type": "SaveImage", "inputs": {"images": [select, 4], "filename_prefix": f"{prefix}/rest"}}
    return prompt, select, passed, "800"


def _saved(server: ComfyUI, entry: dict, node: str) -> list[Path]:
    images = entry["outputs"].get(node, {}).get("images", [])
    return [server.output / i["subfolder"] / i["filename"] for i in images]


def test_near_duplicate_frames_count_once_and_the_batch_splits_into_pass_and_rest(
    comfy,  # noqa: F811
    info,  # noqa: F811
    frames,
    tiny_chat,
):
    names, pixels = frames
    workflow = json.loads(WORKFLOW.read_text())
    select_node = next(n for n in workflow["nodes"] if n["type"] == "ArtiMuseSelectBest")
    assert select_node["widgets_values"][2] > 0, "the shipped workflow suppresses near-duplicates"
    with downloaded(comfy, tiny_chat):
        prompt, select, passed, rest = _prompt(info, names, 0.0, "open")
        entry = comfy.run(prompt)
        assert failure(entry) is None, failure(entry)
        shown = entry["outputs"][select]
        scores = shown["scores"]
        assert len(scores) == 7 and shown["runs"] == RUNS
        bests = [max(run, key=lambda i: (scores[i], -i)) for run in RUNS]
        assert shown["pass"] == sorted(bests) and shown["rest"] == sorted(set(range(7)) - set(bests))
        assert _which(_saved(comfy, entry, passed), pixels) == sorted(bests)  # in batch order
        assert _which(_saved(comfy, entry, rest), pixels) == shown["rest"]
        kept = sorted(bests, key=lambda i: -scores[i])[:2]  # top_k 2: one per run, never two twins
        best_save = next(k for k, n in prompt.items() if n["class_type"] == "ArtiMuseSaveImage" and k != passed)
        assert sorted(_which(_saved(comfy, entry, best_save), pixels)) == sorted(kept)

        # A threshold between the runs' bests: the lowest run's best misses, its whole run goes to rest.
        ranked = sorted(bests, key=lambda i: scores[i])
        gate = (scores[ranked[0]] + scores[ranked[1]]) / 2
        prompt, select, passed, rest = _prompt(info, names, gate, "gated")
        entry = comfy.run(prompt)
        assert failure(entry) is None, failure(entry)
        dropped = next(run for run in RUNS if ranked[0] in run)
        assert _which(_saved(comfy, entry, passed), pixels) == sorted(ranked[1:])
        assert _which(_saved(comfy, entry, rest), pixels) == sorted(set(range(7)) - set(ranked[1:]))
        assert set(dropped) <= set(entry["outputs"][select]["rest"])

        # None passes: the best and pass branches are blocked (nothing saved), rest still gets every frame.
        prompt, select, passed, rest = _prompt(info, names, 100.0, "none")
        entry = comfy.run(prompt)
        assert failure(entry) is None, failure(entry)
        assert _saved(comfy, entry, passed) == [] and _which(_saved(comfy, entry, rest), pixels) == list(range(7))
        assert not (comfy.output / "none" / "best").exists() and not (comfy.output / "none" / "pass").exists()
