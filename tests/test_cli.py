"""The `artimuse` command end to end through Click, on real files: the fake engine for the command logic,
one real tiny checkpoint for the whole path."""

from __future__ import annotations

import csv
import io
import json
import shutil

import pytest
from click.testing import CliRunner

from artimuse_cli.main import cli
from artimuse_core.testing import FakeEngine


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


def check_folder_run(result) -> None:
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    # .txt and hidden files are not images: listed as passed over, with the reason, and counted apart
    passed_over = sorted((r["path"].rsplit("/", 1)[-1], r["error_kind"]) for r in rows if r["status"] == "passed_over")
    assert passed_over == [(".hidden.png", "hidden"), ("readme.txt", "not_an_image_name")]
    assert all(r["error"] and r["score"] is None for r in rows if r["status"] == "passed_over")
    rows = [r for r in rows if r["status"] != "passed_over"]
    assert len(rows) == 5  # 4 good (one in a subfolder), 1 broken
    bad = [r for r in rows if r["error"]]
    assert len(bad) == 1 and bad[0]["path"].endswith("broken.jpg") and bad[0]["error_kind"] == "corrupt"
    assert bad[0]["status"] == "failed"
    for row in rows:
        assert {"path", "score", "std", "model", "error", "status", "category"} <= row.keys()
    assert all(0 <= r["score"] <= 100 for r in rows if not r["error"])
    assert result.stderr.splitlines() == ["4 scored, 1 failed, 2 passed over: 1 .txt, 1 hidden"]  # one summary


def test_score_folder_reports_the_bad_file_and_exits_nonzero(run_cli, folder_with_a_bad_file):
    check_folder_run(run_cli("score", folder_with_a_bad_file, "--format", "jsonl", "--no-save"))


@pytest.mark.slow
def test_score_folder_end_to_end_with_the_real_engine(tiny_chat, folder_with_a_bad_file):
    """The one CLI run through the real engine and library (the tiny checkpoint)."""
    result = CliRunner().invoke(
        cli, ["score", str(folder_with_a_bad_file), "--model", str(tiny_chat), "--format", "jsonl"]
    )
    check_folder_run(result)
    again = CliRunner().invoke(
        cli, ["score", str(folder_with_a_bad_file), "--model", str(tiny_chat), "--format", "jsonl"]
    )
    assert [json.loads(line)["status"] for line in again.stdout.splitlines()].count("cached") == 4
    assert "0 scored, 4 cached, 1 failed, 2 passed over: 1 .txt, 1 hidden" in again.stderr.splitlines()


def test_score_all_good_exits_zero_in_every_format(run_cli, mixed_images):
    files = mixed_images[:3]
    as_json = run_cli("score", *files, "--format", "json", "--distribution", "--no-save")
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert len(data) == 3 and all(len(r["distribution"]) == 101 for r in data)
    assert [r["score"] for r in data] == pytest.approx([r.score for r in FakeEngine().score(files)], abs=1e-9)
    old_name = run_cli("score", *files, "--json", "--probs", "--no-save")  # the hidden alias still works
    assert [r["distribution"] for r in json.loads(old_name.stdout)] == [r["distribution"] for r in data]
    as_csv = run_cli("score", *files, "--format", "csv", "--no-save")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [float(r["score"]) for r in rows] == pytest.approx([r["score"] for r in data], abs=1e-4)
    table = run_cli("score", *files, "--no-save")
    assert table.exit_code == 0 and "SCORE" in table.stdout and files[0].name in table.stdout


def test_tables_and_json_keep_input_order(run_cli, mixed_images):
    files = [mixed_images[4], mixed_images[0], mixed_images[7]]
    rows = json.loads(run_cli("score", *files, "--json", "--no-save", "-b", "2").stdout)
    assert [r["path"] for r in rows] == [str(f) for f in files]
    table = run_cli("score", *files, "--no-save", "-b", "2").stdout
    positions = [table.index(f.name) for f in files]
    assert positions == sorted(positions)


