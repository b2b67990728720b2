"""`artimuse batch` on a REAL private Ray instance (`--ray local`, the default) with a tiny real checkpoint
(slow), as a process of its own: with one CPU it still finishes (decoding moves into the scoring actor);
a driver killed with SIGKILL leaves no Ray process behind (the watchdog) and the next run takes its lease
over and finishes with every input exactly once; SIGTERM stops the private Ray it started.

Each run gets a private HOME (Ray 2.60 writes a token to ~/.ray/auth_token when it starts a private
instance) and a short RAY_TMPDIR (its session folder and sockets). Exactness against `artimuse score` is
tests/test_batch_cluster.py's (the same plan, on a cluster): the engine's float32 results move by a few ULPs
with which images share a forward pass (measured: up to 1.9e-5 on a score when only the batch composition
changes, in one process; tests/test_engine.py::test_batch_results_equal_one_by_one holds the engine to 1e-4
on the score and 1e-5 on each probability across compositions), so such comparisons run with batch size 1."""

from __future__ import annotations

import json
import shutil
import signal
import time

import pytest

from tests.ray_cluster import require_ray

require_ray()
psutil = pytest.importorskip("psutil")

from tests import batch_runs as runs  # noqa: E402
from tests.ray_cluster import clean_environment, short_temp_dir  # noqa: E402

pytestmark = pytest.mark.slow

GOOD = 60
INPUTS = GOOD + len(runs.CORRUPT) + 1


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return runs.make_corpus(tmp_path_factory.mktemp("local_corpus"), GOOD)


@pytest.fixture()
def env(tmp_path):
    root = short_temp_dir()
    (root / "home").mkdir()
    (root / "ray").mkdir()
    yield clean_environment(root / "home", RAY_TMPDIR=str(root / "ray"), ARTIMUSE_HOME=str(tmp_path / "home"))
    shutil.rmtree(root, ignore_errors=True)


#: Without the watchdog, Ray's agents outlive a SIGKILLed driver by a minute (measured with Ray 2.60: they see
#: the raylet die at once, then wait out a hard-coded 60 s call to the dead GCS before they exit); the
#: watchdog stops them within its grace (5 s). A bound between the two is what tells them apart.
AGENTS_OUTLIVE_SECONDS = 60
WATCHDOG_BOUND = AGENTS_OUTLIVE_SECONDS * 2 / 3


def wait_until_gone(processes, timeout: float = 120) -> list[str]:
    """What is still running of ``processes`` after at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while any(runs.running(p) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [f"{p.pid} {p.name()}" for p in processes if runs.running(p)]


def test_one_cpu_still_makes_progress(env, tiny_chat, tmp_path):
    """With --cpus 1 the scoring actor holds the only CPU: a separate decode task could never run. The
    actor decodes its own batches instead and the run finishes."""
    corpus = runs.make_corpus(tmp_path / "few", 8)
    output = tmp_path / "one-cpu.parquet"
    done = runs.run(runs.batch_command(corpus, output, tiny_chat, "--cpus", "1", "--json"), env, timeout=400)
    assert done.returncode == 1, done.stderr  # finished; the corrupt inputs failed
    summary = json.loads(done.stdout)
    assert summary["placement"] == "1 CPU per scoring actor, decoding inside the scoring actors"
    assert (summary["scored"], summary["failed"]) == (8, len(runs.CORRUPT) + 1)
    rows = 8 + len(runs.CORRUPT) + 1
    assert runs.counts(output, runs.inputs_of(corpus)) == {"rows": rows, "duplicates": 0, "lost": 0}


def test_a_killed_driver_leaves_no_ray_process_and_the_next_run_finishes_exactly_once(env, corpus, tiny_chat, tmp_path):
    output = tmp_path / "killed.parquet"
    command = runs.batch_command(corpus, output, tiny_chat, "--cpus", "2", batch_size=2)
    driver = runs.start_and_wait_for_rows(command, env, output, 10)
    ray_processes = psutil.Process(driver.pid).children(recursive=True)
    names = {p.name() for p in ray_processes}
    assert {"raylet", "gcs_server"} <= names and any(n.startswith("ray::") for n in names), names
    runs.stop(driver, signal.SIGKILL)  # the driver only: its private Ray must not outlive it
    assert wait_until_gone(ray_processes, WATCHDOG_BOUND) == []
    killed_at = len(runs.table(output))
    assert 10 <= killed_at < INPUTS

    finish = runs.run(command, env)
    assert finish.returncode == 1, finish.stderr
    assert f"took over a stale lease (PID {driver.pid} on " in finish.stderr
    found = runs.counts(output, runs.inputs_of(corpus))
    print(f"local SIGKILL at {killed_at} rows, then resume: {found} for {INPUTS} inputs")
    assert found == {"rows": INPUTS, "duplicates": 0, "lost": 0}


@pytest.mark.parametrize(("sig", "group"), [(signal.SIGTERM, False), (signal.SIGINT, True)], ids=["SIGTERM", "Ctrl-C"])
def test_sigterm_and_ctrl_c_stop_the_private_ray_it_started(env, corpus, tiny_chat, tmp_path, sig, group):
    """SIGTERM to the driver, or SIGINT to its whole process group as a terminal's Ctrl-C sends it (Ray's
    processes block SIGINT; the watchdog is in a session of its own): the finished rows are written, the
    private Ray stops, and the same command resumes."""
    output = tmp_path / "stopped.parquet"
    command = runs.batch_command(corpus, output, tiny_chat, "--cpus", "2")
    driver = runs.start_and_wait_for_rows(command, env, output, 4)
    ray_processes = psutil.Process(driver.pid).children(recursive=True)
    err = runs.stop(driver, sig, group=group)
    assert driver.returncode == 128 + sig, err
    line = runs.last_line(err)
    assert line.startswith(f"interrupted by {signal.Signals(sig).name}: ") and line.endswith("again to resume")
    assert wait_until_gone(ray_processes) == []
    written = len(runs.table(output))
    assert runs.counts(output, runs.inputs_of(corpus))["duplicates"] == 0
    assert not (output / ".lease.json").exists()  # given back: the next run needs no take-over

    finish = runs.run(command, env)
    assert finish.returncode == 1, finish.stderr
    assert "took over" not in finish.stderr and f"{written} skipped" in finish.stderr
    assert runs.counts(output, runs.inputs_of(corpus)) == {"rows": INPUTS, "duplicates": 0, "lost": 0}
