"""The watcher's jobs under faults: poison jobs, one watcher per library, a failing disk
or database, a replaced checkpoint, a clean stop mid-critique, non-UTF-8 names, and the test corpora dropped
into a live watcher. Each test runs a live watcher (a thread of the test, or the real `artimuse watch`
process) on the fake engine, and asserts the exact outcome in the library."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from artimuse_core.testing import FakeEngine
from artimuse_watcher.context import Backoff
from artimuse_watcher.work import MAX_ATTEMPTS
from tests.watching import (
    WatcherProcess,
    WatcherThread,
    counts,
    exists,
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


# --------------------------------------------------------------------------- poison jobs
class PoisonEngine(FakeEngine):
    """Raises (like a decoder crash or a model error) whenever a batch holds ``poison.png``."""

    def evaluate(self, sources, **kwargs):
        sources = list(sources)
        if any(str(s).endswith("poison.png") for s in sources):
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return super().evaluate(sources, **kwargs)


@pytest.mark.slow  # 4-6 s of real debounce and backoff waits: the full suite (CI) runs it
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
            if exists(db) and counts(db)["jobs"].get(poison, ("",))[0] == "failed":
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


# --------------------------------------------------------------------------- one watcher per library
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
    status = status_of(home)
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
    # The loser is refused by the lock (exit 1), also when both opened the brand-new library at the same
    # moment (it once exited 2 there: the migration race, test_library_safety covers it exactly).
    (loser,) = [w.proc.returncode for w in pair if w not in survivors]
    assert loser == 1
    assert len(result["evaluations"]) == 30 and set(result["evaluations"].values()) == {1}


# --------------------------------------------------------------------------- disk full, failing database
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


@pytest.mark.slow  # mounts a tmpfs
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


class FullDisk:
    """A real small file system (tmpfs) filled to all but ``spare`` bytes: what a user's full disk is to
    SQLite and to the status file, no mock. ``fill`` and ``free`` as often as needed."""

    def __init__(self, where: Path, size: str = "4m"):
        self.where, self.mounted = where, _tmpfs(where, size)

    def fill(self, spare: int = 8192) -> None:
        reserve = self.where / "reserve"
        reserve.write_bytes(b"\0" * spare)  # tmpfs counts 4 KB pages: this many bytes stay free below
        try:
            with open(self.where / "filler", "ab") as filler:
                while True:
                    filler.write(b"\0" * 4096)
                    filler.flush()
        except OSError:
            pass
        reserve.unlink()

    def free(self) -> None:
        (self.where / "filler").unlink(missing_ok=True)

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.where)], capture_output=True)


def _waits_for_the_disk(home: Path, watcher: WatcherProcess, deadline_s: float = 60) -> dict:
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        beat = heartbeat(home)
        if beat.get("state") == "waiting":
            return beat
        time.sleep(0.1)
    raise AssertionError(f"the heartbeat never said waiting: {heartbeat(home)}\n{watcher.output()[-3000:]}")


@pytest.mark.slow  # mounts a tmpfs, real `artimuse watch` process, real backoff waits
def test_a_full_disk_at_start_and_while_running_is_waited_for_said_in_status_then_resumed(tmp_path, home):
    """The home (library, status file, lock) on a disk with 8 KB free: the watcher neither exits nor
    loses a file; it backs off, `artimuse status` says it waits for the disk, and when space returns it
    opens the library and scores everything; filled again while it runs, the same, without a row twice."""
    disk = FullDisk(tmp_path / "disk")
    if not disk.mounted:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        home = disk.where / "home"
        home.mkdir()
        folder = tmp_path / "watched"
        folder.mkdir()
        for i in range(3):
            (folder / f"s{i}.png").write_bytes(png_bytes(500 + i))
        disk.fill()
        watcher = WatcherProcess(home, folder, log_dir=tmp_path).launch()
        beat = _waits_for_the_disk(home, watcher)
        assert watcher.alive(), watcher.output()
        assert "the disk is full" in beat["error"] and "database or disk is full" in beat["error"]
        shown = status_command(home)
        assert f"watcher: waiting (pid {watcher.proc.pid}): library unavailable (the disk is full" in shown
        assert "library: unavailable" in shown  # `status` itself cannot open the library either: it says so
        disk.free()
        db = home / "library.db"
        first = wait_for(db, 3, 0, timeout=90)
        assert heartbeat(home)["state"] == "running"
        # Full again while it runs: the log (WAL) emptied, so the next write needs new space.
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        disk.fill()
        for i in range(3, 6):
            (folder / f"s{i}.png").write_bytes(png_bytes(500 + i))
        beat = _waits_for_the_disk(home, watcher)
        assert "database unavailable (the disk is full" in beat["error"] and watcher.alive()
        assert "waiting" in status_of(home)["state"]
        disk.free()
        result = wait_for(db, 6, 0, timeout=90)
        assert heartbeat(home)["state"] == "running"
        assert watcher.stop() == 0
        assert set(first["evaluations"]) < set(result["evaluations"])
        assert len(result["evaluations"]) == 6 and set(result["evaluations"].values()) == {1}
        events = watcher.events()
        retries = [e for e in events if e["event"] == "retry"]
        assert retries and all(e.get("disk_full") for e in retries), [e["message"] for e in retries]
        assert sum(e["event"] == "recovered" for e in events) >= 2
        assert "Traceback" not in watcher.output()
    finally:
        disk.close()


@pytest.mark.slow  # 4-6 s of real debounce and backoff waits: the full suite (CI) runs it
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
    broken_until[0] = time.time() + 2.5
    for i in range(5):
        (folder / f"e{i}.png").write_bytes(png_bytes(400 + i))
    result = wait_for(home / "library.db", 5, 0, timeout=60)
    assert watcher.stop() == 0
    assert len(result["evaluations"]) == 5 and set(result["evaluations"].values()) == {1}
    retries = watcher.events.count("retry")
    assert 1 <= retries <= 3  # 1, 2 s steps over a 2.5 s outage: not one line per file or per poll
    assert watcher.events.count("recovered") == 1


# --------------------------------------------------------------------------- reload on a new checkpoint
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


# --------------------------------------------------------------------------- clean stop mid-critique
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


@pytest.mark.slow  # real critique steps and a stop mid-way (~2 s): the full suite runs it
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
    while not exists(db) or counts(db)["jobs"].get(image) != ("pending", 1):  # the critique job runs
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


# --------------------------------------------------------------------------- non-UTF-8 names
@pytest.mark.slow  # real `artimuse watch` processes
def test_a_non_utf8_name_then_a_good_file_both_scored_and_status_truthful(dirs):
    home, folder = dirs
    watcher = WatcherProcess(home, folder).start()
    latin1 = folder / os.fsdecode(b"caf\xe9.png")
    latin1.write_bytes(png_bytes(700))
    time.sleep(3.0)
    (folder / "good.png").write_bytes(png_bytes(701))
    result = wait_for(home / "library.db", 2, 0, timeout=60)
    status = status_of(home)
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


# ---------------------------------------------------------------------------- the corpora through a live watcher
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
    alive = watcher.thread.is_alive() and status_of(home)["state"] == "running"
    assert watcher.stop() == 0
    assert alive
    assert set(result["evaluations"]) == scored and set(result["evaluations"].values()) == {1}
    assert {p: kinds for p, kinds in result["error_kinds"].items()} == {p: [k] for p, k in failed.items()}
    assert "internal_error" not in watcher.events


# ------------------------------------------------------------------------ job options: one key, one record
def test_a_watched_files_critique_request_is_one_options_record_from_queue_to_critique(tmp_path):
    """The watcher queues a score job asking for critiques; the door queues the follow-up critique job; the
    worker writes the critiques: both jobs store the request under the same keys (``JobOptions``), and the
    critiques written are the ones the watcher was told to write, at its token limit."""
    from artimuse_core.library import JobOptions, Library
    from artimuse_watcher.daemon import Watcher, WatcherSettings

    folder = tmp_path / "watched"
    folder.mkdir()
    (folder / "a.png").write_bytes(png_bytes(1))
    settings = WatcherSettings(
        folders=[(folder, None)],
        critique=("Composition & Design",),
        max_new_tokens=5,
        debounce_s=0.0,
        status_file=tmp_path / "watcher.json",
    )
    with Library.at(tmp_path / "lib.db") as library:
        watcher = Watcher(settings, library, lambda: FakeEngine(batch_size=4))
        watcher.tracker.add(folder / "a.png")
        watcher._queue_ready()  # the first look at the file starts its clock; the second finds it settled
        watcher._queue_ready()
        wanted = JobOptions(("Composition & Design",), 5)
        assert [j.options for j in library.pending_jobs("score")] == [wanted]
        assert watcher.worker.run_jobs("score") == 1
        assert [j.options for j in library.pending_jobs("critique")] == [wanted]
        assert watcher.worker.run_jobs("critique") == 1
        shown = library.show(folder / "a.png")
        critique = shown.evaluations[0].critiques["Composition & Design"]
        assert len(critique.split()) == 5  # the fake engine writes one word per token, up to the limit
    with sqlite3.connect(tmp_path / "lib.db") as conn:
        stored = [json.loads(o) for (o,) in conn.execute("SELECT options FROM jobs ORDER BY id")]
    assert stored == [{"attributes": ["Composition & Design"], "max_new_tokens": 5}] * 2


def test_pending_score_jobs_of_an_older_library_keep_their_critique_request(tmp_path):
    """Score jobs queued before the one-key options (``{"critique": [...]}``) are migrated: still pending, they
    ask for the same critiques at the same length; a downgrade gives them their old key back."""
    from alembic import command

    from artimuse_core.library import JobOptions, Library
    from artimuse_core.library.database import alembic_config

    db = tmp_path / "library.db"
    library = Library.at(db)
    with library.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0012")
    old = {"critique": ["Composition & Design", "Light and Shadow"], "max_new_tokens": 64}
    with sqlite3.connect(db) as conn:
        for kind, options in (("score", old), ("score", None), ("critique", {"attributes": ["Light and Shadow"]})):
            conn.execute(
                "INSERT INTO jobs (kind, path, status, options, attempts, enqueued_at, updated_at) "
                "VALUES (?, '/a.png', 'pending', ?, 0, '2026-01-01', '2026-01-01')",
                (kind, json.dumps(options) if options is not None else None),
            )
    with library.engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    assert [j.options for j in library.pending_jobs("score")] == [
        JobOptions(("Composition & Design", "Light and Shadow"), 64),
        JobOptions(),
    ]
    assert [j.options for j in library.pending_jobs("critique")] == [JobOptions(("Light and Shadow",))]
    with library.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0012")
    with sqlite3.connect(db) as conn:
        assert [json.loads(o) if o else None for (o,) in conn.execute("SELECT options FROM jobs ORDER BY id")] == [
            old,
            None,
            {"attributes": ["Light and Shadow"]},
        ]
    library.close()
