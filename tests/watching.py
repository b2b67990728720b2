"""A live watcher for tests: the real `artimuse watch` process (``WatcherProcess``) or the ``Watcher`` in a
thread of the test (``WatcherThread``), both with the fake engine unless a checkpoint is given, and helpers
that read the library as its database (SQLite, or the test's PostgreSQL) sees it."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from tests import processes

# The real `artimuse watch` command, with FakeEngine injected (its delay makes a flood slow enough to interrupt;
# a file named $FAKE_CRASH_ON kills the process when "scored", like a decoder segfault would).
FAKE_RUNNER = (
    "import os, signal, sys; from artimuse_cli.main import AppContext, cli; "
    "from artimuse_core.testing import FakeEngine; "
    "crash = os.environ.get('FAKE_CRASH_ON') or None; "
    "before = (lambda s: os.kill(os.getpid(), signal.SIGKILL) if crash and str(s).endswith(crash) else None); "
    "cli.main(sys.argv[1:], prog_name='artimuse', obj=AppContext(engine_factory=lambda spec: "
    "FakeEngine(spec, delay_s=float(os.environ.get('FAKE_DELAY_S', '0')), before_score=before)))"
)
STATUS = Path("run") / "watcher.json"


def png_bytes(seed: int) -> bytes:
    import io

    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def heartbeat(home: Path) -> dict:
    try:
        return json.loads((home / STATUS).read_text())
    except (OSError, ValueError):
        return {}


class WatcherProcess:
    """`artimuse watch` in its own process: the real engine on ``checkpoint``, else the fake one.
    ``wrap`` goes before the command (``["unshare", "-U", "-r", ...]``); ``env`` adds variables."""

    def __init__(
        self,
        home: Path,
        folder: Path,
        checkpoint: Path | None = None,
        extra: tuple = (),
        delay_s: float = 0.0,
        env: dict | None = None,
        wrap: tuple = (),
        log_dir: Path | None = None,
    ):
        self.home, self.folder, self.checkpoint, self.extra = home, folder, checkpoint, list(extra)
        self.log_dir = log_dir or home  # elsewhere when the home is on a disk the test fills
        self.delay_s, self.env, self.wrap = delay_s, dict(env or {}), list(wrap)
        self.proc: subprocess.Popen | None = None
        self.log_file = home / "watch.log"

    def launch(self) -> WatcherProcess:
        env = dict(os.environ, ARTIMUSE_HOME=str(self.home), FAKE_DELAY_S=str(self.delay_s), **self.env)
        self.log_file = self.log_dir / f"watch-{time.time_ns()}.log"
        self.log = open(self.log_file, "w")
        program = ["-m", "artimuse_cli"] if self.checkpoint else ["-c", FAKE_RUNNER]
        model = ["--model", str(self.checkpoint)] if self.checkpoint else []
        command = [sys.executable, *program, "watch", str(self.folder), *model]
        command += ["--debounce", "0.4", "--batch-size", "16", "--json-logs", *self.extra]
        self.proc = processes.spawn([*self.wrap, *command], env=env, stdout=self.log, stderr=self.log)
        processes.at_teardown(self.log.close)  # after the process ends (cleanups run last added first)
        return self

    def start(self, timeout: float = 120) -> WatcherProcess:
        """Launch and wait until its heartbeat says running."""
        self.launch()
        deadline = time.time() + timeout
        while time.time() < deadline:
            beat = heartbeat(self.home)
            if beat.get("pid") is not None and beat.get("state") == "running" and self.alive():
                return self
            assert self.proc.poll() is None, self.output()
            time.sleep(0.1)
        raise AssertionError("watcher did not start: " + self.output())

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_file.read_text(errors="replace")

    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.output().splitlines() if line.startswith("{")]

    def stop(self, sig=signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        self.log.close()
        return code


class WatcherThread:
    """The watcher in this process (a thread), built through its public seam: ``Watcher(settings, library,
    engine_factory)`` with the fake engine (or ``engine_factory``). Its log records are kept in ``records``
    (their events in ``events``); ``settings`` override ``WatcherSettings`` fields."""

    def __init__(
        self,
        home: Path,
        folder: Path,
        critique: tuple[str, ...] = (),
        max_new_tokens: int = 512,
        engine_factory=None,
        **settings,
    ):
        from artimuse_core.library import Library
        from artimuse_core.testing import FakeEngine
        from artimuse_watcher import Watcher, WatcherSettings
        from artimuse_watcher.logs import LOGGER, setup

        setup(json_logs=True)
        self.records: list[logging.LogRecord] = []
        self.handler = _Collect(self.records)
        LOGGER.addHandler(self.handler)
        self.library = Library(database_url(home / "library.db"))
        values = dict(
            folders=[(folder, None)],
            critique=critique,
            max_new_tokens=max_new_tokens,
            debounce_s=0.4,
            batch_size=16,
            status_file=home / STATUS,
        )
        values.update(settings)
        self.watcher = Watcher(
            WatcherSettings(**values), self.library, engine_factory or (lambda: FakeEngine(batch_size=16))
        )
        self.codes: list[int] = []
        self.thread = threading.Thread(
            target=lambda: self.codes.append(self.watcher.run(install_signals=False)), daemon=True
        )
        processes.at_teardown(self._stopped)  # however the test ends

    @property
    def events(self) -> list[str]:
        return [getattr(r, "event", "") for r in self.records]

    def start(self, state: str = "running") -> WatcherThread:
        self.thread.start()
        deadline = time.time() + 60
        while heartbeat(self.watcher.settings.status_file.parent.parent).get("state") != state:
            assert time.time() < deadline and self.thread.is_alive(), f"watcher did not start: {self.events}"
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 60) -> int:
        self._stopped(timeout)
        assert not self.thread.is_alive(), "the watcher did not stop"
        return self.codes[0]

    def _stopped(self, timeout: float = 60) -> None:
        from artimuse_watcher.logs import LOGGER

        self.watcher.request_stop()
        if self.thread.is_alive():
            self.thread.join(timeout=timeout)
        LOGGER.removeHandler(self.handler)
        self.library.close()


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]):
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def database_url(db: Path) -> str:
    """The library a test's watcher writes: ``ARTIMUSE_DATABASE_URL`` when the test runs on another backend
    (the ``library_backend`` fixture sets it), else the SQLite file ``db``."""
    url = os.environ.get("ARTIMUSE_DATABASE_URL")
    return url if url and not url.startswith("sqlite") else f"sqlite:///{db}"


def exists(db: Path) -> bool:
    """Whether the library has been created (a server's database always exists)."""
    return not database_url(db).startswith("sqlite") or db.exists()


_ENGINES: dict[str, object] = {}


def sql(db: Path, statement: str) -> list[tuple]:
    """The rows of one SQL statement on the library (``database_url``), read as the test's own connection."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    url = database_url(db)
    engine = _ENGINES.get(url) or _ENGINES.setdefault(url, create_engine(url, poolclass=NullPool))
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return [tuple(row) for row in conn.execute(text(statement))]


def _text(path) -> str:
    from artimuse_core.library.tables import path_from_text

    return os.fsdecode(path) if isinstance(path, bytes) else path_from_text(path)


def counts(db: Path) -> dict:
    """What the library holds, per path (as ``os.fsdecode`` gives it): evaluations, errors (and their kinds),
    pending jobs. A database still being created reads as empty."""
    try:
        return _counts(db)
    except Exception as exc:  # sqlite3's or the server's "no such table" while the library is created
        if "no such table" not in str(exc) and "does not exist" not in str(exc):
            raise
        return {"evaluations": {}, "errors": {}, "error_kinds": {}, "jobs": {}, "pending": 0}


def _counts(db: Path) -> dict:
    evaluations: dict[str, int] = {}
    for path, n in sql(
        db, "SELECT i.path, count(*) FROM evaluations e JOIN images i ON i.id = e.image_id GROUP BY i.path"
    ):
        evaluations[_text(path)] = n
    errors: dict[str, int] = {}
    kinds: dict[str, list[str]] = {}
    for path, kind in sql(db, "SELECT path, kind FROM errors ORDER BY id"):
        errors[_text(path)] = errors.get(_text(path), 0) + 1
        kinds.setdefault(_text(path), []).append(kind)
    jobs = {
        _text(path): (status, attempts)
        for path, status, attempts in sql(db, "SELECT path, status, attempts FROM jobs ORDER BY id")
    }
    return {
        "evaluations": evaluations,
        "errors": errors,
        "error_kinds": kinds,
        "jobs": jobs,
        "pending": sql(db, "SELECT count(*) FROM jobs WHERE status = 'pending'")[0][0],
    }


def wait_for(db: Path, good: int, bad: int, timeout: float = 60, cap: float = 900) -> dict:
    """Wait until ``good`` images have evaluations, ``bad`` paths have errors and no job waits; then a
    moment more, so that a duplicate would show.

    The deadline follows measured throughput, not a guess at the machine's speed: it fails when nothing
    moved for ``timeout`` seconds (no new evaluation, error or finished job), or after ``cap`` seconds in
    all, so a loaded machine is slow but never red, and a hung watcher still fails."""
    start = last_move = time.time()
    last = None
    while time.time() - last_move < timeout and time.time() - start < cap:
        if exists(db):
            c = counts(db)
            if len(c["evaluations"]) >= good and len(c["errors"]) >= bad and c["pending"] == 0:
                time.sleep(1.0)  # anything extra (a duplicate) would show up now
                return counts(db)
            progress = (sum(c["evaluations"].values()), sum(c["errors"].values()), c["pending"], len(c["jobs"]))
            if progress != last:
                last, last_move = progress, time.time()
        time.sleep(0.25)
    raise AssertionError(f"timed out (nothing moved for {timeout:g} s): {counts(db) if exists(db) else 'no database'}")


def status_of(home: Path) -> dict:
    """What `artimuse status --json` says for this home."""
    from artimuse_core.library import Library
    from artimuse_watcher.daemon import read_status

    with Library(database_url(home / "library.db")) as library:
        return read_status(library, home / STATUS)


def status_command(home: Path) -> str:
    """What `artimuse status` prints for this home (no colours)."""
    from click.testing import CliRunner

    from artimuse_cli.main import cli

    result = CliRunner().invoke(cli, ["status"], env={"ARTIMUSE_HOME": str(home), "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output