def test_jsonl_is_streamed_as_results_arrive(run_cli, mixed_images):
    """The first line is on stdout before the last image is scored."""
    import sys

    seen_before_last = []

    def engine(spec):
        def before_score(source):
            if source == str(mixed_images[5]):
                seen_before_last.append(sys.stdout.buffer.getvalue().decode())

        return FakeEngine(spec, before_score=before_score)

    result = run_cli("score", *mixed_images[:6], "--format", "jsonl", "--no-save", "-b", "2", engine=engine)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 6
    assert len(seen_before_last) == 1 and len(seen_before_last[0].splitlines()) >= 2
    assert json.loads(seen_before_last[0].splitlines()[0])["path"] == str(mixed_images[0])


def test_glob_and_missing_paths(run_cli, mixed_images):
    pattern = str(mixed_images[0].parent / "*.png")
    result = run_cli("score", pattern, mixed_images[0].parent / "missing.jpg", "-f", "jsonl", "--no-save")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 1
    assert sum(1 for r in rows if r["error_kind"] == "missing") == 1
    assert sum(1 for r in rows if not r["error"]) == sum(1 for p in mixed_images if p.suffix == ".png")


def test_critique_command(run_cli, mixed_images):
    result = run_cli(
        "critique",
        mixed_images[0],
        "-a",
        "composition",
        "-a",
        "technical",
        "--max-new-tokens",
        "6",
        "--format",
        "json",
        "--no-save",
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["attribute"] for r in rows] == ["Composition & Design", "Technical Execution"]
    assert all(len(r["text"].split()) == 6 for r in rows)  # --max-new-tokens reached the engine
    bad = run_cli("critique", mixed_images[0], "-a", "colour")
    assert bad.exit_code == 2 and "unknown attribute" in bad.output


