"""The watcher as users run it: a real `artimuse watch` process, a real watchdog observer on real folders.

The process runs the real CLI with the fake engine injected through its public seam (``AppContext``), so
these tests exercise the watcher, the door and the library in seconds; one end-to-end test runs the real
engine on the tiny checkpoint."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from artimuse_watcher.service import launchd_plist, systemd_unit
from artimuse_watcher.tracker import StabilityTracker, should_watch
from tests.watching import WatcherProcess, WatcherThread, counts, exists, png_bytes, sql, wait_for


def drop_flood(folder: Path, at_once: int = 200, slowly: int = 20) -> tuple[list[Path], list[Path]]:
    """``at_once`` files in one go, ``slowly`` written in chunks, 20 temp-then-rename, 10 corrupt. The counts
    are what the kinds need (a batch boundary many times over, writes overlapping the debounce), not more."""
    good, bad = [], []
    flood = folder / "flood"
    flood.mkdir(parents=True)
    for i in range(at_once):
        (flood / f"f{i:03d}.png").write_bytes(png_bytes(i))
        good.append(flood / f"f{i:03d}.png")
    slow = folder / "slow"
    slow.mkdir()

    def write_slowly():
        for i in range(slowly):
            data = png_bytes(1000 + i)
            with open(slow / f"s{i:02d}.png", "wb") as handle:
                for start in range(0, len(data), len(data) // 3 + 1):
                    handle.write(data[start : start + len(data) // 3 + 1])
                    handle.flush()
                    time.sleep(0.02)

    writer = threading.Thread(target=write_slowly)
    writer.start()
    good += [slow / f"s{i:02d}.png" for i in range(slowly)]
    for i in range(20):
        temp = folder / f"export{i:02d}.png.tmp"
        temp.write_bytes(png_bytes(2000 + i))
        temp.rename(folder / f"export{i:02d}.png")
        good.append(folder / f"export{i:02d}.png")
    for i in range(10):
        (folder / f"corrupt{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(300))
        bad.append(folder / f"corrupt{i}.jpg")
    writer.join()
    return good, bad


def check_exactly_once(result: dict, good: list[Path], bad: list[Path]) -> None:
    assert {Path(p) for p in result["evaluations"]} == set(good)
    assert set(result["evaluations"].values()) == {1}
    assert {Path(p) for p in result["errors"]} == set(bad)
    assert set(result["errors"].values()) == {1}


@pytest.fixture()
def setup_dirs(tmp_path, library_home):
    """The watcher's home (its library on each backend in turn, ``library_backend``) and watched folder."""
    home, folder = library_home, tmp_path / "watched"
    home.mkdir()
    folder.mkdir()
    return home, folder


@pytest.mark.slow
def test_flood_every_file_scored_exactly_once_by_the_real_engine(setup_dirs, tiny_chat):
    home, folder = setup_dirs
    watcher = WatcherProcess(home, folder, tiny_chat).start()
    good, bad = drop_flood(folder, at_once=100)
    result = wait_for(home / "library.db", len(good), len(bad))
    assert watcher.stop() == 0
    check_exactly_once(result, good, bad)
    assert not (home / "run" / "watcher.json").exists()


@pytest.mark.slow
def test_sigkill_mid_flood_then_restart_loses_nothing_and_repeats_nothing(setup_dirs):
    home, folder = setup_dirs
    db = home / "library.db"
    watcher = WatcherProcess(home, folder, delay_s=0.02).start()
    good, bad = drop_flood(folder)
    # Kill it part-way, wherever "part-way" is on this machine: after a fifth of the files are scored.
    deadline, last, moved = time.time() + 600, -1, time.time()
    while (scored := len(counts(db)["evaluations"]) if exists(db) else 0) < len(good) // 5:
        if scored != last:
            last, moved = scored, time.time()
        assert time.time() - moved < 60 and time.time() < deadline, f"no progress: {scored}"
        time.sleep(0.05)
    assert watcher.stop(signal.SIGKILL) == -signal.SIGKILL
    killed_at = len(counts(db)["evaluations"])
    assert 0 < killed_at < len(good)
    watcher = WatcherProcess(home, folder).start()
    result = wait_for(db, len(good), len(bad))
    assert watcher.stop() == 0
    check_exactly_once(result, good, bad)


