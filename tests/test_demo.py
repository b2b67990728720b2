"""A new user's first run without the 16 GB model: the tail of README command 1 (`artimuse doctor && artimuse
score samples/ || artimuse demo`) as a real process through the installed `artimuse` entry point, in a
fresh HOME with the user's own ArtiMuse home, settings and variables in place. doctor says what is missing
and exits 1; the demo then runs every step on a tiny random checkpoint, each labelled, and exits 0; the
user's home (config, library, Hugging Face cache) is byte for byte as it was, and the demo folder is gone.
With --serve the gallery stays open after the last step for a real browser to look at, until Ctrl+C."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests import chromium, processes
from tests.test_first_run import REPO, first_run_fallback

pytestmark = pytest.mark.slow
LABEL = "demo weights: scores are noise"
STEPS = ("checkpoint", "score", "top", "critique", "xmp", "watcher", "gallery")


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``: (size, modification time in ns)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }


def run(args: list[str], *, cwd: Path, env: dict[str, str], timeout_s: float = 900) -> subprocess.CompletedProcess:
    """Run ``args`` to the end with no input (the demo asks for none); the process and what it started (the
    demo's watcher) end with the test however it ends (``tests/processes.py``)."""
    process = processes.spawn(
        args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    out, err = process.communicate(timeout=timeout_s)
    return subprocess.CompletedProcess(args, process.returncode, out, err)


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
    done = run(["bash", "-c", first_run_fallback()], cwd=REPO, env=env)
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
    done = run(["artimuse", "demo", "--json", "--keep"], cwd=tmp, env=env)
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


def _lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def _read_until(lines: queue.Queue, pattern: str, seen: list[str], timeout_s: float = 600) -> re.Match:
    """Read the demo's output until a line matches ``pattern`` (the lines read so far go into ``seen``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        if match := re.search(pattern, line):
            return match
    raise AssertionError(f"the demo never printed {pattern!r}:\n{''.join(seen)[-4000:]}")


@pytest.mark.browser
@pytest.mark.skipif(not chromium.available(), reason=chromium.MISSING)
def test_demo_serve_keeps_the_gallery_open_for_a_person_until_ctrl_c(user, tmp_path):
    """`artimuse demo --serve`: after every step ran, the gallery stays up; a real Chromium opens it and sees
    the demo's images with the label on the page; Ctrl+C (SIGINT) ends the demo with exit code 0 and removes
    its folder."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    home, tmp, env = user
    before = snapshot(home)
    process = processes.spawn(
        ["artimuse", "demo", "--serve"],
        cwd=tmp,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
    seen: list[str] = []
    driver = None
    try:
        url = _read_until(lines, r"open (http://127\.0\.0\.1:\d+/) in a browser .*Ctrl\+C to stop", seen).group(1)
        assert f"({LABEL})" in seen[-1]
        driver = chromium.start(tmp_path / "chromium-profile")
        driver.get(url)
        wait = WebDriverWait(driver, 30)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#grid .tile")) == 6)  # 5 samples + the dropped one
        wait.until(
            lambda d: all(i.get_property("naturalWidth") > 0 for i in d.find_elements(By.CSS_SELECTOR, ".tile img"))
        )
        assert driver.find_element(By.CSS_SELECTOR, ".notice").text == LABEL
        chromium.screenshot(driver, tmp_path, "demo-gallery.png")
        assert process.poll() is None, "the demo is still running, serving the gallery"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, "".join(seen)[-3000:]
    finally:  # the demo and its watcher end with the test however it ends (processes.spawn)
        if driver is not None:
            driver.quit()
    _read_until(lines, rf"^demo: all {len(STEPS)} steps ran \({re.escape(LABEL)}\)\.$", seen, timeout_s=30)
    assert snapshot(home) == before
    assert [p.name for p in tmp.iterdir() if not p.name.startswith("torchinductor_")] == []  # the demo folder is gone


def test_a_demo_ended_by_sigterm_leaves_no_watcher_and_no_folder_behind(user):
    """SIGTERM while the demo's watcher runs (its own process): the demo stops as on Ctrl+C, ends the watcher
    and removes its folder; the default action would leave the watcher watching a folder that stays."""
    import psutil

    home, tmp, env = user
    process = processes.spawn(
        ["artimuse", "demo"],
        cwd=tmp,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
    seen: list[str] = []
    _read_until(lines, r"^\[6/7\] watcher: ", seen)
    demo = psutil.Process(process.pid)
    deadline = time.monotonic() + 300
    while not (watchers := [p for p in demo.children() if "watch" in p.cmdline()]):
        assert process.poll() is None and time.monotonic() < deadline, "".join(seen)[-3000:]
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) != 0  # stopped, not "all steps ran"
    (watcher,) = watchers
    assert not watcher.is_running() or watcher.status() == psutil.STATUS_ZOMBIE
    assert [p.name for p in tmp.iterdir() if not p.name.startswith("torchinductor_")] == []
    assert not any("all 7 steps ran" in line for line in seen)
