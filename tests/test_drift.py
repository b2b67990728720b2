"""Settings drift, each case pinned: finetune honours ARTIMUSE_MODEL and the image options and counts
ratings before loading a model; doctor checks the configured model and exits non-zero when the model cannot
be found (its verdicts on each machine: tests/test_doctor.py)."""

from __future__ import annotations

import json
import struct

import numpy as np
from PIL import Image

from artimuse_core.errors import ArtiMuseError


def checkpoint_folder(folder):
    """A folder that passes the checkpoint checks (config, tokenizer files, a safetensors header) without
    weights worth loading: doctor inspects, it never loads."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(
        json.dumps(
            {"model_type": "internvl_chat", "vision_config": {}, "llm_config": {"architectures": ["Qwen2ForCausalLM"]}}
        )
    )
    from artimuse_core.synthetic import write_tokenizer

    write_tokenizer(folder)  # a real (small) tokenizer with the ArtiMuse special and score tokens
    header = b'{"__metadata__":{}}'
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    return folder


def test_doctor_reports_the_configured_model(home, tmp_path, run_cli, monkeypatch):
    folder = checkpoint_folder(tmp_path / "my-ckpt")
    monkeypatch.setenv("ARTIMUSE_MODEL", str(folder))
    result = run_cli("doctor", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["model"], report["model_from"]) == (str(folder), "environment")
    assert report["checkpoint_found"] and report["checkpoint_path"] == str(folder) and report["problems"] == []
    # the thread plan and the memory the CONFIGURED model needs, as loading would check it
    assert "torch thread(s)" in report["threads"] and "decode worker(s)" in report["threads"]
    assert report["memory"].startswith("needs ~") and "available" in report["memory"] and report["notes"] == []


def test_doctor_exits_nonzero_and_says_how_to_fix_a_missing_model(home, run_cli, monkeypatch):
    monkeypatch.setenv("ARTIMUSE_MODEL", "ArtiMuse_PARA")  # not in the (test) cache; downloads are off in tests
    result = run_cli("doctor", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["model"] == "ArtiMuse_PARA" and report["downloads"] is False and not report["checkpoint_found"]
    problem = next(p for p in report["problems"] if "downloads are off" in p["problem"])
    assert "--model" in problem["fix"] and "hf download Thunderbolt215215/ArtiMuse_PARA" in problem["fix"]
    text = run_cli("doctor")
    assert text.exit_code == 1 and "fix:" in text.stdout and "ArtiMuse_PARA" in text.stdout


def test_doctor_on_a_folder_that_is_not_there(home, run_cli, tmp_path):
    result = run_cli("doctor", "--model", tmp_path / "nowhere", "--json")
    assert result.exit_code == 1 and "no such checkpoint folder" in json.loads(result.stdout)["problems"][0]["problem"]


def rate_images(run_cli, folder, count):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        path = folder / f"r{i}.png"
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(path)
        assert run_cli("rate", path, "--score", str(10 + i)).exit_code == 0


def test_finetune_honours_the_environment_and_the_image_options(home, tmp_path, run_cli, monkeypatch):
    rate_images(run_cli, tmp_path / "rated", 8)
    monkeypatch.setenv("ARTIMUSE_MODEL", "model-from-environment")
    seen = []

    def engine(spec):
        seen.append(spec)
        raise ArtiMuseError("stopped before training")

    result = run_cli(
        "finetune",
        "--from-db",
        "--min-ratings",
        "4",
        "--max-pixels",
        "1234",
        "--no-exif",
        "--background",
        "1,2,3",
        engine=engine,
    )
    assert result.exit_code == 2 and "stopped before training" in result.output
    (spec,) = seen
    assert (spec.model, spec.max_pixels, spec.exif, spec.background) == (
        "model-from-environment",
        1234,
        False,
        (1, 2, 3),
    )


def test_finetune_counts_the_ratings_before_loading_a_model(home, tmp_path, run_cli, monkeypatch):
    rate_images(run_cli, tmp_path / "rated", 3)
    monkeypatch.setenv("ARTIMUSE_MODEL", "ArtiMuse_PARA")  # would fail to load: it is not here
    loaded = []
    result = run_cli("finetune", "--from-db", "--min-ratings", "20", engine=lambda spec: loaded.append(spec))
    assert result.exit_code == 2 and "too few ratings" in result.output and "--min-ratings" in result.output
    assert loaded == []


def test_doctor_names_a_checkpoint_that_loading_would_refuse(home, run_cli, tmp_path):
    """Doctor must not say "problem: null" for weights `score` refuses. A damaged safetensors
    header and a tokenizer that is not ArtiMuse's are each a problem with a fix, and exit 1."""
    import struct

    broken = checkpoint_folder(tmp_path / "damaged")
    (broken / "model.safetensors").write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    foreign = checkpoint_folder(tmp_path / "foreign")
    (foreign / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "Qwen2Tokenizer"}))
    (foreign / "vocab.json").write_text(json.dumps({"a": 0, "b": 1}))
    (foreign / "merges.txt").write_text("#version: 0.2\n")
    for folder, words in ((broken, "safetensors"), (foreign, "tokenizer")):
        result = run_cli("doctor", "--model", folder, "--json")
        assert result.exit_code == 1, result.output
        report = json.loads(result.stdout)
        assert report["checkpoint_found"] and words in report["checkpoint_problem"]
        (problem,) = report["problems"]
        assert words in problem["problem"] and "fetch it again" in problem["fix"]
