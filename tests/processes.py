"""What a test starts never outlives it: child processes in their own process group, ended (the whole group)
when the test that started them ends, passed or failed, and asked by the kernel to die with the test run
itself when that is killed (SIGKILL, a CI time-out) before any teardown can run.

- ``spawn(args, ...)``: ``subprocess.Popen`` in a new session, with ``PR_SET_PDEATHSIG`` (Linux), and
  registered for the teardown of the test that started it (in its body or a function-scoped fixture):
  ``conftest``'s ``pytest_runtest_teardown`` runs it first, before the test's fixtures are torn down (the
  database it writes, the disk it fills). A wider-scoped fixture's processes are its own to end
  (``dies_with_parent`` still covers a run that is killed).
- ``at_teardown(fn)``: any other cleanup (a watcher thread to stop) run at the same moment.
- ``end(proc)``: SIGTERM to its group, then SIGKILL after ``grace`` seconds.

The parent-death signal is sent when the thread that started the child exits: start children from the
test's own (main) thread.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None
_CLEANUPS: list[Callable[[], None]] = []


def dies_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn`` that has the kernel send ``sig`` to the child when its parent dies (nothing where
    there is no ``prctl``); a child whose parent died before that exits at once."""
    parent = os.getpid()

    def arrange() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(1)

    return arrange


def spawn(args: list[str], *, death_signal: int = signal.SIGKILL, **kwargs: Any) -> subprocess.Popen:
    """``subprocess.Popen(args, **kwargs)`` in its own process group, ended with the current test (its whole
    group) and sent ``death_signal`` if the test run dies first."""
    kwargs.setdefault("start_new_session", True)
    proc = subprocess.Popen(args, preexec_fn=dies_with_parent(death_signal), **kwargs)
    at_teardown(lambda: end(proc))
    return proc


def end(proc: subprocess.Popen, grace: float = 10.0) -> int:
    """End ``proc`` and its process group: SIGTERM, then SIGKILL when still there after ``grace`` seconds.
    Returns its exit code (unchanged when it had already ended)."""
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(timeout=30)
    _signal_group(proc, signal.SIGKILL)  # anything it left behind in its group
    return int(proc.returncode)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        group = os.getpgid(proc.pid)
    except ProcessLookupError:  # reaped: its group may still hold children, under the same id
        group = proc.pid
    if group == os.getpgid(0):  # never our own group (a child started without its own session)
        if proc.poll() is None:
            proc.send_signal(sig)
        return
    try:
        os.killpg(group, sig)
    except (ProcessLookupError, PermissionError):
        pass


def at_teardown(cleanup: Callable[[], None]) -> None:
    """Run ``cleanup`` when the current test ends (before its fixtures' teardown, last added first)."""
    _CLEANUPS.append(cleanup)


def mark() -> int:
    return len(_CLEANUPS)


def teardown(since: int) -> list[BaseException]:
    """Run the cleanups added after ``since`` (last first); returns what they raised (each is still run)."""
    raised: list[BaseException] = []
    while len(_CLEANUPS) > since:
        cleanup = _CLEANUPS.pop()
        try:
            cleanup()
        except Exception as exc:  # the others must still run
            raised.append(exc)
    return raised
