"""The suite's own hygiene: what a test starts ends with it. A test that fails half-way (its `artimuse watch`
never stopped), a test run that is killed outright (no teardown at all), and the PostgreSQL server of a run
that is killed: none leaves a process behind (tests/processes.py, tests/postgres.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import postgres

pytestmark = pytest.mark.slow  # each starts a test run or a server in a process of its own

REPO = Path(__file__).resolve().parents[1]


def _gone(pid: int, within: float = 30) -> bool:
    """True once ``pid`` no longer runs (a zombie of ours counts as gone)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def _pids(file: Path, count: int, within: float = 60) -> list[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if file.exists() and len(words := file.read_text().split()) >= count:
            return [int(w) for w in words[:count]]
        time.sleep(0.05)
    raise AssertionError(f"the inner run never wrote {count} pids to {file}")


INNER = """
import os, signal, sys, time
from pathlib import Path
from tests import processes
from tests.watching import WatcherProcess

def test_fails_with_its_processes_running(tmp_path):
    home, folder = tmp_path / "home", tmp_path / "watched"
    home.mkdir()
    folder.mkdir()
    watcher = WatcherProcess(home, folder).start()
    group = processes.spawn(["sh", "-c", "sleep 600 & echo $! > {pids}.child; wait"])
    while not Path("{pids}.child").exists():
        time.sleep(0.01)
    Path("{pids}").write_text(f"{{watcher.proc.pid}} {{group.pid}} {{Path('{pids}.child').read_text()}}")
    assert False, "a failure before anything was stopped"
"""


def test_a_test_that_fails_half_way_leaves_no_process_behind(tmp_path):
    """An inner test starts the real `artimuse watch` and a shell with a child of its own, then fails before
    stopping either: when its run ends, all three are gone (the group's grandchild too)."""
    pids = tmp_path / "pids"
    inner = tmp_path / "test_inner.py"
    inner.write_text(INNER.format(pids=pids))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider", str(inner)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "ARTIMUSE_HOME": str(tmp_path / "outer-home")},
    )  # fmt: skip
    assert done.returncode == 1 and "1 failed" in done.stdout, done.stdout + done.stderr
    assert "a failure before anything was stopped" in done.stdout
    started = _pids(pids, 3, within=1)
    survivors = [pid for pid in started if not _gone(pid)]
    assert survivors == [], f"outlived their test: {survivors} of {started}"


KILLED = """
import os, signal, sys
from tests import processes
child = processes.spawn(["sleep", "600"])
print(child.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_test_run_killed_outright_takes_its_children_with_it():
    """SIGKILL leaves no teardown to run: the kernel's parent-death signal ends the child."""
    done = subprocess.run([sys.executable, "-c", KILLED], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    child = int(done.stdout.split()[0])
    assert _gone(child), f"pid {child} outlived the run that started it"


@pytest.mark.skipif(postgres.why_absent() is not None, reason=str(postgres.why_absent()))
def test_the_postgresql_server_of_a_killed_run_stops(tmp_path):
    """`python -m tests.postgres` (the hand tool) killed with SIGKILL: its server shuts down; terminated with
    SIGTERM: it stops the server and removes its folder."""
    for sig in (signal.SIGKILL, signal.SIGTERM):
        tool = subprocess.Popen([sys.executable, "-m", "tests.postgres"], cwd=REPO, stdout=subprocess.PIPE, text=True)
        try:
            url = tool.stdout.readline() if tool.stdout else ""
            assert url.startswith("postgresql+psycopg://"), url
            port = url.rsplit(":", 1)[1].split("/")[0]
            server = [
                int(pid)
                for pid in os.listdir("/proc")
                if pid.isdigit() and f"-p\0{port}\0" in _cmdline(int(pid)) and _cmdline(int(pid)).startswith("/")
            ]
            assert len(server) == 1, server
            folder = Path(_cmdline(server[0]).split("\0")[2]).parent  # postgres -D <folder>/data ...
            tool.send_signal(sig)
            assert tool.wait(timeout=60) == (-signal.SIGKILL if sig == signal.SIGKILL else 0)
            assert _gone(server[0]), f"the server (pid {server[0]}) outlived its run ({sig.name})"
            if sig == signal.SIGTERM:
                assert not folder.exists()
            shutil.rmtree(folder, ignore_errors=True)  # what a SIGKILL leaves: only this folder
        finally:
            if tool.poll() is None:
                tool.kill()
                tool.wait()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""
