"""The watcher under faults: no thread dies silently, the inotify limit falls back to
polling, empty files, poison jobs, one watcher per library, a failing disk, a replaced checkpoint, a clean
stop mid-critique and non-UTF-8 names. Each test runs a live watcher (a thread of the test, or the real
`artimuse watch` process) on the fake engine, and asserts the exact outcome in the library."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from artimuse_core.testing import FakeEngine
from tests.watching import (
    WatcherProcess,
    WatcherThread,
    counts,
    heartbeat,
    png_bytes,
    status_command,
    status_of,
    wait_for,
)


@pytest.fixture()
def dirs(tmp_path, library_home):
    """The watcher's home (its library on each backend in turn, ``library_backend``) and watched folder."""
    home, folder = library_home, tmp_path / "watched"
    home.mkdir()
    folder.mkdir()
    return home, folder


# --------------------------------------------------------------------------- no thread dies silently
@pytest.mark.slow  # real settler rounds (~2 s): the full suite runs it
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
    assert status_of(home)["state"] == "running"
    assert watcher.stop() == 0
    assert result["evaluations"] == {str(folder / "after.png"): 1}
    assert watcher.events.count("internal_error") == 1


@pytest.mark.slow  # the fast tier has one test of this fault's kind
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


@pytest.mark.slow  # the fast tier has one test of this fault's kind
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
    status = status_of(home)
    assert status["state"] == "failed" and "the settler thread stopped" in status["error"]


def test_status_says_starting_while_the_model_loads_then_lists_the_live_worker(dirs):
    import threading

    home, folder = dirs
    loaded = threading.Event()

    def slow_factory():
        loaded.wait(30)
        return FakeEngine(batch_size=16)

    watcher = WatcherThread(home, folder, engine_factory=slow_factory).start(state="starting")
    starting = status_of(home)
    loaded.set()
    deadline = time.time() + 30
    while heartbeat(home).get("state") != "running" and time.time() < deadline:
        time.sleep(0.05)
    running = status_of(home)
    shown = status_command(home)
    assert watcher.stop() == 0
    assert shown.splitlines()[0] == f"watcher: running (pid {os.getpid()})"
    assert shown.splitlines()[1].startswith(f"worker: pid {os.getpid()} on ")
    assert (starting["state"], starting["running"]) == ("starting", True)
    assert running["state"] == "running"
    assert [w["pid"] for w in running["workers"]] == [os.getpid()]
    assert set(running["workers"][0]["beat_ages_s"]) >= {"worker"}
    assert status_of(home)["state"] == "not running"  # a clean stop removes the heartbeat


def test_a_model_that_cannot_load_exits_non_zero_and_status_says_failed(dirs):
    home, folder = dirs

    def broken():
        raise MemoryError("not enough memory for the weights")

    watcher = WatcherThread(home, folder, engine_factory=broken)
    watcher.thread.start()
    watcher.thread.join(30)
    assert watcher.codes == [1]
    status = status_of(home)
    assert status["state"] == "failed" and not status["running"]
    assert "MemoryError: not enough memory for the weights" in status["error"]
    assert status_command(home).splitlines()[0] == "watcher: failed: MemoryError: not enough memory for the weights"


@pytest.mark.slow  # real `artimuse watch` processes
def test_status_of_a_killed_watcher_says_killed(dirs):
    home, folder = dirs
    watcher = WatcherProcess(home, folder).start()
    assert watcher.stop(signal.SIGKILL) == -signal.SIGKILL
    status = status_of(home)
    assert (status["state"], status["running"], status["workers"]) == ("killed", False, [])


# --------------------------------------------------------------------------- inotify limit, network shares
def _can_limit_inotify() -> bool:
    probe = "echo 5 > /proc/sys/user/max_inotify_watches"
    return (
        shutil.which("unshare") is not None
        and subprocess.run(["unshare", "-U", "-r", "sh", "-c", probe], capture_output=True).returncode == 0
    )


@pytest.mark.slow  # real `artimuse watch` processes in a user namespace
@pytest.mark.skipif(not _can_limit_inotify(), reason="no user namespaces here (unshare -U -r)")
@pytest.mark.parametrize("setting, limit", [("watches", 0), ("watches", 2), ("instances", 0)])
def test_the_inotify_limit_falls_back_to_polling_with_one_message(dirs, setting, limit):
    """In a user namespace whose inotify watch limit is ``limit`` (0: not even the folder; 2: the folder and
    one subfolder, not the other three), or whose instance limit is 0: one message naming the limit that was
    hit (the namespace's, with its value, not the host's), files at start-up and files dropped later into every
    subfolder are scored, no log flood."""
    home, folder = dirs
    subfolders = [folder / f"sub{i}" for i in range(4)]
    for sub in subfolders:
        sub.mkdir()
    (folder / "before.png").write_bytes(png_bytes(10))
    limited = f'echo {limit} > /proc/sys/user/max_inotify_{setting} && exec "$@"'
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
    host = Path(f"/proc/sys/fs/inotify/max_user_{setting}").read_text().strip()
    assert f"user.max_inotify_{setting} = {limit}; the host's fs.inotify.max_user_{setting} is {host})" in message
    assert f"`sysctl user.max_inotify_{setting}=" in message


@pytest.mark.slow  # waits on the polling observer's one-second rounds: the full suite runs both cases
@pytest.mark.parametrize("error, setting", [(28, "watches"), (24, "instances")])
def test_an_inotify_limit_at_schedule_time_falls_back_to_polling(dirs, monkeypatch, error, setting):
    """The same kind without user namespaces: the OSError(28) (watches) or OSError(24) (instances) that
    inotify raises at the folder itself; the message names that limit with the host's value."""
    from watchdog.observers import Observer

    def full(*_args, **_kwargs):
        raise OSError(error, f"inotify {setting} limit reached")

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
    (message,) = [r.getMessage() for r in watcher.records if getattr(r, "event", "") == "inotify_limit"]
    value = Path(f"/proc/sys/fs/inotify/max_user_{setting}").read_text().strip()
    assert f"(fs.inotify.max_user_{setting} = {value}) is reached" in message, message


@pytest.mark.slow  # the fast tier has one test of this fault's kind
def test_poll_watches_network_shares_by_polling(dirs):
    home, folder = dirs
    watcher = WatcherThread(home, folder, poll=True).start()
    (folder / "share.png").write_bytes(png_bytes(40))
    result = wait_for(home / "library.db", 1, 0, timeout=60)
    assert watcher.watcher.observers.native is None
    assert watcher.watcher.observers.polled() == [str(folder)]
    assert watcher.stop() == 0
    assert result["evaluations"] == {str(folder / "share.png"): 1}


# --------------------------------------------------------------------------- zero-byte files
@pytest.mark.slow  # 4-6 s of real debounce and backoff waits: the full suite (CI) runs it
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
    assert status_of(home)["errors"] == 0  # resolving the old one is the library's rule (errors.resolved_at)
