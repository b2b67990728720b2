"""The watcher under faults (issues 10 and 12): no thread dies silently, the inotify limit falls back to
polling, empty files, poison jobs, one watcher per library, a failing disk, a replaced checkpoint, a clean
stop mid-critique and non-UTF-8 names. Each test runs a live watcher (a thread of the test, or the real
`artimuse watch` process) on the fake engine, and asserts the exact outcome in the library."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from artimuse_core.testing import FakeEngine
from artimuse_watcher.daemon import read_status
from artimuse_watcher.work import MAX_ATTEMPTS, Backoff
from tests.watching import STATUS, WatcherProcess, WatcherThread, counts, heartbeat, png_bytes, wait_for


@pytest.fixture()
def dirs(tmp_path):
    home, folder = tmp_path / "home", tmp_path / "watched"
    home.mkdir()
    folder.mkdir()
    return home, folder


def _status(home: Path) -> dict:
    from artimuse_core.library import Library

    with Library.at(home / "library.db") as library:
        return read_status(library, home / STATUS)


def _status_command(home: Path) -> str:
    from click.testing import CliRunner

    from artimuse_cli.main import cli

    result = CliRunner().invoke(cli, ["status"], env={"ARTIMUSE_HOME": str(home), "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


# ------------------------------------------------------------------------ 1. no thread dies silently
def test_an_exception_in_the_settler_is_logged_and_the_watcher_carries_on(dirs):
    home, folder = dirs
    watcher = WatcherThread(home, folder).start()
    real_ready, calls = watcher.watcher.tracker.ready, []

    def ready_once_broken(*args):
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("a bug in the settler")
        return real_ready(*args)

    watcher.watcher.tracker.ready = ready_once_broken
    (folder / "after.png").write_bytes(png_bytes(1))
    result = wait_for(home / "library.db", 1, 0, timeout=60)
    assert _status(home)["state"] == "running"
    assert watcher.stop() == 0
    assert result["evaluations"] == {str(folder / "after.png"): 1}
    assert watcher.events.count("internal_error") == 1


def test_an_exception_in_an_observer_callback_is_recorded_against_the_file(dirs):
    home, folder = dirs
    watcher = WatcherThread(home, folder).start()
    real_touch = watcher.watcher.tracker.touch

    def touch(path):
        if path.name == "boom.png":
            raise RuntimeError("boom")
        real_touch(path)

    watcher.watcher.tracker.touch = touch
    (folder / "boom.png").write_bytes(png_bytes(2))
    time.sleep(1.0)
    (folder / "good.png").write_bytes(png_bytes(3))
    result = wait_for(home / "library.db", 1, 1, timeout=60)
    assert watcher.watcher.observers.native.is_alive()
    assert watcher.stop() == 0
    assert result["evaluations"] == {str(folder / "good.png"): 1}
    assert result["error_kinds"][str(folder / "boom.png")][0] == "internal"


def test_a_dead_observer_is_restarted_and_hears_again(dirs):
    home, folder = dirs
    watcher = WatcherThread(home, folder).start()
    watcher.watcher.observers.native.stop()  # as if an exception had killed watchdog's thread
    deadline = time.time() + 30
    while "observer_restart" not in watcher.events and time.time() < deadline:
        time.sleep(0.05)
    (folder / "heard.png").write_bytes(png_bytes(4))
    result = wait_for(home / "library.db", 1, 0)
    assert watcher.stop() == 0
    assert result["evaluations"] == {str(folder / "heard.png"): 1}
    assert watcher.events.count("observer_restart") == 1


def test_a_thread_that_cannot_go_on_makes_the_daemon_exit_non_zero_and_status_say_so(dirs):
    home, folder = dirs
    watcher = WatcherThread(home, folder).start()

    def fatal():
        raise SystemExit("beyond any turn's guard")

    watcher.watcher._check_folders = fatal
    watcher.thread.join(30)
    assert watcher.codes == [1]
    status = _status(home)
    assert status["state"] == "failed" and "the settler thread stopped" in status["error"]


def test_status_says_starting_while_the_model_loads_then_lists_the_live_worker(dirs):
    import threading

    home, folder = dirs
    loaded = threading.Event()

    def slow_factory():
        loaded.wait(30)
        return FakeEngine(batch_size=16)

    watcher = WatcherThread(home, folder, engine_factory=slow_factory).start(state="starting")
    starting = _status(home)
    loaded.set()
    deadline = time.time() + 30
    while heartbeat(home).get("state") != "running" and time.time() < deadline:
        time.sleep(0.05)
    running = _status(home)
    shown = _status_command(home)
    assert watcher.stop() == 0
    assert shown.splitlines()[0] == f"watcher: running (pid {os.getpid()})"
    assert shown.splitlines()[1].startswith(f"worker: pid {os.getpid()} on ")
    assert (starting["state"], starting["running"]) == ("starting", True)
    assert running["state"] == "running"
    assert [w["pid"] for w in running["workers"]] == [os.getpid()]
    assert set(running["workers"][0]["beat_ages_s"]) >= {"worker"}
    assert _status(home)["state"] == "not running"  # a clean stop removes the heartbeat


def test_a_model_that_cannot_load_exits_non_zero_and_status_says_failed(dirs):
    home, folder = dirs

    def broken():
        raise MemoryError("not enough memory for the weights")

    watcher = WatcherThread(home, folder, engine_factory=broken)
    watcher.thread.start()
    watcher.thread.join(30)
    assert watcher.codes == [1]
    status = _status(home)
    assert status["state"] == "failed" and not status["running"]
    assert "MemoryError: not enough memory for the weights" in status["error"]
    assert _status_command(home).splitlines()[0] == "watcher: failed: MemoryError: not enough memory for the weights"


@pytest.mark.slow  # real `artimuse watch` processes
def test_status_of_a_killed_watcher_says_killed(dirs):
    home, folder = dirs
    watcher = WatcherProcess(home, folder).start()
    assert watcher.stop(signal.SIGKILL) == -signal.SIGKILL
    status = _status(home)
    assert (status["state"], status["running"], status["workers"]) == ("killed", False, [])


# ------------------------------------------------------------------------ 2. inotify limit, network shares
def _can_limit_inotify() -> bool:
    probe = "echo 5 > /proc/sys/user/max_inotify_watches"
    return (
        shutil.which("unshare") is not None
        and subprocess.run(["unshare", "-U", "-r", "sh", "-c", probe], capture_output=True).returncode == 0
    )


@pytest.mark.slow  # real `artimuse watch` processes in a user namespace
@pytest.mark.skipif(not _can_limit_inotify(), reason="no user namespaces here (unshare -U -r)")
@pytest.mark.parametrize("limit", [0, 2])
def test_the_inotify_limit_falls_back_to_polling_with_one_message(dirs, limit):
    """In a user namespace whose inotify watch limit is ``limit`` (0: not even the folder; 2: the folder and
    one subfolder, not the other three): one message naming the limit, files at start-up and files dropped
    later into every subfolder are scored, no log flood."""
    home, folder = dirs
    subfolders = [folder / f"sub{i}" for i in range(4)]
    for sub in subfolders:
        sub.mkdir()
    (folder / "before.png").write_bytes(png_bytes(10))
    limited = f'echo {limit} > /proc/sys/user/max_inotify_watches && exec "$@"'
    watcher = WatcherProcess(home, folder, wrap=("unshare", "-U", "-r", "sh", "-c", limited, "sh")).start()
    for i, sub in enumerate(subfolders):
        (sub / f"late{i}.png").write_bytes(png_bytes(20 + i))
    result = wait_for(home / "library.db", 5, 0, timeout=120)
    polling = heartbeat(home)["polling"]
    assert watcher.stop() == 0
    assert set(result["evaluations"]) == {str(folder / "before.png")} | {
        str(sub / f"late{i}.png") for i, sub in enumerate(subfolders)
    }
    assert set(result["evaluations"].values()) == {1}
    assert polling == [str(folder)]
    events = [e["event"] for e in watcher.events()]
    assert events.count("inotify_limit") == 1
    assert events.count("watching") == 1 and "watch_error" not in events
    (message,) = [e["message"] for e in watcher.events() if e["event"] == "inotify_limit"]
    assert "fs.inotify.max_user_watches" in message and "sysctl" in message


def test_an_inotify_limit_at_schedule_time_falls_back_to_polling(dirs, monkeypatch):
    """The same kind without user namespaces: the OSError(28) that inotify raises at the folder itself."""
    from watchdog.observers import Observer

    def full(*_args, **_kwargs):
        raise OSError(28, "inotify watch limit reached")

    monkeypatch.setattr(Observer, "schedule", full)
    home, folder = dirs
    (folder / "before.png").write_bytes(png_bytes(30))
    watcher = WatcherThread(home, folder).start()
    (folder / "after.png").write_bytes(png_bytes(31))
    result = wait_for(home / "library.db", 2, 0, timeout=60)
    polled = watcher.watcher.observers.polled()
    assert watcher.stop() == 0
    assert set(result["evaluations"]) == {str(folder / "before.png"), str(folder / "after.png")}
    assert polled == [str(folder)]
    assert watcher.events.count("inotify_limit") == 1 and watcher.events.count("watching") == 1


def test_poll_watches_network_shares_by_polling(dirs):
    home, folder = dirs
    watcher = WatcherThread(home, folder, poll=True).start()
    (folder / "share.png").write_bytes(png_bytes(40))
    result = wait_for(home / "library.db", 1, 0, timeout=60)
    assert watcher.watcher.observers.native is None
    assert watcher.watcher.observers.polled() == [str(folder)]
    assert watcher.stop() == 0
    assert result["evaluations"] == {str(folder / "share.png"): 1}


# ------------------------------------------------------------------------ 3. zero-byte files
def test_an_empty_file_is_one_error_then_scored_when_it_grows(dirs):
    home, folder = dirs
    db = home / "library.db"
    watcher = WatcherThread(home, folder).start()
    empty = folder / "export.png"
    empty.write_bytes(b"")
    first = wait_for(db, 0, 1, timeout=60)
    time.sleep(1.0)  # still one error: an empty file is reported once, not at every poll
    again = counts(db)
    empty.write_bytes(png_bytes(50))
    result = wait_for(db, 1, 1, timeout=60)
    assert watcher.stop() == 0
    assert first["error_kinds"] == again["error_kinds"] == {str(empty): ["empty"]}
    assert result["evaluations"] == {str(empty): 1}
    assert result["errors"] == {str(empty): 1}  # no new error row
    with sqlite3.connect(db) as conn:  # resolving the old one is the library's rule (errors.resolved_at)
        resolvable = "resolved_at" in [row[1] for row in conn.execute("PRAGMA table_info(errors)")]
    assert _status(home)["errors"] == (0 if resolvable else 1)


# ------------------------------------------------------------------------ 4. poison jobs
class PoisonEngine(FakeEngine):
    """Raises (like a decoder crash or a model error) whenever a batch holds ``poison.png``."""

    def evaluate(self, sources, **kwargs):
        sources = list(sources)
        if any(str(s).endswith("poison.png") for s in sources):
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return super().evaluate(sources, **kwargs)


def test_a_job_that_keeps_failing_is_retried_then_recorded_and_never_blocks_the_queue(dirs):
    home, folder = dirs
    db = home / "library.db"
    watcher = WatcherThread(home, folder, engine_factory=lambda: PoisonEngine(batch_size=16), retry_after_s=0.1)
    watcher.start()
    names = ["a.png", "poison.png", "b.png", "c.png"]
    for i, name in enumerate(names):
        (folder / name).write_bytes(png_bytes(60 + i))
    result = wait_for(db, 3, 1, timeout=60)
    (folder / "later.png").write_bytes(png_bytes(70))
    later = wait_for(db, 4, 1, timeout=60)
    assert watcher.stop() == 0
    good = {str(folder / n) for n in names if n != "poison.png"}
    assert set(result["evaluations"]) == good and set(result["evaluations"].values()) == {1}
    poison = str(folder / "poison.png")
    assert result["jobs"][poison] == ("failed", MAX_ATTEMPTS)
    assert result["error_kinds"] == {poison: ["internal"]}
    assert later["evaluations"][str(folder / "later.png")] == 1
    assert watcher.events.count("gave_up") == 1


@pytest.mark.slow  # real `artimuse watch` processes
def test_a_file_that_kills_the_watcher_is_given_up_after_the_restarts(dirs):
    """The worst poison: the process dies on the file (a segfault in a decoder). Each restart counts a try
    and runs it alone; after MAX_ATTEMPTS the job is failed and the restarted watcher lives."""
    home, folder = dirs
    db = home / "library.db"
    for i in range(3):
        (folder / f"good{i}.png").write_bytes(png_bytes(80 + i))
    (folder / "poison.png").write_bytes(png_bytes(90))
    deaths = 0
    poison = str(folder / "poison.png")
    for _ in range(MAX_ATTEMPTS + 2):
        watcher = WatcherProcess(home, folder, env={"FAKE_CRASH_ON": "poison.png"}).launch()
        deadline = time.time() + 300  # it dies on the poison file, or lives once the job is given up
        while watcher.alive() and time.time() < deadline:
            if db.exists() and counts(db)["jobs"].get(poison, ("",))[0] == "failed":
                break
            time.sleep(0.2)
        if watcher.alive():
            break
        deaths += 1
    result = wait_for(db, 3, 1, timeout=60)
    assert watcher.alive()
    assert watcher.stop() == 0
    assert deaths == MAX_ATTEMPTS
    assert set(result["evaluations"]) == {str(folder / f"good{i}.png") for i in range(3)}
    assert set(result["evaluations"].values()) == {1}
    assert result["jobs"][poison] == ("failed", MAX_ATTEMPTS)
    assert result["error_kinds"] == {poison: ["internal"]}


# ------------------------------------------------------------------------ 5. one watcher per library
@pytest.mark.slow  # real `artimuse watch` processes
def test_a_second_watcher_on_the_same_library_is_refused_naming_the_first(dirs, tmp_path):
    home, folder = dirs
    other = tmp_path / "other"
    other.mkdir()
    first = WatcherProcess(home, folder).start()
    second = WatcherProcess(home, other).launch()
    assert second.proc.wait(timeout=60) == 1
    refusal = [e for e in second.events() if e["event"] == "already_watching"]
    assert len(refusal) == 1 and f"pid {first.proc.pid}" in refusal[0]["message"]
    for i in range(20):
        (folder / f"f{i:02d}.png").write_bytes(png_bytes(100 + i))
    result = wait_for(home / "library.db", 20, 0, timeout=120)
    status = _status(home)
    assert first.stop() == 0
    assert set(result["evaluations"].values()) == {1}
    assert [w["pid"] for w in status["workers"]] == [first.proc.pid]
    assert heartbeat(home) == {}  # the refused watcher never touched the first one's heartbeat


@pytest.mark.slow  # real `artimuse watch` processes
def test_two_watchers_started_together_never_double_a_job(dirs):
    home, folder = dirs
    for i in range(30):
        (folder / f"g{i:02d}.png").write_bytes(png_bytes(200 + i))
    pair = [WatcherProcess(home, folder).launch() for _ in range(2)]
    deadline = time.time() + 60
    while all(w.alive() for w in pair) and time.time() < deadline:
        time.sleep(0.1)
    survivors = [w for w in pair if w.alive()]
    assert len(survivors) == 1
    result = wait_for(home / "library.db", 30, 0, timeout=120)
    assert survivors[0].stop() == 0
    assert [w.proc.returncode for w in pair if w not in survivors] == [1]
    assert len(result["evaluations"]) == 30 and set(result["evaluations"].values()) == {1}


# ------------------------------------------------------------------------ 6. disk full, failing database
def test_backoff_is_exponential_capped_and_says_one_line_per_step(caplog):
    backoff = Backoff("database", first_s=0.05, cap_s=0.2)
    delays = []
    with caplog.at_level("INFO", logger="artimuse.watch"):
        for _ in range(6):
            delays.append(backoff.failed(OSError(28, "No space left on device")))
            backoff.failed(OSError(28, "No space left on device"))  # same step: no line, no longer wait
            time.sleep(delays[-1] + 0.01)
        backoff.ok()
    assert delays == [0.05, 0.1, 0.2, 0.2, 0.2, 0.2]
    assert [r.event for r in caplog.records] == ["retry"] * 6 + ["recovered"]


def _tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
        ).returncode
        == 0
    )


def test_a_full_disk_under_the_status_file_is_one_line_and_the_watcher_keeps_scoring(dirs, tmp_path):
    full = tmp_path / "full"
    if not _tmpfs(full, "64k"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        try:
            with open(full / "filler", "wb") as filler:
                while True:
                    filler.write(b"\0" * 4096)
                    filler.flush()
        except OSError:
            pass  # full
        home, folder = dirs
        watcher = WatcherThread(home, folder, status_file=full / "run" / "watcher.json")
        watcher.thread.start()
        deadline = time.time() + 30
        while "watching" not in watcher.events and time.time() < deadline:
            time.sleep(0.05)
        for i in range(3):
            (folder / f"d{i}.png").write_bytes(png_bytes(300 + i))
        result = wait_for(home / "library.db", 3, 0, timeout=60)
        (full / "filler").unlink()
        time.sleep(2.0)  # the next beat writes again
        written = json.loads((full / "run" / "watcher.json").read_text())
        assert watcher.stop() == 0
        assert len(result["evaluations"]) == 3
        assert watcher.events.count("status_error") == 1
        assert watcher.events.count("status_ok") == 1 and written["state"] == "running"
    finally:
        subprocess.run(["umount", "-l", str(full)], capture_output=True)


def test_a_failing_database_backs_off_with_one_line_per_step_then_catches_up(dirs):
    from artimuse_core.errors import LibraryError

    home, folder = dirs
    watcher = WatcherThread(home, folder)
    library = watcher.watcher.library
    real_enqueue, broken_until = library.enqueue, [0.0]

    def enqueue(*args):
        if time.time() < broken_until[0]:
            raise LibraryError("database or disk is full")
        return real_enqueue(*args)

    library.enqueue = enqueue
    watcher.start()
    broken_until[0] = time.time() + 4.0
    for i in range(5):
        (folder / f"e{i}.png").write_bytes(png_bytes(400 + i))
    result = wait_for(home / "library.db", 5, 0, timeout=60)
    assert watcher.stop() == 0
    assert len(result["evaluations"]) == 5 and set(result["evaluations"].values()) == {1}
    retries = watcher.events.count("retry")
    assert 1 <= retries <= 4  # 1, 2, 4 s steps over a 4 s outage; not one line per file or per poll
    assert watcher.events.count("recovered") == 1


# ------------------------------------------------------------------------ 7. reload on a new checkpoint
@pytest.mark.slow  # builds a tiny checkpoint (torch)
def test_the_engine_reloads_when_the_checkpoint_files_change(dirs, tmp_path):
    from artimuse_core.synthetic import build_checkpoint

    home, folder = dirs
    checkpoint = build_checkpoint(tmp_path / "ckpt", seed=3)
    built = []

    def factory():
        built.append(FakeEngine(str(checkpoint), batch_size=16))
        return built[-1]

    watcher = WatcherThread(home, folder, engine_factory=factory).start()
    (folder / "one.png").write_bytes(png_bytes(500))
    wait_for(home / "library.db", 1, 0, timeout=60)
    (folder / "two.png").write_bytes(png_bytes(501))
    wait_for(home / "library.db", 2, 0, timeout=60)
    assert len(built) == 1  # same files: the same engine
    weights = sorted(checkpoint.glob("*.safetensors"))[0]
    weights.write_bytes(weights.read_bytes())  # overwritten in place: same bytes, new identity
    (folder / "three.png").write_bytes(png_bytes(502))
    wait_for(home / "library.db", 3, 0, timeout=60)
    assert watcher.stop() == 0
    assert len(built) == 2
    assert watcher.events.count("reload") == 1


# ------------------------------------------------------------------------ 8. clean stop mid-critique
class LongCritiques(FakeEngine):
    """Each critique takes ``max_new_tokens`` steps of ``step_s`` through the ``on_step`` hook."""

    def __init__(self, step_s: float, **kwargs):
        super().__init__(**kwargs)
        self.step_s = step_s

    def critique(self, sources, attributes=(), max_new_tokens=None, progress=None, on_step=None):
        for step in range(max_new_tokens or 1):
            time.sleep(self.step_s)
            if on_step:
                on_step(step, max_new_tokens)
        return super().critique(sources, attributes, max_new_tokens=4, progress=progress)


def test_a_stop_during_a_long_critique_ends_promptly_and_the_job_resumes(dirs):
    home, folder = dirs
    db = home / "library.db"
    image = str(folder / "long.png")

    def start(step_s: float) -> WatcherThread:
        factory = lambda: LongCritiques(step_s, batch_size=16)  # noqa: E731
        options = dict(critique=("Overall Gestalt",), max_new_tokens=6000, engine_factory=factory)
        return WatcherThread(home, folder, **options).start()

    watcher = start(0.01)  # a 60 s critique
    (folder / "long.png").write_bytes(png_bytes(600))
    deadline = time.time() + 60
    while not db.exists() or counts(db)["jobs"].get(image) != ("pending", 1):  # the critique job runs
        assert time.time() < deadline, counts(db)
        time.sleep(0.1)
    time.sleep(0.5)
    asked = time.time()
    assert watcher.stop(timeout=30) == 0
    took = time.time() - asked
    mid = counts(db)
    assert took < 30  # bounded: the 60 s critique stopped at a token
    assert mid["evaluations"] == {image: 1} and mid["pending"] == 1
    assert mid["jobs"][image] == ("pending", 0)  # still pending, and the stop cost it no try
    watcher = start(0.0)  # the next watcher finishes it
    deadline = time.time() + 60
    while counts(db)["pending"] and time.time() < deadline:
        time.sleep(0.1)
    assert watcher.stop() == 0
    assert counts(db)["jobs"][image] == ("done", 1)


# ------------------------------------------------------------------------ 9. non-UTF-8 names
@pytest.mark.slow  # real `artimuse watch` processes
def test_a_non_utf8_name_then_a_good_file_both_scored_and_status_truthful(dirs):
    home, folder = dirs
    watcher = WatcherProcess(home, folder).start()
    latin1 = folder / os.fsdecode(b"caf\xe9.png")
    latin1.write_bytes(png_bytes(700))
    time.sleep(3.0)
    (folder / "good.png").write_bytes(png_bytes(701))
    result = wait_for(home / "library.db", 2, 0, timeout=60)
    status = _status(home)
    assert watcher.stop() == 0
    assert result["evaluations"] == {str(latin1): 1, str(folder / "good.png"): 1}
    assert status["state"] == "running" and status["errors"] == 0
    output = watcher.output()
    assert "Logging error" not in output and "Traceback" not in output
    assert "caf\\\\xe9.png" in output  # shown escaped in the JSON log line
    assert (
        subprocess.run(
            [sys.executable, "-m", "artimuse_cli", "status"],
            env=dict(os.environ, ARTIMUSE_HOME=str(home)),
            capture_output=True,
            text=True,
        ).returncode
        == 0
    )


# ------------------------------------------------------------------------ 10. the corpora through a live watcher
@pytest.mark.slow  # ~80 files of every kind
@pytest.mark.parametrize("make", ["hostile_corpus", "messy_export_folder"])
def test_every_file_of_the_corpus_dropped_into_a_live_watcher_is_accounted_for(dirs, make):
    """Dropped while the watcher runs: every file meant to score scores once, every bad one is exactly one
    error of its kind, nothing passed over becomes a row, and the watcher is alive at the end."""
    from tests import corpus

    home, folder = dirs
    watcher = WatcherThread(home, folder).start()
    made = getattr(corpus, make)(folder)  # its "outside" files land beside the watched folder
    cases = [c for c in made.cases if c.name != "vanishes_mid_run"]  # it only vanishes when asked to
    scored = {os.fspath(c.path) for c in cases if c.expected.status == "scored"}
    scored |= {os.fspath(c.path) for c in made.cases if c.name == "vanishes_mid_run"}
    failed = {os.fspath(c.path): c.expected.kind for c in cases if c.expected.status == "failed"}
    result = wait_for(home / "library.db", len(scored), len(failed), timeout=90)
    alive = watcher.thread.is_alive() and _status(home)["state"] == "running"
    assert watcher.stop() == 0
    assert alive
    assert set(result["evaluations"]) == scored and set(result["evaluations"].values()) == {1}
    assert {p: kinds for p, kinds in result["error_kinds"].items()} == {p: [k] for p, k in failed.items()}
    assert "internal_error" not in watcher.events
