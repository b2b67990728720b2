"""A new user's first run without the 16 GB model: the tail of README command 1 (`artimuse doctor && artimuse
score samples/ || artimuse demo`) as a real process through the installed `artimuse` entry point, in a
fresh HOME with the user's own ArtiMuse home, settings and variables in place. doctor says what is missing
and exits 1; the demo then runs every step on a tiny random checkpoint, each labelled, and exits 0; the
user's home (config, library, Hugging Face cache) is byte for byte as it was, and the demo folder is gone."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_first_run import REPO, first_run_fallback

pytestmark = pytest.mark.slow
LABEL = "demo weights: scores are noise"
STEPS = ("checkpoint", "score", "top", "critique", "xmp", "watcher", "gallery")


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``: (size, modification time in ns)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture()
def user(tmp_path):
    """A user's machine: HOME with an ArtiMuse home holding a config and a library, a Hugging Face cache,
    ARTIMUSE_* variables that point elsewhere, and a private temp folder."""
    home = tmp_path / "user"
    artimuse_home = home / "artimuse"
    artimuse_home.mkdir(parents=True)
    (artimuse_home / "config.toml").write_text('model = "ArtiMuse_PARA"\nbatch_size = 3\n')
    (artimuse_home / "library.db").write_bytes(b"")  # stands for the user's own library: never opened
    (home / "hf" / "hub").mkdir(parents=True)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "ARTIMUSE_HOME": str(artimuse_home),
        "ARTIMUSE_DATABASE_URL": f"sqlite:///{home / 'elsewhere.db'}",
        "ARTIMUSE_BATCH_SIZE": "2",
        "HF_HOME": str(home / "hf"),
        "HF_HUB_CACHE": str(home / "hf" / "hub"),
        "HF_HUB_OFFLINE": "1",
        "TMPDIR": str(tmp),
    }
    env.pop("NO_COLOR", None)
    return home, tmp, env


def test_the_first_run_without_the_model_ends_in_the_demo_and_leaves_the_user_alone(user):
    home, tmp, env = user
    before = snapshot(home)
    assert (Path(sys.executable).parent / "artimuse").is_file(), "the console script is installed"
    done = subprocess.run(
        ["bash", "-c", first_run_fallback()], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-4000:]
    # doctor first: the model is not here and cannot download, so it says how to get it, and exits 1
    assert "problem: Thunderbolt215215/ArtiMuse_PARA is not in the local Hugging Face cache" in out
    assert "hf download Thunderbolt215215/ArtiMuse_PARA" in out and "ready:" not in out
    # then every step of the demo, each labelled, each ok
    for number, step in enumerate(STEPS, 1):
        assert re.search(rf"^\[{number}/{len(STEPS)}\] {step}: .*\({LABEL}\)$", out, re.M), step
    assert len(re.findall(r"^      ok \(", out, re.M)) == len(STEPS), out[-3000:]
    assert "5 scored" in out and "demo-weights-scores-are-noise" in out  # score, then top's model column
    assert "Composition & Design" in out  # the critique
    assert "xmp: 5 created" in out and "artimuse:Model = demo-weights-scores-are-noise" in out
    assert re.search(r"the watcher scored dropped-\S+\.jpg: [\d.]+ ± [\d.]+ .*exit code 0", out)
    url = re.search(r"the demo gallery is on (http://127\.0\.0\.1:\d+/)", out)
    assert url and re.search(rf"fetched {re.escape(url.group(1))}: 6 tiles; /picture/\d+/s: image/", out)
    assert f"demo: all {len(STEPS)} steps ran ({LABEL})." in out
    # nothing of the user's was read into the demo or written by it; the demo folder is removed
    assert snapshot(home) == before
    assert not (home / "elsewhere.db").exists()
    # torch's own kernel cache (torchinductor_<user>) is made in TMPDIR by any command that imports it
    assert [p.name for p in tmp.iterdir() if not p.name.startswith("torchinductor_")] == []


def test_the_demo_reports_every_step_as_json(user):
    home, tmp, env = user
    done = subprocess.run(
        ["artimuse", "demo", "--json", "--keep"], cwd=tmp, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["ok"] and report["kept"] and [s["step"] for s in report["steps"]] == list(STEPS)
    assert {s["label"] for s in report["steps"]} == {LABEL} and {s["status"] for s in report["steps"]} == {"ok"}
    steps = {s["step"]: s for s in report["steps"]}
    scores = steps["score"]["output"]
    assert len(scores) == 5 and {r["model"] for r in scores} == {"demo-weights-scores-are-noise"}
    assert all(0 <= r["score"] <= 100 for r in scores)
    kept = Path(report["folder"])
    assert kept.parent == tmp and (kept / "home" / "library.db").is_file()
    assert sorted(p.name for p in (kept / "samples").glob("*.xmp")) == sorted(
        f"{r['path'].rsplit('/', 1)[1]}.xmp" for r in scores
    )
    assert steps["watcher"]["output"]["exit_code"] == 0 and steps["gallery"]["output"]["tiles"] == 6
    assert not any((REPO / "samples").glob("*.xmp")), "the repository's samples are never written to"