@pytest.mark.slow  # 4-6 s of real debounce and backoff waits: the full suite (CI) runs it
def test_moves_deletes_hidden_symlinks_and_catch_up(setup_dirs, tmp_path):
    home, folder = setup_dirs
    db = home / "library.db"
    (folder / "a.png").write_bytes(png_bytes(1))
    (folder / "b.png").write_bytes(png_bytes(2))
    outside = tmp_path / "outside.png"
    outside.write_bytes(png_bytes(3))
    (folder / "link.png").symlink_to(outside)
    watcher = WatcherThread(home, folder).start()
    (folder / ".hidden.png").write_bytes(png_bytes(4))
    (folder / "notes.txt").write_text("not an image")
    (folder / "download.png.crdownload").write_bytes(png_bytes(5))
    wait_for(db, 2, 0)
    (folder / "a.png").rename(folder / "renamed.png")
    (folder / "b.png").unlink()
    time.sleep(2.0)
    assert watcher.stop() == 0
    rows = dict(sql(db, "SELECT path, missing FROM images"))
    evaluations = sql(db, "SELECT count(*) FROM evaluations")[0][0]
    assert rows == {str(folder / "renamed.png"): False, str(folder / "b.png"): True}
    assert evaluations == 2  # the rename kept its history; nothing was scored again
    # While nothing watches: one file added, one changed. The restart catches up on exactly those.
    (folder / "new.png").write_bytes(png_bytes(6))
    time.sleep(0.05)
    (folder / "renamed.png").write_bytes(png_bytes(7))
    watcher = WatcherThread(home, folder).start()
    wait_for(db, 3, 0)
    assert watcher.stop() == 0
    result = counts(db)
    assert result["evaluations"][str(folder / "new.png")] == 1
    assert result["evaluations"][str(folder / "renamed.png")] == 2  # old version kept as history


def test_stability_tracker_waits_for_writes_to_settle(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(b"12")
    tracker = StabilityTracker(debounce_s=1.0)
    tracker.touch(path)
    assert tracker.ready(now=100.0) == []  # first look
    assert tracker.ready(now=100.5) == []  # not settled yet
    path.write_bytes(b"1234")
    assert tracker.ready(now=101.2) == []  # changed: the clock restarts
    assert tracker.ready(now=101.9) == []
    assert [p for p, _, _ in tracker.ready(now=102.3)] == [path]
    assert len(tracker) == 0


def test_what_is_watched(tmp_path):
    root = tmp_path
    assert should_watch(root / "a.jpg", root)[0]
    assert not should_watch(root / ".cache" / "a.jpg", root)[0]
    assert not should_watch(root / "a.jpg.part", root)[0]
    assert not should_watch(root / "a.jpg.crdownload", root)[0]
    assert not should_watch(root / "a.tmp", root)[0]


def test_service_files_run_the_watcher_at_login():
    unit = systemd_unit(["/photos", "--category", "photography"])
    assert "ExecStart=" in unit and "-m artimuse_cli watch /photos --category photography" in unit
    assert "WantedBy=default.target" in unit
    plist = launchd_plist(["/photos"])
    assert "<string>watch</string>" in plist and "<key>RunAtLoad</key><true/>" in plist


@pytest.mark.slow  # 4-6 s of real debounce and backoff waits: the full suite (CI) runs it
def test_a_vanished_folder_is_reported_and_watched_again(setup_dirs):
    import shutil

    home, folder = setup_dirs
    db = home / "library.db"
    (folder / "first.png").write_bytes(png_bytes(10))
    watcher = WatcherThread(home, folder).start()
    wait_for(db, 1, 0)
    shutil.rmtree(folder)
    time.sleep(1.5)
    folder.mkdir()
    (folder / "second.png").write_bytes(png_bytes(11))
    result = wait_for(db, 2, 0)
    assert watcher.stop() == 0
    assert result["evaluations"] == {str(folder / "first.png"): 1, str(folder / "second.png"): 1}
    assert "folder_vanished" in watcher.events


@pytest.mark.slow  # real debounce and job-loop timers (~2 s): the full suite runs it
def test_critiques_follow_the_scores(setup_dirs):
    home, folder = setup_dirs
    db = home / "library.db"
    watcher = WatcherThread(home, folder, critique=("Overall Gestalt", "Technical Execution"), max_new_tokens=4).start()
    for i in range(3):
        (folder / f"c{i}.png").write_bytes(png_bytes(20 + i))
    wait_for(db, 3, 0)
    deadline = time.time() + 60
    while time.time() < deadline:
        rows = sql(db, "SELECT attribute, count(*) FROM critiques GROUP BY attribute")
        waiting = sql(db, "SELECT count(*) FROM jobs WHERE status = 'pending'")[0][0]
        if sum(n for _, n in rows) == 6 and not waiting:
            break
        time.sleep(0.25)
    assert watcher.stop() == 0
    assert dict(rows) == {"Overall Gestalt": 3, "Technical Execution": 3}


@pytest.mark.slow  # real debounce and job-loop timers (~2 s): the full suite runs it
def test_unipercept_scores_are_stored_per_dimension(setup_dirs):
    """With a UniPercept model every new file gets its iaa, iqa and ista rows, all current."""
    from artimuse_core.testing import FakeEngine

    home, folder = setup_dirs
    db = home / "library.db"
    factory = lambda: FakeEngine(batch_size=16, family="unipercept")  # noqa: E731
    watcher = WatcherThread(home, folder, engine_factory=factory).start()
    for i in range(2):
        (folder / f"u{i}.png").write_bytes(png_bytes(40 + i))
    result = wait_for(db, 2, 0)
    assert watcher.stop() == 0
    assert result["evaluations"] == {str(folder / "u0.png"): 3, str(folder / "u1.png"): 3}
    rows = sql(db, "SELECT dimension, count(*) FROM evaluations WHERE current GROUP BY dimension")
    assert dict(rows) == {"iaa": 2, "iqa": 2, "ista": 2}
