"""The `artimuse` command end to end, through Click, on real files and a tiny checkpoint."""

from __future__ import annotations

import csv
import io
import json
import shutil

import pytest
from click.testing import CliRunner
from scipy import stats

from artimuse_cli.main import cli


@pytest.fixture()
def folder_with_a_bad_file(tmp_path, mixed_images):
    folder = tmp_path / "shoot"
    (folder / "sub").mkdir(parents=True)
    for p in mixed_images[:3]:
        shutil.copy(p, folder / p.name)
    shutil.copy(mixed_images[3], folder / "sub" / mixed_images[3].name)
    (folder / "broken.jpg").write_bytes(mixed_images[1].read_bytes()[:200])
    (folder / "readme.txt").write_text("not scored: not an image name")
    (folder / ".hidden.png").write_bytes(mixed_images[0].read_bytes())
    return folder


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_score_folder_reports_the_bad_file_and_exits_nonzero(tiny_chat, folder_with_a_bad_file):
    result = run("score", folder_with_a_bad_file, "--model", tiny_chat, "--format", "jsonl")
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 5  # 4 good (one in a subfolder), 1 broken; .txt and hidden files are not images
    bad = [r for r in rows if r["error"]]
    assert len(bad) == 1 and bad[0]["path"].endswith("broken.jpg") and bad[0]["error_kind"] == "corrupt"
    for row in rows:
        assert {"path", "score", "std", "model", "error"} <= row.keys()
    assert all(0 <= r["score"] <= 100 for r in rows if not r["error"])
    assert "1 of 5 image(s) failed" in result.stderr


def test_score_all_good_exits_zero_in_every_format(tiny_chat, mixed_images):
    files = mixed_images[:3]
    as_json = run("score", *files, "--model", tiny_chat, "--format", "json", "--probs")
    assert as_json.exit_code == 0
    data = json.loads(as_json.stdout)
    assert len(data) == 3 and all(len(r["probs"]) == 101 for r in data)
    as_csv = run("score", *files, "--model", tiny_chat, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [float(r["score"]) for r in rows] == pytest.approx([r["score"] for r in data], abs=1e-4)
    table = run("score", *files, "--model", tiny_chat)
    assert table.exit_code == 0 and "SCORE" in table.stdout and files[0].name in table.stdout


def test_glob_and_missing_paths(tiny_chat, mixed_images):
    pattern = str(mixed_images[0].parent / "*.png")
    result = run("score", pattern, mixed_images[0].parent / "missing.jpg", "--model", tiny_chat, "-f", "jsonl")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 1
    assert sum(1 for r in rows if r["error_kind"] == "missing") == 1
    assert sum(1 for r in rows if not r["error"]) == sum(1 for p in mixed_images if p.suffix == ".png")


def test_critique_command(tiny_chat, mixed_images):
    result = run("critique", mixed_images[0], "-a", "composition", "-a", "technical", "--max-new-tokens", "6",
                 "--model", tiny_chat, "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["attribute"] for r in rows] == ["Composition & Design", "Technical Execution"]
    bad = run("critique", mixed_images[0], "-a", "colour", "--model", tiny_chat)
    assert bad.exit_code == 2 and "unknown attribute" in bad.output


def test_eval_prints_srcc_and_plcc(tiny_chat, mixed_images, tmp_path):
    from artimuse_core import create_engine

    scores = [r.score for r in create_engine(tiny_chat).score(mixed_images)]
    truth = [s * 0.5 + (i % 3) for i, s in enumerate(scores)]  # related to the predictions, not identical
    test_json = tmp_path / "test.json"
    test_json.write_text(json.dumps([{"image": p.name, "gt_score": t} for p, t in zip(mixed_images, truth)]))
    result = run("eval", test_json, "--images", mixed_images[0].parent, "--model", tiny_chat, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == len(mixed_images) and report["failed"] == 0
    assert report["srcc"] == pytest.approx(stats.spearmanr(scores, truth).statistic, abs=1e-3)
    assert report["plcc"] == pytest.approx(stats.pearsonr(scores, truth).statistic, abs=1e-3)


def test_eval_refuses_paths_outside_the_images_folder(tiny_chat, mixed_images, tmp_path):
    test_json = tmp_path / "test.json"
    test_json.write_text(json.dumps([{"image": "../../etc/passwd", "gt_score": 5}]))
    result = run("eval", test_json, "--images", mixed_images[0].parent, "--model", tiny_chat)
    assert result.exit_code == 2 and "outside" in result.output


def test_models_and_doctor_json(tiny_chat):
    models = run("models", "--json")
    assert models.exit_code == 0
    names = [m["name"] for m in json.loads(models.stdout)]
    assert names[0] == "ArtiMuse" and "ArtiMuse_TAD66K" in names
    doctor = run("doctor", "--model", tiny_chat, "--json")
    report = json.loads(doctor.stdout)
    assert report["checkpoint_found"] and report["checkpoint_layout"] == "chat"
    assert report["auto_placement"].startswith("cpu float32")


def test_help_teaches_with_examples():
    result = run("score", "--help")
    assert "Examples:" in result.output and "--format" in result.output and "Exit code" in result.output
