"""The watcher as users run it: a real `artimuse watch` process, a real watchdog observer on real folders.

The process runs the real CLI with the fake engine injected through its public seam (``AppContext``), so
these tests exercise the watcher, the door and the library in seconds; one end-to-end test runs the real
engine on the tiny checkpoint."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artimuse_watcher.service import launchd_plist, systemd_unit
from artimuse_watcher.tracker import StabilityTracker, should_watch

# The real `artimuse watch` command, with FakeEngine injected (its delay makes a flood slow enough to interrupt).
FAKE_RUNNER = (
    "import os, sys; from artimuse_cli.main import AppContext, cli; "
    "from artimuse_core.testing import FakeEngine; "
    "cli.main(sys.argv[1:], prog_name='artimuse', obj=AppContext(engine_factory=lambda spec: "
    "FakeEngine(spec, delay_s=float(os.environ.get('FAKE_DELAY_S', '0')))))"
)


def png_bytes(seed: int) -> bytes:
    import io

    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


class WatcherProcess:
    """`artimuse watch` in its own process: the real engine on ``checkpoint``, else the fake one."""

    def __init__(
        self, home: Path, folder: Path, checkpoint: Path | None = None, extra: tuple = (), delay_s: float = 0.0
    ):
        self.home, self.folder, self.checkpoint, self.extra = home, folder, checkpoint, list(extra)
        self.delay_s = delay_s
        self.proc = None

    def start(self):
        env = dict(os.environ, ARTIMUSE_HOME=str(self.home), FAKE_DELAY_S=str(self.delay_s))
        self.log = open(self.home / f"watch-{time.time():.0f}.log", "w")
        program = ["-m", "artimuse_cli"] if self.checkpoint else ["-c", FAKE_RUNNER]
        model = ["--model", str(self.checkpoint)] if self.checkpoint else []
        self.proc = subprocess.Popen(
            [
                sys.executable,
                *program,
                "watch",
                str(self.folder),
                *model,
                "--debounce",
                "0.4",
                "--batch-size",
                "16",
                "--json-logs",
                *self.extra,
            ],
            env=env,
            stdout=self.log,
            stderr=self.log,
        )
        status = self.home / "run" / "watcher.json"
        deadline = time.time() + 60
        while time.time() < deadline:
            if status.exists() and json.loads(status.read_text())["pid"] == self.proc.pid:
                return self
            assert self.proc.poll() is None, (self.home / self.log.name).read_text()
            time.sleep(0.1)
        raise AssertionError("watcher did not start")

    def stop(self, sig=signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        self.log.close()
        return code


class WatcherThread:
    """The watcher in this process (a thread), built through its public seam: ``Watcher(settings, library,
    engine_factory)`` with the fake engine. Its log records are kept in ``events``."""

    def __init__(
        self,
        home: Path,
        folder: Path,
        critique: tuple[str, ...] = (),
        max_new_tokens: int = 512,
        family: str | None = None,
    ):
        from artimuse_core.library import Library
        from artimuse_core.testing import FakeEngine
        from artimuse_watcher import Watcher, WatcherSettings
        from artimuse_watcher.logs import LOGGER, setup

        setup(json_logs=True)
        self.events: list[str] = []
        self.handler = _Collect(self.events)
        LOGGER.addHandler(self.handler)
        self.library = Library.at(home / "library.db")
        settings = WatcherSettings(
            folders=[(folder, None)],
            critique=critique,
            max_new_tokens=max_new_tokens,
            debounce_s=0.4,
            batch_size=16,
            status_file=home / "run" / "watcher.json",
        )
        self.watcher = Watcher(settings, self.library, lambda: FakeEngine(batch_size=16, family=family))
        self.codes: list[int] = []
        self.thread = threading.Thread(target=lambda: self.codes.append(self.watcher.run(install_signals=False)))

    def start(self):
        self.thread.start()
        deadline = time.time() + 30
        while not self.watcher.settings.status_file.exists():
            assert time.time() < deadline and self.thread.is_alive(), "watcher did not start"
            time.sleep(0.05)
        return self

    def stop(self) -> int:
        from artimuse_watcher.logs import LOGGER

        self.watcher.request_stop()
        self.thread.join(timeout=60)
        LOGGER.removeHandler(self.handler)
        self.library.close()
        return self.codes[0]


class _Collect(logging.Handler):
    def __init__(self, events: list[str]):
        super().__init__()
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(getattr(record, "event", ""))


def counts(db: Path) -> dict:
    with sqlite3.connect(db) as conn:
        return {
            "evaluations": dict(
                conn.execute(
                    "SELECT i.path, count(*) FROM evaluations e JOIN images i ON i.id = e.image_id GROUP BY i.path"
                ).fetchall()
            ),
            "errors": dict(conn.execute("SELECT path, count(*) FROM errors GROUP BY path").fetchall()),
            "pending": conn.execute("SELECT count(*) FROM jobs WHERE status = 'pending'").fetchone()[0],
        }


def wait_for(db: Path, good: int, bad: int, timeout: float = 180) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if db.exists():
            c = counts(db)
            if len(c["evaluations"]) >= good and len(c["errors"]) >= bad and c["pending"] == 0:
                time.sleep(1.5)  # anything extra (a duplicate) would show up now
                return counts(db)
        time.sleep(0.25)
    raise AssertionError(f"timed out: {counts(db) if db.exists() else 'no database'}")


def drop_flood(folder: Path) -> tuple[list[Path], list[Path]]:
    """500 at once, 50 written slowly in chunks, 20 temp-then-rename, 10 corrupt."""
    good, bad = [], []
    flood = folder / "flood"
    flood.mkdir(parents=True)
    for i in range(500):
        (flood / f"f{i:03d}.png").write_bytes(png_bytes(i))
        good.append(flood / f"f{i:03d}.png")
    slow = folder / "slow"
    slow.mkdir()

    def write_slowly():
        for i in range(50):
            data = png_bytes(1000 + i)
            with open(slow / f"s{i:02d}.png", "wb") as handle:
                for start in range(0, len(data), len(data) // 3 + 1):
                    handle.write(data[start : start + len(data) // 3 + 1])
                    handle.flush()
                    time.sleep(0.02)

    writer = threading.Thread(target=write_slowly)
    writer.start()
    good += [slow / f"s{i:02d}.png" for i in range(50)]
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
def setup_dirs(tmp_path):
    home, folder = tmp_path / "home", tmp_path / "watched"
    home.mkdir()
    folder.mkdir()
    return home, folder


@pytest.mark.slow
def test_flood_every_file_scored_exactly_once_by_the_real_engine(setup_dirs, tiny_chat):
    home, folder = setup_dirs
    watcher = WatcherProcess(home, folder, tiny_chat).start()
    good, bad = drop_flood(folder)
    result = wait_for(home / "library.db", len(good), len(bad))
    assert watcher.stop() == 0
    check_exactly_once(result, good, bad)
    assert not (home / "run" / "watcher.json").exists()


@pytest.mark.slow
def test_sigkill_mid_flood_then_restart_loses_nothing_and_repeats_nothing(setup_dirs):
    home, folder = setup_dirs
    db = home / "library.db"
    watcher = WatcherProcess(home, folder, delay_s=0.01).start()
    good, bad = drop_flood(folder)
    deadline = time.time() + 120
    while time.time() < deadline and len(counts(db)["evaluations"]) < 60:
        time.sleep(0.05)
    assert watcher.stop(signal.SIGKILL) == -signal.SIGKILL
    killed_at = len(counts(db)["evaluations"])
    assert 0 < killed_at < len(good)
    watcher = WatcherProcess(home, folder).start()
    result = wait_for(db, len(good), len(bad))
    assert watcher.stop() == 0
    check_exactly_once(result, good, bad)


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
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute("SELECT path, missing FROM images").fetchall())
        evaluations = conn.execute("SELECT count(*) FROM evaluations").fetchone()[0]
    assert rows == {str(folder / "renamed.png"): 0, str(folder / "b.png"): 1}
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


def test_critiques_follow_the_scores(setup_dirs):
    home, folder = setup_dirs
    db = home / "library.db"
    watcher = WatcherThread(home, folder, critique=("Overall Gestalt", "Technical Execution"), max_new_tokens=4).start()
    for i in range(3):
        (folder / f"c{i}.png").write_bytes(png_bytes(20 + i))
    wait_for(db, 3, 0)
    deadline = time.time() + 60
    while time.time() < deadline:
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT attribute, count(*) FROM critiques GROUP BY attribute").fetchall()
            waiting = conn.execute("SELECT count(*) FROM jobs WHERE status = 'pending'").fetchone()[0]
        if sum(n for _, n in rows) == 6 and not waiting:
            break
        time.sleep(0.25)
    assert watcher.stop() == 0
    assert dict(rows) == {"Overall Gestalt": 3, "Technical Execution": 3}


def test_unipercept_scores_are_stored_per_dimension(setup_dirs):
    """Issue 13: with a UniPercept model every new file gets its iaa, iqa and ista rows, all current."""
    home, folder = setup_dirs
    db = home / "library.db"
    watcher = WatcherThread(home, folder, family="unipercept").start()
    for i in range(2):
        (folder / f"u{i}.png").write_bytes(png_bytes(40 + i))
    result = wait_for(db, 2, 0)
    assert watcher.stop() == 0
    assert result["evaluations"] == {str(folder / "u0.png"): 3, str(folder / "u1.png"): 3}
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT dimension, count(*) FROM evaluations WHERE current GROUP BY dimension").fetchall()
    assert dict(rows) == {"iaa": 2, "iqa": 2, "ista": 2}