def test_eval_prints_srcc_and_plcc(run_cli, mixed_images, tmp_path):
    from scipy import stats

    scores = [r.score for r in FakeEngine().score(mixed_images)]
    truth = [s * 0.5 + (i % 3) for i, s in enumerate(scores)]  # related to the predictions, not identical
    test_json = tmp_path / "test.json"
    test_json.write_text(json.dumps([{"image": p.name, "gt_score": t} for p, t in zip(mixed_images, truth)]))
    result = run_cli("eval", test_json, "--images", mixed_images[0].parent, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == len(mixed_images) and report["failed"] == 0
    assert report["srcc"] == pytest.approx(stats.spearmanr(scores, truth).statistic, abs=1e-3)
    assert report["plcc"] == pytest.approx(stats.pearsonr(scores, truth).statistic, abs=1e-3)


def test_eval_refuses_paths_outside_the_images_folder(run_cli, mixed_images, tmp_path):
    test_json = tmp_path / "test.json"
    test_json.write_text(json.dumps([{"image": "../../etc/passwd", "gt_score": 5}]))
    result = run_cli("eval", test_json, "--images", mixed_images[0].parent)
    assert result.exit_code == 2 and "outside" in result.output


def test_models_and_doctor_json(tiny_chat):
    models = CliRunner().invoke(cli, ["models", "--json"])
    assert models.exit_code == 0
    names = [m["name"] for m in json.loads(models.stdout)]
    assert names[0] == "ArtiMuse" and "ArtiMuse_TAD66K" in names
    doctor = CliRunner().invoke(cli, ["doctor", "--model", str(tiny_chat), "--json"])
    assert doctor.exit_code == 0, doctor.output
    report = json.loads(doctor.stdout)
    assert report["checkpoint_found"] and report["checkpoint_layout"] == "chat" and report["problems"] == []
    assert report["auto_placement"].startswith("cpu float32")


def test_help_teaches_with_examples():
    result = CliRunner().invoke(cli, ["score", "--help"])
    assert "Examples:" in result.output and "--format" in result.output and "Exit code" in result.output


def test_a_core_error_names_the_cli_flag(run_cli, mixed_images, tmp_path):
    """The core says "the model setting"; the CLI says --model."""
    result = CliRunner().invoke(cli, ["score", str(mixed_images[0]), "--model", "ArtiMuse_PARA", "--no-save"])
    assert result.exit_code == 2
    assert "--model" in result.output and "model setting" not in result.output
    bad = run_cli("score", mixed_images[0], "--device", "gpu", "--no-save")
    assert bad.exit_code == 2 and "device must be auto, cpu, cuda, cuda:N or mps" in bad.output


def test_the_login_service_keeps_options_and_environment(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("ARTIMUSE_MODEL", "ArtiMuse_AVA")
    result = run_cli("watch", tmp_path, "--print-service", "-b", "4", "--no-exif", "--category", "aigc")
    assert result.exit_code == 0, result.output
    command = next(line for line in result.stdout.splitlines() if line.startswith("ExecStart="))
    assert f"watch {tmp_path} --category aigc" in command
    assert "--model ArtiMuse_AVA" in command and "--batch-size 4" in command and "--no-exif" in command
    assert "--max-pixels" not in command  # defaults stay out: the service reads the config itself


def test_third_party_warnings_stay_out_of_the_output_unless_verbose(run_cli, mixed_images, recwarn):
    """Warnings reach the user's stderr through warnings.showwarning; pytest records them there instead."""
    import warnings

    def noisy(spec):
        warnings.warn("`foo` is deprecated and will be removed in v6", FutureWarning, stacklevel=1)
        return FakeEngine(spec)

    before = list(warnings.filters)
    quiet = run_cli("score", mixed_images[0], "--no-save", "--json", engine=noisy)
    assert quiet.exit_code == 0 and "deprecated" not in quiet.output and len(recwarn) == 0
    json.loads(quiet.stdout)
    loud = run_cli("--verbose", "score", mixed_images[0], "--no-save", "--json", engine=noisy)
    assert loud.exit_code == 0 and [w.category for w in recwarn] == [FutureWarning]
    assert warnings.filters == before  # and the host process's filters are as they were


def test_sixteen_bit_is_one_setting_everywhere(run_cli, tmp_path, monkeypatch):
    """decode's 16-bit choice is a spec setting: the flag, ARTIMUSE_SIXTEEN_BIT and config show come from it."""
    from tests import corpus

    scan = corpus.write_sixteen_bit_png(tmp_path / "scan16.png")
    reference = run_cli("score", scan, "--json", "--no-save")
    assert reference.exit_code == 0, reference.output
    assert "16-bit" in reference.stderr and '--sixteen-bit "scale"' in reference.stderr  # the warning names the flag
    assert json.loads(reference.stdout)[0]["warnings"]
    scaled = run_cli("score", scan, "--json", "--no-save", "--sixteen-bit", "scale")
    assert "16-bit" not in scaled.stderr and json.loads(scaled.stdout)[0]["warnings"] == []
    assert json.loads(scaled.stdout)[0]["score"] != json.loads(reference.stdout)[0]["score"]  # other pixels
    monkeypatch.setenv("ARTIMUSE_SIXTEEN_BIT", "scale")
    from_env = run_cli("score", scan, "--json", "--no-save")
    assert json.loads(from_env.stdout)[0]["score"] == json.loads(scaled.stdout)[0]["score"]
    shown = json.loads(run_cli("config", "show", "--json").stdout)["settings"]["sixteen_bit"]
    assert shown == {"value": "scale", "source": "environment"}
    assert run_cli("score", scan, "--sixteen-bit", "clip").exit_code == 2


def test_library_loggers_are_quiet_during_a_command_unless_verbose(run_cli, mixed_images):
    """transformers/peft print deprecation notes through their own loggers, not `warnings`: a command
    raises them to ERROR (and puts them back after), --verbose leaves them alone."""
    import logging

    levels = []

    def engine(spec):
        levels.append(logging.getLogger("transformers").getEffectiveLevel())
        return FakeEngine(spec)

    before = logging.getLogger("transformers").level
    assert run_cli("score", mixed_images[0], "--no-save", "--json", engine=engine).exit_code == 0
    assert run_cli("--verbose", "score", mixed_images[0], "--no-save", "--json", engine=engine).exit_code == 0
    assert levels[0] == logging.ERROR and levels[1] < logging.ERROR
    assert logging.getLogger("transformers").level == before
